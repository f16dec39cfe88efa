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

use std::collections::BTreeSet;
use std::io::Write;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::checkpoint::verify_checkpoint_signature;
use crate::domain::{ChainHash, Timestamp};
use crate::store::codec::{decode_record_at, ENVELOPE_V1};
use crate::store::SignedCheckpoint;

/// The `format` of a bundle header.
pub const BUNDLE_FORMAT: &str = "relledger-export";
/// The `version` of the bundle layout described above.
pub const BUNDLE_VERSION: u32 = 1;

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
}

impl From<&SignedCheckpoint> for CheckpointLine {
    fn from(c: &SignedCheckpoint) -> Self {
        CheckpointLine {
            position: c.position,
            hash: c.hash.to_hex(),
            signed_at: c.signed_at.unix_nanos(),
            public_key: hex::encode(c.public_key),
            signature: hex::encode(c.signature),
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

/// A bundle line that does not verify: the 1-based line number and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct BundleError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// What a verified bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// Its header.
    pub header: Header,
    /// Its records.
    pub records: u64,
    /// The hash of its last record (the header's `prev_hash` when it has none).
    pub last_hash: ChainHash,
    /// Its checkpoints, in order.
    pub checkpoints: Vec<SignedCheckpoint>,
    /// The last position covered by a checkpoint of the trusted key (of any key, when no key
    /// is trusted): every record up to it is fixed by that signature.
    pub covered_to: Option<u64>,
    /// The keys that signed its checkpoints, hex.
    pub signers: BTreeSet<String>,
}

/// Checks a bundle line by line (see the module docs).
#[derive(Debug)]
pub struct BundleVerifier {
    /// The key an auditor trusts; `None`: any key that signs consistently.
    trusted: Option<VerifyingKey>,
    /// Lines seen so far.
    line: usize,
    /// The header, once read.
    header: Option<Header>,
    /// The position the next record must have.
    next_position: u64,
    /// The hash the next record must link to.
    prev_hash: ChainHash,
    /// The last record's position and hash, which a checkpoint must sign.
    last_record: Option<(u64, ChainHash)>,
    /// Records seen.
    records: u64,
    /// Checkpoints seen.
    checkpoints: Vec<SignedCheckpoint>,
    /// See [`BundleSummary::covered_to`].
    covered_to: Option<u64>,
    /// See [`BundleSummary::signers`].
    signers: BTreeSet<String>,
}

impl BundleVerifier {
    /// A verifier trusting `trusted` (any consistent key when `None`).
    pub fn new(trusted: Option<VerifyingKey>) -> Self {
        BundleVerifier {
            trusted,
            line: 0,
            header: None,
            next_position: 0,
            prev_hash: ChainHash::GENESIS,
            last_record: None,
            records: 0,
            checkpoints: Vec::new(),
            covered_to: None,
            signers: BTreeSet::new(),
        }
    }

    /// The header, once the first line is read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Records verified so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Checks the next line; returns it parsed.
    pub fn push_line(&mut self, text: &str) -> Result<BundleLine, BundleError> {
        self.line += 1;
        let line = self.line;
        let bad = |reason: String| BundleError { line, reason };
        let parsed: BundleLine =
            serde_json::from_str(text).map_err(|e| bad(format!("it is not a bundle line: {e}")))?;
        match (&parsed, &self.header) {
            (BundleLine::Header(header), None) => {
                if header.format != BUNDLE_FORMAT || header.version != BUNDLE_VERSION {
                    return Err(bad(format!(
                        "it is {} version {}, and this verifier reads {BUNDLE_FORMAT} version {BUNDLE_VERSION}",
                        header.format, header.version
                    )));
                }
                self.prev_hash = parse_hash(&header.prev_hash, "prev_hash").map_err(bad)?;
                self.next_position = header.from_position;
                self.header = Some(header.clone());
            }
            (_, None) => return Err(bad("the first line must be the header".to_string())),
            (BundleLine::Header(_), Some(_)) => {
                return Err(bad("a second header".to_string()));
            }
            (BundleLine::Record(record), Some(_)) => self.record(record).map_err(bad)?,
            (BundleLine::Checkpoint(checkpoint), Some(_)) => {
                self.checkpoint(checkpoint).map_err(bad)?
            }
        }
        Ok(parsed)
    }

    fn record(&mut self, line: &RecordLine) -> Result<(), String> {
        let expected = self.next_position;
        if line.position != expected {
            return Err(format!(
                "the record at position {expected} is missing or out of place: this line holds position {}",
                line.position
            ));
        }
        let value = line.stored_value()?;
        if value[1..33] != self.prev_hash.0 {
            return Err(format!(
                "the record at position {expected}: its prev_hash {} is not the hash {} of the record before",
                line.prev_hash,
                self.prev_hash.to_hex()
            ));
        }
        let record = decode_record_at(expected, &value).map_err(|e| e.to_string())?;
        if record.account_id.as_str() != line.account_id
            || record.revision != line.revision
            || record.recorded_at.unix_nanos() != line.recorded_at
        {
            return Err(format!(
                "the record at position {expected}: its account_id, revision or recorded_at \
                 disagree with its canonical bytes"
            ));
        }
        self.prev_hash = record.hash;
        self.last_record = Some((expected, record.hash));
        self.next_position += 1;
        self.records += 1;
        Ok(())
    }

    fn checkpoint(&mut self, line: &CheckpointLine) -> Result<(), String> {
        let checkpoint = line.to_checkpoint()?;
        let position = checkpoint.position;
        match self.last_record {
            Some((at, hash)) if at == position && hash == checkpoint.hash => {}
            Some((at, _)) if at == position => {
                return Err(format!(
                    "the checkpoint at position {position} signs the hash {}, not the record's",
                    line.hash
                ))
            }
            _ => {
                return Err(format!(
                    "the checkpoint at position {position} does not follow the record it signs"
                ))
            }
        }
        verify_checkpoint_signature(&checkpoint)
            .map_err(|reason| format!("the checkpoint at position {position}: {reason}"))?;
        let trusted = self
            .trusted
            .is_none_or(|key| key.to_bytes() == checkpoint.public_key);
        if trusted {
            self.covered_to = Some(position);
        }
        self.signers.insert(line.public_key.clone());
        self.checkpoints.push(checkpoint);
        Ok(())
    }

    /// Ends the bundle: checks that it held every record its header promised and, with a
    /// trusted key, at least one checkpoint of that key.
    pub fn finish(self) -> Result<BundleSummary, BundleError> {
        let bad = |reason: String| BundleError {
            line: self.line,
            reason,
        };
        let Some(header) = self.header.clone() else {
            return Err(bad("the bundle is empty: it has no header".to_string()));
        };
        if self.records != header.record_count
            || self.last_record.map(|(p, _)| p) != header.to_position
        {
            return Err(bad(format!(
                "the bundle ends after {} records, but its header promises {} (to position {:?}): \
                 it was cut short",
                self.records, header.record_count, header.to_position
            )));
        }
        if let Some(key) = self.trusted {
            if self.records > 0 && self.covered_to.is_none() {
                return Err(bad(format!(
                    "no checkpoint in the bundle is signed by the key {}",
                    hex::encode(key.as_bytes())
                )));
            }
        }
        Ok(BundleSummary {
            header,
            records: self.records,
            last_hash: self.prev_hash,
            checkpoints: self.checkpoints,
            covered_to: self.covered_to,
            signers: self.signers,
        })
    }
}

/// Writes a bundle, verifying each line as it goes.
pub struct BundleWriter<W: Write> {
    /// Where the lines go.
    out: W,
    /// The same checks an auditor runs, over what is written.
    verifier: BundleVerifier,
}

impl<W: Write> BundleWriter<W> {
    /// Starts a bundle of `record_count` records from `from_position` (linking to `prev_hash`).
    pub fn start(
        mut out: W,
        from_position: u64,
        record_count: u64,
        prev_hash: ChainHash,
        exported_at: Timestamp,
    ) -> anyhow::Result<BundleWriter<W>> {
        let header = BundleLine::Header(Header {
            format: BUNDLE_FORMAT.to_string(),
            version: BUNDLE_VERSION,
            from_position,
            to_position: record_count.checked_sub(1).map(|n| from_position + n),
            record_count,
            prev_hash: prev_hash.to_hex(),
            exported_at: exported_at.unix_nanos(),
        });
        let mut verifier = BundleVerifier::new(None);
        write_line(&mut out, &mut verifier, &header)?;
        Ok(BundleWriter { out, verifier })
    }

    /// Writes a record line.
    pub fn record(&mut self, record: RecordLine) -> anyhow::Result<()> {
        write_line(
            &mut self.out,
            &mut self.verifier,
            &BundleLine::Record(record),
        )
    }

    /// Writes a checkpoint line; it must follow the record it signs.
    pub fn checkpoint(&mut self, checkpoint: &SignedCheckpoint) -> anyhow::Result<()> {
        let line = BundleLine::Checkpoint(checkpoint.into());
        write_line(&mut self.out, &mut self.verifier, &line)
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.verifier.records()
    }

    /// Flushes the output and checks the bundle is complete.
    pub fn finish(mut self) -> anyhow::Result<BundleSummary> {
        self.out.flush()?;
        Ok(self.verifier.finish()?)
    }
}

fn write_line(
    out: &mut impl Write,
    verifier: &mut BundleVerifier,
    line: &BundleLine,
) -> anyhow::Result<()> {
    let text = serde_json::to_string(line)?;
    verifier.push_line(&text)?;
    writeln!(out, "{text}")?;
    Ok(())
}
