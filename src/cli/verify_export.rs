//! `relledger verify-export`: checks an export bundle with no server.

use std::path::PathBuf;

use super::progress;
use crate::audit::import::verify_bundle;

/// Checks an export bundle offline: the hash chain over its records, and the signatures of
/// its checkpoints. Exits non-zero naming the first bad line.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyExportArgs {
    /// The bundle (NDJSON) written by `relledger export`.
    pub file: PathBuf,
    /// The server's public key (64 hex digits, from `relledger key`): only its signatures
    /// count, and the bundle must hold at least one. Without it, the signatures show only that
    /// the bundle is consistent with the key it names.
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
}

/// Runs `relledger verify-export`.
pub async fn verify_export(args: VerifyExportArgs) -> anyhow::Result<()> {
    let trusted = progress::public_key(args.public_key.as_deref())?;
    let summary = tokio::task::spawn_blocking(move || {
        let bar = progress::bar(0, "verified");
        let summary = verify_bundle(&args.file, trusted, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
        summary
    })
    .await??;
    let range = match summary.header.to_position {
        Some(to) => format!("positions {} to {to}", summary.header.from_position),
        None => "no positions".to_string(),
    };
    println!(
        "ok: {} records ({range}) chain to hash {}; {} checkpoints signed by {}",
        summary.records,
        summary.last_hash.to_hex(),
        summary.checkpoints.len(),
        super::verify::signers(&summary.signers)
    );
    match (summary.covered_to, summary.header.to_position) {
        (Some(covered), Some(to)) if covered == to => {
            println!("every record is covered by a signed checkpoint")
        }
        (Some(covered), Some(to)) => println!(
            "records up to position {covered} are covered by a signed checkpoint; positions {} to {to} are not",
            covered + 1
        ),
        (None, Some(_)) => println!("no record is covered by a signed checkpoint"),
        (_, None) => {}
    }
    if trusted.is_none() {
        println!("note: no --public-key given; pin the server's key to trust the signatures");
    }
    Ok(())
}
