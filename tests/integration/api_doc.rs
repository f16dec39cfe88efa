//! docs/api.md's examples, run as written: its shell blocks, in order, in one shell, against
//! a fresh server, each of which must succeed; and every RPC of the server has one.

use relledger::api::access::table::RPCS;
use tokio::process::Command;

use crate::common::TestServer;

/// The doc's ```sh blocks, in order.
fn shell_blocks(doc: &str) -> Vec<&str> {
    doc.split("```sh\n")
        .skip(1)
        .map(|rest| rest.split_once("```").expect("a closed block").0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_the_api_doc_runs_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    for rpc in RPCS {
        assert!(
            doc.contains(&format!("{}\"", rpc.path)) || doc.contains(&format!("{} ", rpc.path)),
            "docs/api.md has no example of {}",
            rpc.path
        );
    }

    let blocks = shell_blocks(&doc);
    assert!(blocks.len() > RPCS.len(), "{} blocks", blocks.len());
    // Each block is announced, so that a failure names the one that failed; `set -e` stops
    // at the first command that fails.
    let mut script = String::from("set -euo pipefail\n");
    for (i, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '--- block {i}' >&2\n{block}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let ran = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(root)
        .env("RELLEDGER", format!("http://{}", server.address))
        .output()
        .await
        .expect("run bash");
    let (out, err) = (
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr),
    );
    assert!(ran.status.success(), "docs/api.md failed:\n{err}\n{out}");
    // What they did shows: the three events, the key forgotten, a verified chain.
    assert!(out.contains("\"lastRevision\": \"2\""), "{out}");
    assert!(out.contains("\"ok\": true"), "{out}");
    let mut server = server;
    assert_eq!(server.read_all().await.len(), 4);
    server.stop().await;
}
