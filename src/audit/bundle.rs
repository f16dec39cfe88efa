//! The export bundle: NDJSON that verifies itself, with no server and no relledger code.
//!
//! One JSON object per line, each with a `type`:
//!
//! - line 1, `header`: `format` (`"relledger-export"`), `version` (1), `from_position`,
//!   `to_position` (inclusive; `null` when the bundle holds no record), `record_count`,
//!   `prev_hash` (hex: the hash the first record links to; 64 zeros from position 0) and
//!   `exported_at` (ns since the Unix epoch);
//! - `record`, one per record in position order: `position`, `account_id`, `revision`,
//!   `recorded_at` (ns), `prev_hash` and `hash` (hex), and `canonical`, the record's canonical
//!   bytes as a JSON string (they are UTF-8 JSON, so the string holds them exactly):
//!   `hash = SHA-256(prev_hash || UTF-8 bytes of canonical)`;
//! - `checkpoint`, right after the record it signs: `position`, `hash`, `signed_at` (ns),
//!   `public_key` and `signature` (hex): an Ed25519 signature over the 72-byte message of
//!   [`checkpoint_message`](super::checkpoint_message).
//!
//! [`BundleVerifier`] checks a bundle line by line in constant memory (bar the list of
//! checkpoints) and names the first bad line; [`BundleWriter`] runs it over every line it
//! writes, so an export that completes is one that verifies.
//!
//! The lines are defined here; the verifier is in `verifier`, the writer in `writer`.

mod verifier;
mod writer;

use serde::{Deserialize, Serialize};

pub use self::verifier::{BundleError, BundleSummary, BundleVerifier};
pub use self::writer::BundleWriter;
use crate::domain::{ChainHash, Timestamp};
use crate::store::codec::ENVELOPE_V1;
use crate::store::file::MAX_BODY;
use crate::store::SignedCheckpoint;

/// The `format` of a bundle header.
pub const BUNDLE_FORMAT: &str = "relledger-export";
/// The `version` of the bundle layout described above.
pub const BUNDLE_VERSION: u32 = 1;

/// The longest line a reader of a bundle takes, in bytes, without its newline. The longest line
/// an export writes is a record whose stored value is the largest a frame holds
/// ([`MAX_BODY`]): its canonical bytes are JSON without control characters, so as a JSON string
/// each byte takes at most two (`"` and `\` are escaped), and the other fields are short. A
/// longer line cannot come from an export, and reading it whole would let a file of one endless
/// line take all the memory there is.
pub const MAX_LINE_BYTES: usize = 2 * MAX_BODY + 64 * 1024;

/// One line of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BundleLine {
    /// The first line.
    Header(Header),
    /// A record.
    Record(RecordLine),
    /// A signed checkpoint of the record before it.
    Checkpoint(CheckpointLine),
}

/// The first line of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// The layout's version, [`BUNDLE_VERSION`].
    pub version: u32,
    /// The position of the first record.
    pub from_position: u64,
    /// The position of the last record, inclusive; `None` when there is none.
    pub to_position: Option<u64>,
    /// How many records follow.
    pub record_count: u64,
    /// The hash the first record links to, hex.
    pub prev_hash: String,
    /// When the bundle was written (ns since the Unix epoch).
    pub exported_at: i64,
}

/// A record line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLine {
    /// Its position in the global log.
    pub position: u64,
    /// Its account.
    pub account_id: String,
    /// Its revision in the account's stream.
    pub revision: u64,
    /// When the ledger recorded it (ns since the Unix epoch).
    pub recorded_at: i64,
    /// The hash of the record before it, hex.
    pub prev_hash: String,
    /// Its hash, hex.
    pub hash: String,
    /// Its canonical bytes (UTF-8 JSON) as a string.
    pub canonical: String,
}

/// A checkpoint line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointLine {
    /// The position of the signed record.
    pub position: u64,
    /// Its hash, hex.
    pub hash: String,
    /// When it was signed (ns since the Unix epoch).
    pub signed_at: i64,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The Ed25519 signature, hex.
    pub signature: String,
    /// The principal that asked for the checkpoint, when one did (it is in the signed message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl From<&SignedCheckpoint> for CheckpointLine {
    fn from(c: &SignedCheckpoint) -> Self {
        CheckpointLine {
            position: c.position,
            hash: c.hash.to_hex(),
            signed_at: c.signed_at.unix_nanos(),
            public_key: hex::encode(c.public_key),
            signature: hex::encode(c.signature),
            requested_by: c.requested_by.clone(),
        }
    }
}

impl CheckpointLine {
    /// The checkpoint this line carries.
    pub fn to_checkpoint(&self) -> Result<SignedCheckpoint, String> {
        Ok(SignedCheckpoint {
            position: self.position,
            hash: parse_hash(&self.hash, "hash")?,
            signed_at: Timestamp::from_unix_nanos(self.signed_at),
            public_key: parse_hex(&self.public_key, "public_key")?,
            signature: parse_hex(&self.signature, "signature")?,
            requested_by: self.requested_by.clone(),
        })
    }
}

impl RecordLine {
    /// The line of `record`, whose canonical bytes as stored are `canonical`.
    pub fn new(
        record: &crate::domain::RecordedEvent,
        canonical: &[u8],
    ) -> Result<RecordLine, String> {
        let canonical = String::from_utf8(canonical.to_vec()).map_err(|_| {
            format!(
                "the canonical bytes of position {} are not UTF-8",
                record.position
            )
        })?;
        Ok(RecordLine {
            position: record.position,
            account_id: record.account_id.to_string(),
            revision: record.revision,
            recorded_at: record.recorded_at.unix_nanos(),
            prev_hash: record.prev_hash.to_hex(),
            hash: record.hash.to_hex(),
            canonical,
        })
    }

    /// The stored value this line stands for: envelope, hashes and canonical bytes.
    pub fn stored_value(&self) -> Result<Vec<u8>, String> {
        let prev = parse_hash(&self.prev_hash, "prev_hash")?;
        let hash = parse_hash(&self.hash, "hash")?;
        let mut value = Vec::with_capacity(65 + self.canonical.len());
        value.push(ENVELOPE_V1);
        value.extend_from_slice(&prev.0);
        value.extend_from_slice(&hash.0);
        value.extend_from_slice(self.canonical.as_bytes());
        Ok(value)
    }
}

fn parse_hex<const N: usize>(text: &str, field: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("its {field} is not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("its {field} is {} bytes, not {N}", b.len()))
}

fn parse_hash(text: &str, field: &str) -> Result<ChainHash, String> {
    parse_hex(text, field).map(ChainHash)
}

#[cfg(test)]
mod tests;
