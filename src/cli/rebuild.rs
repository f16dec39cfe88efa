//! `relledger rebuild`: recomputes every account's live projection from position 0.
//!
//! An operator command on a stopped server's data dir (the dir lock refuses it while a server
//! runs). It forgets the projector's checkpoint and projects the whole log again, showing a
//! progress bar on a terminal, and reports how many events it projected and how fast. The
//! server does the same by itself when its scoring rules change; this is for an operator who
//! wants it now, or wants to measure it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::domain::projection::Params;
use crate::read::projector::Projector;
use crate::store::{FileLog, Log, SnapshotStore};

/// Arguments of `relledger rebuild`.
#[derive(Debug, Clone, clap::Args)]
pub struct RebuildArgs {
    /// The data dir of a stopped server.
    #[arg(long, env = "RELLEDGER_DATA_DIR", default_value = "./relledger-data")]
    pub data_dir: PathBuf,
}

/// Rebuilds the projections of the log in `args.data_dir` and prints what it did.
pub async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let log = Arc::new(FileLog::open(&args.data_dir)?);
    let snapshots = Arc::new(log.snapshots()?);
    snapshots.clear().await?;
    let projector = Projector::open(log.clone(), snapshots.clone(), Params::default()).await?;

    let total = log.head().next_position;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = projector.progress();
    let follow = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while progress.changed().await.is_ok() {
                let reflected = *progress.borrow();
                bar.set_position(reflected.map_or(0, |p| p + 1));
            }
        })
    };

    let started = Instant::now();
    let projected = projector.catch_up().await?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    drop(projector);
    follow.await?;
    let accounts = snapshots.summaries().await?.len();
    let rate = if seconds > 0.0 {
        projected as f64 / seconds
    } else {
        projected as f64
    };
    println!(
        "rebuilt the projections of {accounts} accounts from {projected} events in {seconds:.2} s ({rate:.0} events/s)"
    );
    Ok(())
}
