//! `relledger verify`: checks a stopped server's data dir offline.

use std::path::PathBuf;

use super::progress;
use crate::audit::offline::verify_data_dir;

/// Recomputes the whole hash chain of a data dir from the stored bytes and checks every signed
/// checkpoint in it. Exits non-zero naming the first bad position.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The data dir of a stopped server.
    #[arg(long, env = "RELLEDGER_DATA_DIR", default_value = "./relledger-data")]
    pub data_dir: PathBuf,
}

/// Runs `relledger verify`.
pub async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let report = tokio::task::spawn_blocking(move || {
        let bar = progress::bar(0, "verified");
        let report = verify_data_dir(&args.data_dir, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
        report
    })
    .await??;
    if let Some(brk) = &report.broken {
        anyhow::bail!(
            "{brk} ({} records verified before it)",
            report.records_checked
        );
    }
    if let Some((position, reason)) = &report.bad_checkpoint {
        anyhow::bail!("the signed checkpoint at position {position} does not hold: {reason}");
    }
    println!(
        "ok: {} records verified (head hash {}); {} signed checkpoints verified, by {}",
        report.records_checked,
        report.head.last_hash.to_hex(),
        report.checkpoints,
        signers(&report.signers)
    );
    Ok(())
}

/// The signing keys, for a report line.
pub(super) fn signers(keys: &std::collections::BTreeSet<String>) -> String {
    if keys.is_empty() {
        "no key".to_string()
    } else {
        keys.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
