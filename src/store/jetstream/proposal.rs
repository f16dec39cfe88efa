//! What one message of the stream holds: an append as a replica proposed it, before the
//! replicas decide it. JSON, versioned, so that a message written by one release is read by
//! the next; the events are the log's own `ProposedEvent`s, personal fields already sealed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{AccountId, ProposedEvent};
use crate::store::{ExpectedRevision, StoreError};

/// The subject of `account`'s stream under `prefix` (the log's, see
/// `JetStreamOptions::subjects`). Account ids may hold `.`, which separates a subject's tokens,
/// so the id is written in hex: one token, whatever the id.
pub(super) fn subject_of(prefix: &str, account: &AccountId) -> String {
    format!("{prefix}.{}", hex::encode(account.as_str()))
}

/// The expected revision as a message carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Expected {
    Any,
    NoStream,
    StreamExists,
    Exact(u64),
}

impl From<ExpectedRevision> for Expected {
    fn from(expected: ExpectedRevision) -> Self {
        match expected {
            ExpectedRevision::Any => Expected::Any,
            ExpectedRevision::NoStream => Expected::NoStream,
            ExpectedRevision::StreamExists => Expected::StreamExists,
            ExpectedRevision::Exact(r) => Expected::Exact(r),
        }
    }
}

impl From<Expected> for ExpectedRevision {
    fn from(expected: Expected) -> Self {
        match expected {
            Expected::Any => ExpectedRevision::Any,
            Expected::NoStream => ExpectedRevision::NoStream,
            Expected::StreamExists => ExpectedRevision::StreamExists,
            Expected::Exact(r) => ExpectedRevision::Exact(r),
        }
    }
}

/// The format version every message starts its JSON with.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Wire {
    version: u32,
    account: AccountId,
    expected: Expected,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recorded_by: Option<String>,
    events: Vec<ProposedEvent>,
}

/// An append as proposed: decided by every replica in the stream's order, as the embedded
/// log decides an append (idempotency first, then the expected revision).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Proposal {
    pub account: AccountId,
    pub expected: ExpectedRevision,
    pub recorded_by: Option<String>,
    pub events: Vec<ProposedEvent>,
}

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&Wire {
            version: VERSION,
            account: self.account.clone(),
            expected: self.expected.into(),
            recorded_by: self.recorded_by.clone(),
            events: self.events.clone(),
        })
        .expect("a proposal always serializes to JSON")
    }

    /// The proposal in `payload`; a message that is not one (written by something else than
    /// a relledger replica) is refused the same way by every replica.
    pub fn decode(payload: &[u8]) -> Result<Proposal, StoreError> {
        let wire: Wire = serde_json::from_slice(payload).map_err(|e| {
            StoreError::Corrupt(format!("a message of the stream is not an append: {e}"))
        })?;
        if wire.version != VERSION {
            return Err(StoreError::Corrupt(format!(
                "a message of the stream has format version {}, this release reads {VERSION}",
                wire.version
            )));
        }
        if wire.events.is_empty() {
            return Err(StoreError::Corrupt(
                "a message of the stream proposes no event".to_string(),
            ));
        }
        Ok(Proposal {
            account: wire.account,
            expected: wire.expected.into(),
            recorded_by: wire.recorded_by,
            events: wire.events,
        })
    }

    /// The message id JetStream deduplicates on: the first event's id, then a digest of the
    /// whole proposal and `attempt`. A resent publish of the same proposal is one message; the
    /// same events with another expected revision are another proposal, so that one refused
    /// proposal does not make its retry a duplicate of the refusal.
    pub fn message_id(&self, payload: &[u8], attempt: u32) -> String {
        let digest = Sha256::digest(payload);
        format!(
            "{}-{}-{attempt}",
            self.events[0].event_id,
            hex::encode(&digest[..12])
        )
    }
}
