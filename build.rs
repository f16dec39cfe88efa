//! Compiles the wire contract in `proto/` into Rust, plus the descriptor set that server
//! reflection serves and the serde impls (proto3 JSON mapping) that the CLI reads and prints.
//! protoc comes from the `protoc-bin-vendored` crate, so a fresh machine needs no system protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build reads PROTOC; setting it here affects only this build script's process.
    std::env::set_var("PROTOC", protoc);

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("relledger_descriptor.bin");
    let protos = glob_protos("proto/relledger/v1")?;

    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        // Well-known types come from pbjson-types so that they, too, have JSON serde impls.
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        // Maps as BTreeMap, as the domain keeps them: a read moves an event's metadata onto
        // the wire instead of rehashing it into a HashMap (SipHash per key, on the server and
        // again in every Rust client), and the map's entries come out in key order.
        .btree_map(".")
        .compile_protos(&protos, &["proto".into()])?;

    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .btree_map(["."])
        .build(&[".relledger.v1"])?;

    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

/// Every `.proto` file of the v1 package, sorted so that builds are reproducible.
fn glob_protos(dir: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut protos: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();
    Ok(protos)
}
