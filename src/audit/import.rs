//! Restoring a bundle into an empty data dir.
//!
//! The bundle is read twice: first verified whole (chain, signatures, and the trusted key when
//! one is given), so that a bundle that does not verify writes nothing; then its records are
//! restored byte for byte by `store::file::restore`, which checks them again as it writes. The
//! restored log has the same positions, `recorded_at` and hashes, so its projections are the
//! same, and its signed checkpoints come along (still verifiable with the exporting server's
//! key). A server started on it signs its own checkpoints from then on with a new key.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context as _};
use ed25519_dalek::VerifyingKey;

use super::bundle::{BundleLine, BundleSummary, BundleVerifier};
use crate::store::file::restore;
use crate::store::LogHead;

/// Verifies the bundle at `path` line by line; `progress` gets records verified and the total.
pub fn verify_bundle(
    path: &Path,
    trusted: Option<VerifyingKey>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<BundleSummary> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut verifier = BundleVerifier::new(trusted);
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", index + 1))?;
        verifier.push_line(&line)?;
        let done = verifier.records();
        if done.is_multiple_of(1024) {
            let total = verifier.header().map_or(0, |h| h.record_count);
            progress(done, total);
        }
    }
    let summary = verifier.finish()?;
    progress(summary.records, summary.records);
    Ok(summary)
}

/// Restores the bundle at `path` into the empty data dir `dir`, refusing one that does not
/// verify (with `trusted`, one that no checkpoint of that key signs) or that does not start
/// at position 0. `progress` gets records restored and the total.
pub fn import_bundle(
    dir: &Path,
    path: &Path,
    trusted: Option<VerifyingKey>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<(BundleSummary, LogHead)> {
    let summary = verify_bundle(path, trusted, &mut |_, _| {})?;
    if summary.header.from_position != 0 {
        bail!(
            "the bundle starts at position {}: only a bundle from position 0 restores a log",
            summary.header.from_position
        );
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let values = BufReader::new(file).lines().filter_map(|line| {
        let line = match line {
            Ok(line) => line,
            Err(error) => return Some(Err(error.to_string())),
        };
        match serde_json::from_str::<BundleLine>(&line) {
            Ok(BundleLine::Record(record)) => Some(record.stored_value()),
            Ok(_) => None,
            Err(error) => Some(Err(error.to_string())),
        }
    });
    let total = summary.records;
    let head = restore(dir, values, &summary.checkpoints, &mut |done| {
        progress(done, total)
    })?;
    Ok((summary, head))
}
