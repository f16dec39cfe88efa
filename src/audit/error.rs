//! What the audit layer answers when it cannot do what it is asked: [`AuditError`] for a
//! request, [`AuditOpenError`] for a data dir it refuses to start on. Kept apart from `Audit`,
//! which returns them, because their readers are elsewhere (`api::status`, the server's start).

use std::path::PathBuf;

use super::KeyError;
use crate::store::{ChainBreak, StoreError};

/// What can go wrong in an audit request. The variant docs say which status each becomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The log holds no record to sign (`FAILED_PRECONDITION`).
    #[error("the log is empty: there is no record to sign")]
    EmptyLog,
    /// A position past the end of the log (`OUT_OF_RANGE`).
    #[error("{field} is {position}, but the log holds {record_count} records (positions 0 to {record_count} exclusive)")]
    PastHead {
        /// The request field.
        field: &'static str,
        /// The position asked for.
        position: u64,
        /// How many records the log holds.
        record_count: u64,
    },
    /// A range that ends before it starts (`INVALID_ARGUMENT`).
    #[error("to_position {to} is before from_position {from}")]
    BackwardsRange {
        /// The first position.
        from: u64,
        /// The last position.
        to: u64,
    },
    /// The chain does not verify up to a position to sign (`DATA_LOSS`).
    #[error("nothing was signed: {0}")]
    Broken(ChainBreak),
    /// The log failed (as the store's errors map).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the audit layer refused to start on a data dir.
#[derive(Debug, thiserror::Error)]
pub enum AuditOpenError {
    /// The signing key is unreadable, malformed or exposed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The chain since the newest signed checkpoint does not verify.
    #[error(
        "data dir {} is corrupt: {brk}; `relledger verify --data-dir {}` gives the full report",
        dir.display(),
        dir.display()
    )]
    Broken {
        /// The data dir.
        dir: PathBuf,
        /// Where and why.
        brk: ChainBreak,
    },
    /// The signed checkpoints could not be read.
    #[error("cannot read the signed checkpoints: {0}")]
    Store(#[from] StoreError),
}
