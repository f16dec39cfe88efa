//! What the tools do with a stopped server's data dir: verify its whole chain, and export a
//! range of it as a bundle.
//!
//! Both open the log, so they take the dir's lock: with the server running they are refused
//! (`relledger export --server` exports from a running server instead). Neither creates a log
//! where there is none.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use super::bundle::{BundleSummary, BundleWriter, RecordLine};
use super::verify::{self, Anchor};
use super::{verify_checkpoint_signature, Audit, AuditConfig, AuditOpenError, ReplayItem};
use crate::domain::ChainHash;
use crate::store::file::MANIFEST_FILE;
use crate::store::{ChainBreak, FileLog, Log, LogHead, SignedCheckpointStore};

/// How many records an export reads at a time.
const PAGE: u64 = 1024;

/// What `relledger verify` found in a data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirReport {
    /// The head of the log.
    pub head: LogHead,
    /// How many records verified before the first break (all when there is none).
    pub records_checked: u64,
    /// The first break of the chain.
    pub broken: Option<ChainBreak>,
    /// How many signed checkpoints the dir holds.
    pub checkpoints: u64,
    /// The first checkpoint that does not hold: its position and why.
    pub bad_checkpoint: Option<(u64, String)>,
    /// The keys that signed the checkpoints, hex.
    pub signers: BTreeSet<String>,
}

impl DataDirReport {
    /// True when the chain and every checkpoint verified.
    pub fn ok(&self) -> bool {
        self.broken.is_none() && self.bad_checkpoint.is_none()
    }
}

/// Opens the log of `dir`, refusing a dir that holds none.
fn open_existing(dir: &Path) -> anyhow::Result<FileLog> {
    if !dir.join(MANIFEST_FILE).exists() {
        bail!(
            "{} is not a relledger data dir (it has no {MANIFEST_FILE})",
            dir.display()
        );
    }
    FileLog::open(dir).with_context(|| {
        "cannot open the data dir (a running server holds its lock: stop it, or use --server)"
    })
}

/// Verifies every record of the log in `dir` from the stored bytes, and every signed
/// checkpoint (its signature, and that the record it names has its hash). `progress` gets the
/// records checked so far and the total.
pub fn verify_data_dir(
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<DataDirReport> {
    let log = open_existing(dir)?;
    let head = log.head();
    let total = head.next_position;
    let report = verify::verify_stored(
        &log,
        Anchor::GENESIS,
        total,
        &mut |done| progress(done, total),
        &AtomicBool::new(false),
    );
    let mut checkpoints = 0;
    let mut bad_checkpoint = None;
    let mut signers = BTreeSet::new();
    for checkpoint in log.signed_checkpoints()?.range(0, u64::MAX) {
        let checkpoint = checkpoint?;
        checkpoints += 1;
        signers.insert(hex::encode(checkpoint.public_key));
        let problem = match verify_checkpoint_signature(&checkpoint) {
            Err(reason) => Some(reason),
            Ok(()) => match verify::stored_hash(&log, checkpoint.position) {
                Some(hash) if hash == checkpoint.hash => None,
                Some(hash) => Some(format!(
                    "it signs the hash {}, but the record there has {}",
                    checkpoint.hash.to_hex(),
                    hash.to_hex()
                )),
                None => Some("the record it signs is missing".to_string()),
            },
        };
        if let (Some(reason), None) = (problem, &bad_checkpoint) {
            bad_checkpoint = Some((checkpoint.position, reason));
        }
    }
    Ok(DataDirReport {
        head,
        records_checked: report.records_checked,
        broken: report.broken,
        checkpoints,
        bad_checkpoint,
        signers,
    })
}

/// Writes the records `from..=to` (`to`: the head) of the log in `dir` as a bundle to `out`,
/// with every stored checkpoint among them. The last record is signed first if no checkpoint
/// of this dir's key covers it, so the whole range is covered by a signature. `progress` gets
/// the records written so far and the total.
pub fn export_data_dir(
    dir: &Path,
    out: impl Write,
    from: u64,
    to: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<BundleSummary> {
    let log = open_existing(dir)?;
    let checkpoints = Arc::new(log.signed_checkpoints().map_err(AuditOpenError::from)?);
    let audit = Audit::open(
        Arc::new(log.clone()),
        checkpoints,
        dir,
        AuditConfig::default(),
    )?;
    let end = audit.range_end(from, to)?;
    let total = end - from;
    if total > 0 {
        audit.sign_blocking(Some(end - 1), None)?;
    }
    let prev_hash = match from {
        0 => ChainHash::GENESIS,
        _ => verify::stored_hash(&log, from - 1)
            .with_context(|| format!("the record at position {} is missing", from - 1))?,
    };
    let mut writer = BundleWriter::start(out, from, total, prev_hash, crate::clock::now())?;
    let mut next = from;
    while next < end {
        let page_end = end.min(next + PAGE);
        for item in audit.replay_page(next, page_end)? {
            match item {
                ReplayItem::Record { record, canonical } => writer
                    .record(RecordLine::new(&record, &canonical).map_err(anyhow::Error::msg)?)?,
                ReplayItem::Checkpoint(checkpoint) => writer.checkpoint(&checkpoint)?,
            }
        }
        next = page_end;
        progress(writer.records(), total);
    }
    writer.finish()
}
