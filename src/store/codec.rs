//! The stored form of a record, versions 1 and 2, and the hash that chains records together.
//!
//! The log stores each record as one value:
//!
//! ```text
//! [0x01 envelope version][32 bytes prev_hash][32 bytes hash][canonical bytes]
//! ```
//!
//! The canonical bytes are the JSON of a private `StoredRecord` (`v`, `position`,
//! `account_id`, `revision`, `recorded_at`, `recorded_by`, `event`, in that order). Version 1
//! has no `recorded_by`: it is what a server without authentication writes, and what every
//! record was before principals existed. Version 2 names the principal that appended the
//! record, so the hash covers who wrote it. The domain types' serde
//! derives are deterministic (struct fields in declaration order, metadata in a `BTreeMap`, no
//! floats), so the same record always encodes to the same bytes, and anyone holding a record can
//! recompute its hash: `hash = SHA-256(prev_hash || canonical bytes)`, with
//! [`ChainHash::GENESIS`] (32 zero bytes) as the `prev_hash` of position 0.
//!
//! The domain knows nothing of this format: it lives here, versioned, so that a change to the
//! domain's serde form shows up as a failing golden test below instead of as unreadable old data.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::domain::{AccountId, ChainHash, ProposedEvent, RecordedEvent, Timestamp};

/// The first byte of every stored record value: the layout of the envelope around the body.
pub const ENVELOPE_V1: u8 = 0x01;

/// The `v` field of a canonical body without `recorded_by`.
pub const RECORD_V1: u8 = 1;
/// The `v` field of a canonical body with `recorded_by`.
pub const RECORD_V2: u8 = 2;

/// Envelope version, `prev_hash` and `hash`.
const HEADER_LEN: usize = 1 + 32 + 32;

/// The canonical body of a record: version 1 without `recorded_by`, version 2 with it. Field
/// order is part of the format. The event is a [`ProposedEvent`], or its JSON already written
/// ([`SerializedEvent`]): `serde_json` writes a nested value exactly as it writes it alone, so
/// both give the same bytes.
#[derive(Serialize)]
struct StoredRecord<'a, E: Serialize + ?Sized> {
    v: u8,
    position: u64,
    account_id: &'a AccountId,
    revision: u64,
    recorded_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded_by: Option<&'a str>,
    event: &'a E,
}

mod fast;

/// The owned twin of [`StoredRecord`], for decoding.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecodedRecord {
    v: u8,
    position: u64,
    account_id: AccountId,
    revision: u64,
    recorded_at: Timestamp,
    #[serde(default)]
    recorded_by: Option<String>,
    event: ProposedEvent,
}

/// Just the position of a body, to name a record whose hash does not check.
#[derive(Deserialize)]
struct PositionOnly {
    position: u64,
}

/// JSON of a value whose serde form cannot fail: the record types hold only strings, integers,
/// string-keyed maps and enums, so `serde_json` has no error to report for them.
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("record types always serialize to JSON")
}

fn body_bytes<E: Serialize + ?Sized>(
    place: &Place<'_>,
    recorded_at: Timestamp,
    event: &E,
) -> Vec<u8> {
    to_json(&StoredRecord {
        v: if place.recorded_by.is_some() {
            RECORD_V2
        } else {
            RECORD_V1
        },
        position: place.position,
        account_id: place.account,
        revision: place.revision,
        recorded_at,
        recorded_by: place.recorded_by,
        event,
    })
}

/// Where a record goes in the log, and who appended it.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Its global position.
    pub position: u64,
    /// Its account.
    pub account: &'a AccountId,
    /// Its revision in the account's stream.
    pub revision: u64,
    /// The principal that appended it; `None` without authentication.
    pub recorded_by: Option<&'a str>,
}

/// The canonical bytes of `record`: what its hash covers after `prev_hash`.
pub fn canonical_bytes(record: &RecordedEvent) -> Vec<u8> {
    let place = Place {
        position: record.position,
        account: &record.account_id,
        revision: record.revision,
        recorded_by: record.recorded_by.as_deref(),
    };
    body_bytes(&place, record.recorded_at, &record.event)
}

/// `SHA-256(prev || canonical)`: the hash of a record whose canonical bytes are `canonical`.
pub fn compute_hash(prev: &ChainHash, canonical: &[u8]) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(prev.0);
    hasher.update(canonical);
    ChainHash(hasher.finalize().into())
}

