//! The stored form of a record, version 1, and the hash that chains records together.
//!
//! The log stores each record as one value:
//!
//! ```text
//! [0x01 envelope version][32 bytes prev_hash][32 bytes hash][canonical bytes]
//! ```
//!
//! The canonical bytes are the JSON of a private `StoredRecordV1` (`v`, `position`,
//! `account_id`, `revision`, `recorded_at`, `event`, in that order). The domain types' serde
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

/// The `v` field of the canonical body: the version of the record's JSON form.
pub const RECORD_V1: u8 = 1;

/// Envelope version, `prev_hash` and `hash`.
const HEADER_LEN: usize = 1 + 32 + 32;

/// The canonical body of a record, version 1. Field order is part of the format. The event is
/// a [`ProposedEvent`], or its JSON already written ([`SerializedEvent`]): `serde_json` writes
/// a nested value exactly as it writes it alone, so both give the same bytes.
#[derive(Serialize)]
struct StoredRecordV1<'a, E: Serialize + ?Sized> {
    v: u8,
    position: u64,
    account_id: &'a AccountId,
    revision: u64,
    recorded_at: Timestamp,
    event: &'a E,
}

mod fast;

/// The owned twin of [`StoredRecordV1`], for decoding.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecodedRecordV1 {
    v: u8,
    position: u64,
    account_id: AccountId,
    revision: u64,
    recorded_at: Timestamp,
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
    position: u64,
    account: &AccountId,
    revision: u64,
    recorded_at: Timestamp,
    event: &E,
) -> Vec<u8> {
    to_json(&StoredRecordV1 {
        v: RECORD_V1,
        position,
        account_id: account,
        revision,
        recorded_at,
        event,
    })
}

