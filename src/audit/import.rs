//! Restoring a bundle into an empty data dir.
//!
//! The bundle is read twice: first verified whole (chain, signatures, and the trusted key when
//! one is given), so that a bundle that does not verify writes nothing; then its records are
//! restored byte for byte by `store::file::restore`, which checks them again as it writes. The
//! restored log has the same positions, `recorded_at` and hashes, so its projections are the
//! same, and its signed checkpoints come along (still verifiable with the exporting server's
//! key). A server started on it signs its own checkpoints from then on with a new key.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read as _};
use std::path::Path;

use anyhow::{bail, Context as _};
use ed25519_dalek::VerifyingKey;

use super::bundle::{BundleLine, BundleSummary, BundleVerifier, MAX_LINE_BYTES};
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
    let mut lines = BundleLines::new(BufReader::new(file), MAX_LINE_BYTES);
    while let Some(line) = lines.next_line() {
        let line = line.with_context(|| format!("cannot read line {}", lines.number))?;
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
    let mut lines = BundleLines::new(BufReader::new(file), MAX_LINE_BYTES);
    let values = std::iter::from_fn(move || lines.next_line()).filter_map(|line| {
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

/// The lines of a bundle, each at most `max` bytes: a longer one is an error, found before
/// more than `max` bytes of it are held, where `BufRead::lines` would gather a line of any
/// length (a file that is one endless line) in memory before anything could judge it.
pub(crate) struct BundleLines<R> {
    reader: R,
    max: usize,
    /// The 1-based number of the line read last, or being read.
    pub(crate) number: usize,
    /// Set after an error: nothing is read past it.
    failed: bool,
}

impl<R: BufRead> BundleLines<R> {
    pub(crate) fn new(reader: R, max: usize) -> Self {
        BundleLines {
            reader,
            max,
            number: 0,
            failed: false,
        }
    }

    /// The next line without its line ending (`\n` or `\r\n`, as `BufRead::lines` takes
    /// them), `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> Option<io::Result<String>> {
        if self.failed {
            return None;
        }
        let line = self.read();
        self.failed = line.is_err();
        line.transpose()
    }

    fn read(&mut self) -> io::Result<Option<String>> {
        let mut bytes = Vec::new();
        self.number += 1;
        // Two bytes past the limit, so that a line of exactly `max` bytes and its line ending
        // are told from a longer line; `max` is far below `u64::MAX`, so the sum cannot overflow.
        let limit = self.max as u64 + 2;
        if (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut bytes)?
            == 0
        {
            return Ok(None);
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.len() > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {} is longer than {} bytes, more than any line of an export",
                    self.number, self.max
                ),
            ));
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}