/// The digest that tells a retry from a reuse of an id: SHA-256 of the event's JSON. Two
/// proposals with the same id and the same digest are the same event sent twice.
///
/// It is stored for ever in the event-id index, so it must not let anyone recover personal
/// data (a SHA-256 of a phone number is brute-forced in minutes). It does not: the ledger
/// passes only sealed events here, whose personal fields are ciphertext under a synthetic
/// nonce (`privacy::cipher`), both keyed by the contact's data key. The digest is therefore a
/// keyed function of the plaintext, useless without the key, and once the key is destroyed it
/// is as dead as the ciphertext. Sealing is deterministic, so a retry still digests equal.
///
/// The trace's ids in its metadata (`correlation_id`, `causation_id`) are left out: they say
/// which request appended the event, so a retry sent in another trace is still the same
/// event (docs/decisions/0024).
pub fn content_digest(event: &ProposedEvent) -> [u8; 32] {
    if event.is_traced() {
        return Sha256::digest(to_json(&event.untraced())).into();
    }
    Sha256::digest(to_json(event)).into()
}

/// An event with its JSON written once: the JSON is what its [`content_digest`] covers and,
/// verbatim, the `event` of its canonical body. The sled writer seals every record on its one
/// thread; an append serializes its events on its own task instead ([`SerializedEvent::new`]),
/// and the writer splices the JSON in, where it used to serialize each event twice.
pub struct SerializedEvent {
    event: ProposedEvent,
    json: Box<serde_json::value::RawValue>,
}

impl SerializedEvent {
    pub fn new(event: ProposedEvent) -> SerializedEvent {
        let json =
            serde_json::value::to_raw_value(&event).expect("record types always serialize to JSON");
        SerializedEvent { event, json }
    }

    /// [`content_digest`] of the event, from its JSON.
    pub fn digest(&self) -> [u8; 32] {
        if self.event.is_traced() {
            return content_digest(&self.event);
        }
        Sha256::digest(self.json.get().as_bytes()).into()
    }
}

impl std::borrow::Borrow<ProposedEvent> for SerializedEvent {
    fn borrow(&self) -> &ProposedEvent {
        &self.event
    }
}

/// The stored value of an already sealed `record`.
pub fn encode_record(record: &RecordedEvent) -> Vec<u8> {
    envelope(&record.prev_hash, &record.hash, &canonical_bytes(record))
}

fn envelope(prev_hash: &ChainHash, hash: &ChainHash, body: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER_LEN + body.len());
    value.push(ENVELOPE_V1);
    value.extend_from_slice(&prev_hash.0);
    value.extend_from_slice(&hash.0);
    value.extend_from_slice(body);
    value
}

/// Gives `event` its place in the log and links it to `prev_hash`: returns the record and its
/// stored value, hashing the canonical bytes once.
pub fn seal(
    place: Place<'_>,
    recorded_at: Timestamp,
    event: ProposedEvent,
    prev_hash: ChainHash,
) -> (RecordedEvent, Vec<u8>) {
    let event = SerializedEvent::new(event);
    seal_serialized(place, recorded_at, event, prev_hash)
}

/// [`seal`] of an event serialized beforehand (the sled writer's way: see [`SerializedEvent`]).
pub fn seal_serialized(
    place: Place<'_>,
    recorded_at: Timestamp,
    event: SerializedEvent,
    prev_hash: ChainHash,
) -> (RecordedEvent, Vec<u8>) {
    let body = body_bytes(&place, recorded_at, &*event.json);
    let hash = compute_hash(&prev_hash, &body);
    let value = envelope(&prev_hash, &hash, &body);
    let record = RecordedEvent {
        position: place.position,
        account_id: place.account.clone(),
        revision: place.revision,
        recorded_at,
        recorded_by: place.recorded_by.map(str::to_string),
        event: event.event,
        prev_hash,
        hash,
    };
    (record, value)
}

/// Decodes a stored value, checking its envelope version, its record version and that its hash
/// recomputes from its `prev_hash` and body. Every failure is [`StoreError::Corrupt`], naming
/// the position the body claims when it can be read.
pub fn decode_record(bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    decode(bytes, Hash::Recompute).map_err(|reason| {
        let claimed = bytes.get(HEADER_LEN..).and_then(|body| {
            serde_json::from_slice::<PositionOnly>(body)
                .ok()
                .map(|p| p.position)
        });
        match claimed {
            Some(position) => {
                StoreError::Corrupt(format!("the record at position {position}: {reason}"))
            }
            None => StoreError::Corrupt(format!("a record of unknown position: {reason}")),
        }
    })
}

