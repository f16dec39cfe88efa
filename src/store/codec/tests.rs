use std::collections::BTreeMap;

use super::*;
use crate::domain::{EventId, EventPayload, Visit};

mod hostile;

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
    sealed_by(event, None)
}

fn sealed_by(event: ProposedEvent, recorded_by: Option<&str>) -> (RecordedEvent, Vec<u8>) {
    let account = AccountId::parse("acme-01").unwrap();
    let place = Place {
        position: 7,
        account: &account,
        revision: 3,
        recorded_by,
    };
    seal(
        place,
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

/// Pins version 2: the principal that appended the record sits between `recorded_at` and
/// the event, and the hash covers it.
#[test]
fn golden_canonical_bytes_of_a_record_with_its_recorder() {
    let (v1, _) = golden_record();
    let (record, value) = sealed_by(v1.event.clone(), Some("etl"));
    let canonical = String::from_utf8(canonical_bytes(&record)).unwrap();
    let v1_canonical = String::from_utf8(canonical_bytes(&v1)).unwrap();
    assert_eq!(
        canonical,
        v1_canonical
            .replacen(r#"{"v":1,"#, r#"{"v":2,"#, 1)
            .replacen(r#","event":"#, r#","recorded_by":"etl","event":"#, 1)
    );
    assert_eq!(record.recorded_by.as_deref(), Some("etl"));
    assert_ne!(record.hash, v1.hash, "the recorder is inside the hash");
    assert_eq!(decode_record(&value), Ok(record.clone()));
    assert_eq!(encode_record(&record), value);

    // Each version has exactly its own fields.
    let without = canonical.replacen(r#","recorded_by":"etl""#, "", 1);
    let with_v1 = canonical.replacen(r#"{"v":2,"#, r#"{"v":1,"#, 1);
    for (body, expected) in [
        (without, "names no recorder"),
        (with_v1, "a version 1 record names"),
    ] {
        let hash = compute_hash(&ChainHash([0xab; 32]), body.as_bytes());
        let value = envelope(&ChainHash([0xab; 32]), &hash, body.as_bytes());
        let Err(StoreError::Corrupt(reason)) = decode_record(&value) else {
            panic!("{body} decoded");
        };
        assert!(reason.contains(expected), "{reason}");
    }
}

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

#[test]
fn content_digest_leaves_out_the_trace_that_appended_the_event() {
    let (record, _) = golden_record();
    let mut traced = record.event.clone();
    traced.metadata.insert(
        crate::domain::CORRELATION_ID.into(),
        "4bf92f3577b34da6a3ce929d0e0e4736".into(),
    );
    traced.metadata.insert(
        crate::domain::CAUSATION_ID.into(),
        "00f067aa0ba902b7".into(),
    );
    assert_eq!(content_digest(&record.event), content_digest(&traced));
    assert_eq!(
        super::SerializedEvent::new(traced.clone()).digest(),
        content_digest(&record.event)
    );
    // Any other metadata is the event's.
    traced.metadata.insert("tenant".into(), "north".into());
    assert_ne!(content_digest(&record.event), content_digest(&traced));
}
