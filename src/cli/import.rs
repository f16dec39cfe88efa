//! `relledger import`: restores an export bundle into an empty data dir.

use std::path::PathBuf;

use super::progress;
use crate::audit::import::import_bundle;

/// Restores a full export bundle (from position 0) into an empty data dir, refusing one whose
/// chain or signatures do not verify. The restored log has the same records and hashes.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The empty data dir to restore into (created if missing).
    #[arg(long, env = "RELLEDGER_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The bundle (NDJSON) written by `relledger export`.
    pub file: PathBuf,
    /// Refuse the bundle unless a checkpoint signed by this key (64 hex digits) is in it.
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
}

/// Runs `relledger import`.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let trusted = progress::public_key(args.public_key.as_deref())?;
    let (summary, head) = tokio::task::spawn_blocking(move || {
        let bar = progress::bar(0, "restored");
        let restored = import_bundle(&args.data_dir, &args.file, trusted, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
        restored
    })
    .await??;
    eprintln!(
        "imported {} records and {} signed checkpoints (head hash {})",
        head.next_position,
        summary.checkpoints.len(),
        head.last_hash.to_hex()
    );
    Ok(())
}