/// The canonical bytes of a stored value (what its hash covers after `prev_hash`): the value
/// past its envelope header, or nothing if the value is shorter than the header (which
/// [`decode_record`] reports as damage).
pub fn canonical_part(bytes: &[u8]) -> &[u8] {
    bytes.get(HEADER_LEN..).unwrap_or_default()
}

/// Decodes the value stored under `position`, as [`decode_record`] does, and checks that the
/// record says it is at `position`. Errors name `position`, which the storage key tells even
/// when the body is unreadable.
pub fn decode_record_at(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    decode_at(position, bytes, Hash::Recompute)
}

/// [`decode_record_at`] without recomputing the record's hash, for bytes whose integrity a
/// checksum of the storage has just checked (the record file's frames: see
/// `store::file::records`). The hash's recomputation guards against damage, which the
/// checksum already rules out, not against tampering (whoever rewrites a record can rewrite
/// its stored hash too: the chain, verified by the audit, is what catches that), and it is the
/// largest single cost of decoding a record on the read path.
pub fn decode_checked_record_at(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    decode_at(position, bytes, Hash::Trust)
}

/// Whether decoding recomputes the stored hash.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    Recompute,
    Trust,
}

fn decode_at(position: u64, bytes: &[u8], hash: Hash) -> Result<RecordedEvent, StoreError> {
    let corrupt = |reason: String| {
        StoreError::Corrupt(format!("the record at position {position}: {reason}"))
    };
    let record = decode(bytes, hash).map_err(corrupt)?;
    if record.position != position {
        return Err(corrupt(format!(
            "it says it is at position {}",
            record.position
        )));
    }
    Ok(record)
}

fn decode(bytes: &[u8], check: Hash) -> Result<RecordedEvent, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "its value is {} bytes, shorter than the envelope",
            bytes.len()
        ));
    }
    if bytes[0] != ENVELOPE_V1 {
        return Err(format!("unknown envelope version {}", bytes[0]));
    }
    let prev_hash = ChainHash(bytes[1..33].try_into().expect("32 bytes"));
    let hash = ChainHash(bytes[33..65].try_into().expect("32 bytes"));
    let body = &bytes[HEADER_LEN..];
    let recomputed = match check {
        Hash::Recompute => compute_hash(&prev_hash, body),
        Hash::Trust => hash,
    };
    if recomputed != hash {
        return Err(format!(
            "its stored hash {} does not match its recomputed hash {}",
            hash.to_hex(),
            recomputed.to_hex()
        ));
    }
    // One UTF-8 check of the whole body (fast over ASCII), then a parse that trusts it, rather
    // than a check of every string on its own: the same bytes are accepted either way.
    let body = std::str::from_utf8(body).map_err(|e| format!("its body is not UTF-8: {e}"))?;
    let decoded = decode_body(body)?;
    // Each version has exactly its own fields, so a body has one canonical form.
    match (decoded.v, &decoded.recorded_by) {
        (RECORD_V1, None) | (RECORD_V2, Some(_)) => {}
        (RECORD_V1, Some(_)) => return Err("a version 1 record names a recorder".to_string()),
        (RECORD_V2, None) => return Err("a version 2 record names no recorder".to_string()),
        (v, _) => return Err(format!("unknown record version {v}")),
    }
    Ok(RecordedEvent {
        position: decoded.position,
        account_id: decoded.account_id,
        revision: decoded.revision,
        recorded_at: decoded.recorded_at,
        recorded_by: decoded.recorded_by,
        event: decoded.event,
        prev_hash,
        hash,
    })
}

/// The record in a body: by the decoder of the canonical layout (`fast`), which every body
/// the log writes takes, or by `serde_json` when that one does not recognise the bytes (it
/// answers nothing rather than guess), so what is accepted, and how it decodes, stays
/// `serde_json`'s.
fn decode_body(body: &str) -> Result<DecodedRecord, String> {
    match fast::decode_body(body) {
        Some(decoded) => Ok(decoded),
        None => serde_json::from_str(body).map_err(|e| format!("its body does not decode: {e}")),
    }
}

#[cfg(test)]
mod tests;
