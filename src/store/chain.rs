//! Verification of the hash chain over a run of records.
//!
//! Each record's hash covers the hash before it (see [`codec`](super::codec)), so a run of
//! records verifies when its positions are consecutive, each `prev_hash` is the hash of the
//! record before, and each hash recomputes from the record's canonical bytes. A changed,
//! removed or reordered record breaks the chain at the first position it touches.

use super::codec::{canonical_bytes, compute_hash};
use crate::domain::{ChainHash, RecordedEvent};

/// Where and why a run of records does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the hash chain breaks at position {position}: {reason}")]
pub struct ChainBreak {
    /// The position of the first record that does not verify.
    pub position: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks records one at a time, so that a caller reading a long log in pages (or as a
/// stream) never holds it whole.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    /// The position the next record must have; `None` until the first record when the start
    /// is not pinned.
    next_position: Option<u64>,
    /// The `prev_hash` the next record must have.
    prev_hash: ChainHash,
    /// Records verified so far.
    count: u64,
}

impl ChainVerifier {
    /// A verifier whose first record must link to `expected_first_prev`. When that is
    /// [`ChainHash::GENESIS`], the first record must also be at position 0: only the first
    /// record of a log links to the genesis hash.
    pub fn new(expected_first_prev: ChainHash) -> Self {
        let next_position = (expected_first_prev == ChainHash::GENESIS).then_some(0);
        ChainVerifier {
            next_position,
            prev_hash: expected_first_prev,
            count: 0,
        }
    }

    /// A verifier whose first record must be at `position` and link to `prev_hash`.
    pub fn starting_at(position: u64, prev_hash: ChainHash) -> Self {
        ChainVerifier {
            next_position: Some(position),
            prev_hash,
            count: 0,
        }
    }

    /// Checks the next record of the run.
    pub fn push(&mut self, record: &RecordedEvent) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak {
            position: record.position,
            reason,
        };
        if let Some(expected) = self.next_position {
            if record.position != expected {
                return Err(ChainBreak {
                    position: expected,
                    reason: format!("the next record is at position {}", record.position),
                });
            }
        }
        if record.prev_hash != self.prev_hash {
            return Err(brk(format!(
                "its prev_hash {} is not the previous hash {}",
                record.prev_hash.to_hex(),
                self.prev_hash.to_hex()
            )));
        }
        let recomputed = compute_hash(&record.prev_hash, &canonical_bytes(record));
        if recomputed != record.hash {
            return Err(brk(format!(
                "its hash {} does not recompute (got {})",
                record.hash.to_hex(),
                recomputed.to_hex()
            )));
        }
        self.next_position = Some(record.position + 1);
        self.prev_hash = record.hash;
        self.count += 1;
        Ok(())
    }

    /// Records verified so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The hash of the last record verified (the starting `prev_hash` before any).
    pub fn last_hash(&self) -> ChainHash {
        self.prev_hash
    }
}

/// Verifies a run of records whose first links to `expected_first_prev` (see
/// [`ChainVerifier::new`]); returns how many records it checked.
pub fn verify_chain(
    records: impl IntoIterator<Item = RecordedEvent>,
    expected_first_prev: ChainHash,
) -> Result<u64, ChainBreak> {
    let mut verifier = ChainVerifier::new(expected_first_prev);
    for record in records {
        verifier.push(&record)?;
    }
    Ok(verifier.count())
}

#[cfg(test)]
mod tests;
