//! [`BundleVerifier`]: the checks of a bundle, line by line, that an auditor runs on an export
//! and [`BundleWriter`](super::BundleWriter) on every line it writes.

use std::collections::BTreeSet;

use ed25519_dalek::VerifyingKey;

use super::{
    parse_hash, BundleLine, CheckpointLine, Header, RecordLine, BUNDLE_FORMAT, BUNDLE_VERSION,
};
use crate::audit::checkpoint::verify_checkpoint_signature;
use crate::domain::ChainHash;
use crate::store::codec::decode_record_at;
use crate::store::SignedCheckpoint;

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

/// Checks a bundle line by line (see the [bundle's docs](super)).
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
        // A log's next position is a `u64` too, so no log holds a record at `u64::MAX`; a bundle
        // that claims one is refused here, before the position after it overflows.
        let Some(after) = expected.checked_add(1) else {
            return Err(format!(
                "the record at position {expected} is past the last position a log can hold"
            ));
        };
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
        self.next_position = after;
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
