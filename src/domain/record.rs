//! An event as the log recorded it: its place in the account's stream and in the global log,
//! and its link in the hash chain.

use serde::{Deserialize, Serialize};

use super::event::ProposedEvent;
use super::ids::AccountId;
use super::time::Timestamp;

/// A SHA-256 digest in the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The `prev_hash` of the record at position 0.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The digest as lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

/// An event with its place in the log.
///
/// Serde is for the projection state's checkpoints (`projection::AccountState`); the log
/// writes records in its own versioned format (`store::codec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// 0-based, gapless position in the global log.
    pub position: u64,
    /// The account whose stream holds it.
    pub account_id: AccountId,
    /// 0-based revision within the account's stream.
    pub revision: u64,
    /// When the ledger recorded it (system time).
    pub recorded_at: Timestamp,
    /// Who the server authenticated as appending it (the principal's name): set by the
    /// server, never by the client, unlike the event's `actor`. `None` on a server without
    /// authentication.
    pub recorded_by: Option<String>,
    /// The event as proposed.
    pub event: ProposedEvent,
    /// The hash of the record before it ([`ChainHash::GENESIS`] at position 0).
    pub prev_hash: ChainHash,
    /// SHA-256(prev_hash || canonical bytes of this record).
    pub hash: ChainHash,
}
