//! Recomputing the hash chain from the bytes on disk.
//!
//! The check reads each stored value as it is (not a re-encoding of the decoded record) and
//! requires, for every position of the range in turn: a value stored under it (none missing),
//! an envelope and body that decode, a body that says it is at that position (nothing moved),
//! a hash that recomputes from the stored `prev_hash` and body (nothing changed), and a
//! `prev_hash` equal to the hash before it (nothing dropped, inserted or reordered).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::domain::ChainHash;
use crate::store::codec::decode_record_at;
use crate::store::{ChainBreak, Log};

/// How often (in records) a long check reports progress and looks at its stop flag.
const STRIDE: u64 = 1024;

/// What a chain check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// How many records verified before the first break (all of them when there is none).
    pub records_checked: u64,
    /// The hash of the last record verified (the starting `prev_hash` before any).
    pub last_hash: ChainHash,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
    /// True when the check was stopped before the end of the range.
    pub stopped: bool,
}

impl ChainReport {
    /// The break as an error, or the hash of the last record verified.
    pub fn into_result(self) -> Result<ChainHash, ChainBreak> {
        match self.broken {
            Some(broken) => Err(broken),
            None => Ok(self.last_hash),
        }
    }
}

/// Where a check starts: the position, and the hash the record there must link to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The first position to check.
    pub position: u64,
    /// The hash of the record before it ([`ChainHash::GENESIS`] for position 0).
    pub prev_hash: ChainHash,
}

impl Anchor {
    /// The start of the log.
    pub const GENESIS: Anchor = Anchor {
        position: 0,
        prev_hash: ChainHash::GENESIS,
    };
}

/// Verifies the committed records `anchor.position..to` of `log` (blocking), calling
/// `progress` with the count checked so far every 1,024 records and at the end, and
/// giving up early when `stop` is set.
pub fn verify_stored(
    log: &dyn Log,
    anchor: Anchor,
    to: u64,
    progress: &mut dyn FnMut(u64),
    stop: &AtomicBool,
) -> ChainReport {
    let mut report = ChainReport {
        records_checked: 0,
        last_hash: anchor.prev_hash,
        broken: None,
        stopped: false,
    };
    let mut expected = anchor.position;
    let mut stored = log.stored_records(anchor.position, to);
    while expected < to {
        if report.records_checked.is_multiple_of(STRIDE) && report.records_checked > 0 {
            progress(report.records_checked);
            if stop.load(Ordering::Relaxed) {
                report.stopped = true;
                return report;
            }
        }
        let brk = |reason: String| ChainBreak {
            position: expected,
            reason,
        };
        let (at, value) = match stored.next() {
            None => {
                report.broken = Some(brk("the record is missing".to_string()));
                return report;
            }
            Some(Err(error)) => {
                report.broken = Some(brk(error.to_string()));
                return report;
            }
            Some(Ok(entry)) => entry,
        };
        if at != expected {
            report.broken = Some(brk(format!(
                "the record is missing (the next stored record is at position {at})"
            )));
            return report;
        }
        let record = match decode_record_at(at, &value) {
            Ok(record) => record,
            Err(error) => {
                report.broken = Some(brk(error.to_string()));
                return report;
            }
        };
        if record.prev_hash != report.last_hash {
            report.broken = Some(brk(format!(
                "its prev_hash {} is not the hash {} of the record before",
                record.prev_hash.to_hex(),
                report.last_hash.to_hex()
            )));
            return report;
        }
        report.last_hash = record.hash;
        report.records_checked += 1;
        expected += 1;
    }
    progress(report.records_checked);
    report
}

/// The stored hash of the record at `position`, read from its envelope without decoding the
/// body (blocking); `None` when there is no such record or its value is too short.
pub fn stored_hash(log: &dyn Log, position: u64) -> Option<ChainHash> {
    let (at, value) = log.stored_records(position, position + 1).next()?.ok()?;
    let hash = value.get(33..65)?;
    (at == position).then(|| ChainHash(hash.try_into().expect("32 bytes")))
}