/// The canonical bytes of `record`: what its hash covers after `prev_hash`.
pub fn canonical_bytes(record: &RecordedEvent) -> Vec<u8> {
    body_bytes(
        record.position,
        &record.account_id,
        record.revision,
        record.recorded_at,
        &record.event,
    )
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
pub fn content_digest(event: &ProposedEvent) -> [u8; 32] {
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
    position: u64,
    account: &AccountId,
    revision: u64,
    recorded_at: Timestamp,
    event: ProposedEvent,
    prev_hash: ChainHash,
) -> (RecordedEvent, Vec<u8>) {
    let event = SerializedEvent::new(event);
    seal_serialized(position, account, revision, recorded_at, event, prev_hash)
}

/// [`seal`] of an event serialized beforehand (the sled writer's way: see [`SerializedEvent`]).
pub fn seal_serialized(
    position: u64,
    account: &AccountId,
    revision: u64,
    recorded_at: Timestamp,
    event: SerializedEvent,
    prev_hash: ChainHash,
) -> (RecordedEvent, Vec<u8>) {
    let body = body_bytes(position, account, revision, recorded_at, &*event.json);
    let hash = compute_hash(&prev_hash, &body);
    let value = envelope(&prev_hash, &hash, &body);
    let record = RecordedEvent {
        position,
        account_id: account.clone(),
        revision,
        recorded_at,
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
    if decoded.v != RECORD_V1 {
        return Err(format!("unknown record version {}", decoded.v));
    }
    Ok(RecordedEvent {
        position: decoded.position,
        account_id: decoded.account_id,
        revision: decoded.revision,
        recorded_at: decoded.recorded_at,
        event: decoded.event,
        prev_hash,
        hash,
    })
}

/// The record in a body: by the decoder of the canonical layout (`fast`), which every body
/// the log writes takes, or by `serde_json` when that one does not recognise the bytes (it
/// answers nothing rather than guess), so what is accepted, and how it decodes, stays
/// `serde_json`'s.
fn decode_body(body: &str) -> Result<DecodedRecordV1, String> {
    match fast::decode_body(body) {
        Some(decoded) => Ok(decoded),
        None => serde_json::from_str(body).map_err(|e| format!("its body does not decode: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::{EventId, EventPayload, Visit};

    fn golden_record() -> (RecordedEvent, Vec<u8>) {
        let event = ProposedEvent {
            event_id: EventId::parse("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11").unwrap(),
            occurred_at: Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
            actor: "li.wei".to_string(),
            metadata: BTreeMap::from([
                ("correlation_id".to_string(), "req-42".to_string()),
                ("causation_id".to_string(), "cmd-7".to_string()),
            ]),
            payload: EventPayload::Visit(Visit {
                contact_ids: vec!["c1".to_string(), "c2".to_string()],
                purpose: "deliver the test report".to_string(),
                summary: "budget approved for Q3".to_string(),
                next_visit_on: Some(Timestamp::from_unix_nanos(1_700_600_000_000_000_000)),
                next_visit_pretext: "factory tour".to_string(),
            }),
        };
        seal(
            7,
            &AccountId::parse("acme-01").unwrap(),
            3,
            Timestamp::from_unix_nanos(1_700_000_100_000_000_000),
            event,
            ChainHash([0xab; 32]),
        )
    }

    /// Pins the stored format: if this fails, the domain's serde form changed, and old logs
    /// would no longer verify. Add a new record version instead of editing these strings.
    #[test]
    fn golden_canonical_bytes_and_hash() {
        let (record, value) = golden_record();
        let canonical = String::from_utf8(canonical_bytes(&record)).unwrap();
        assert_eq!(
            canonical,
            concat!(
                r#"{"v":1,"position":7,"account_id":"acme-01","revision":3,"#,
                r#""recorded_at":1700000100000000000,"event":{"#,
                r#""event_id":"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11","#,
                r#""occurred_at":1700000000123456789,"actor":"li.wei","#,
                r#""metadata":{"causation_id":"cmd-7","correlation_id":"req-42"},"#,
                r#""payload":{"visit":{"contact_ids":["c1","c2"],"#,
                r#""purpose":"deliver the test report","summary":"budget approved for Q3","#,
                r#""next_visit_on":1700600000000000000,"next_visit_pretext":"factory tour"}}}}"#,
            )
        );
        assert_eq!(record.hash.to_hex(), GOLDEN_HASH);
        assert_eq!(value[0], ENVELOPE_V1);
        assert_eq!(&value[1..33], &[0xab; 32]);
        assert_eq!(hex::encode(&value[33..65]), GOLDEN_HASH);
        assert_eq!(&value[65..], canonical.as_bytes());
    }

    const GOLDEN_HASH: &str = "1b68cafda6e3d524b2b6909bd8c47c8378c939cba018b87d3bc2da1e6fceaf0a";

    #[test]
    fn a_sealed_record_decodes_to_itself() {
        let (record, value) = golden_record();
        assert_eq!(decode_record(&value), Ok(record.clone()));
        assert_eq!(decode_record_at(7, &value), Ok(record.clone()));
        assert_eq!(encode_record(&record), value);
        assert_eq!(
            compute_hash(&record.prev_hash, &canonical_bytes(&record)),
            record.hash
        );
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let (_, value) = golden_record();
        for i in 0..value.len() {
            let mut flipped = value.clone();
            flipped[i] ^= 0x01;
            match decode_record_at(7, &flipped) {
                Err(StoreError::Corrupt(reason)) => {
                    assert!(reason.contains("position 7"), "byte {i}: {reason}")
                }
                other => panic!("byte {i}: a flipped byte was not detected: {other:?}"),
            }
        }
    }

    #[test]
    fn a_flipped_body_byte_names_the_claimed_position() {
        let (_, mut value) = golden_record();
        let at = value.windows(7).position(|w| w == b"factory").unwrap();
        value[at] = b'F';
        let Err(StoreError::Corrupt(reason)) = decode_record(&value) else {
            panic!("not detected");
        };
        assert!(
            reason.contains("position 7") && reason.contains("hash"),
            "{reason}"
        );
    }

    #[test]
    fn a_record_under_the_wrong_key_is_refused() {
        let (_, value) = golden_record();
        assert!(matches!(
            decode_record_at(8, &value),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn unknown_versions_and_short_values_are_refused() {
        let (_, mut value) = golden_record();
        assert!(matches!(
            decode_record(&value[..40]),
            Err(StoreError::Corrupt(_))
        ));
        value[0] = 2;
        let Err(StoreError::Corrupt(reason)) = decode_record(&value) else {
            panic!("not detected");
        };
        assert!(reason.contains("envelope version 2"), "{reason}");
    }

    #[test]
    fn content_digest_tells_content_apart() {
        let (record, _) = golden_record();
        let mut other = record.event.clone();
        assert_eq!(content_digest(&record.event), content_digest(&other));
        other.actor.push('x');
        assert_ne!(content_digest(&record.event), content_digest(&other));
    }
}
