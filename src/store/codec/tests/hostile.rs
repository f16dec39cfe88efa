//! Hostile stored values: arbitrary bytes, and valid records edited byte by byte (non-UTF-8
//! included), with fields swapped, numbers made huge, and sealed fields' hex resized. Every
//! decoder (the checked one, the one that trusts the storage's checksum, and the read path's
//! `fast` one) answers a record or an error, never a panic; and whatever is accepted decodes as
//! `serde_json` decodes it.
//!
//! No decoder here allocates from a length read in the input: the envelope's header is fixed,
//! and every string, list, map or hex value is built from bytes that are present, so what one
//! decode allocates is bounded by the input's size (`fast::Cursor::string` sizes its buffer
//! from the bytes it has scanned; `serde_json` reads no length prefix).

use proptest::prelude::*;

use super::*;
use crate::domain::{
    ContactAdded, ContactRole, Money, OrderWon, PersonalText, SealedText, Timestamp as T,
};
use crate::hostile_input::{byte_edit, index, replace_number, ByteEdit};
use crate::store::codec::fast;

/// Valid stored values of a few kinds: a visit, a contact with sealed fields and an actor with
/// escapes, an order at the last position with the optional amount absent.
fn values() -> Vec<Vec<u8>> {
    let (_, visit) = golden_record();
    let account = AccountId::parse("acme-01").unwrap();
    let event = |payload| ProposedEvent {
        event_id: EventId::parse("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d12").unwrap(),
        occurred_at: T::from_unix_nanos(-5),
        actor: "a \"quoted\"\n\u{1} \u{4e2d} actor".to_string(),
        metadata: BTreeMap::from([("k".to_string(), "\\".to_string())]),
        payload,
    };
    let contact = EventPayload::ContactAdded(ContactAdded {
        contact_id: "c1".to_string(),
        name: PersonalText::Sealed(SealedText {
            nonce: [0x5a; 24],
            ciphertext: vec![1, 2, 3, 0xff],
        }),
        role: ContactRole::DecisionMaker,
        title: String::new(),
        phone: PersonalText::Plain("tea".to_string()),
        email: PersonalText::Plain(String::new()),
        public_official: true,
        notes: PersonalText::Sealed(SealedText {
            nonce: [0; 24],
            ciphertext: Vec::new(),
        }),
    });
    let order = EventPayload::OrderWon(OrderWon {
        order_id: "o-1".to_string(),
        revenue: Money {
            currency: "CNY".to_string(),
            minor_units: i64::MIN,
        },
        margin: None,
        product: "pumps".to_string(),
        description: String::new(),
    });
    let mut all = vec![visit];
    for (position, payload) in [(0, contact), (u64::MAX, order)] {
        let place = Place {
            position,
            account: &account,
            revision: u64::MAX,
            recorded_by: (position == 0).then_some("etl"),
        };
        let (_, value) = seal(
            place,
            T::from_unix_nanos(i64::MAX),
            event(payload),
            ChainHash([1; 32]),
        );
        all.push(value);
    }
    all
}

/// Runs every decoder over `value` and checks they agree with each other and with
/// `serde_json` on whatever they accept.
fn decode_every_way(value: &[u8]) {
    let checked = decode_record(value);
    let position = checked.as_ref().map_or(7, |r| r.position);
    let at = decode_record_at(position, value);
    let trusted = decode_checked_record_at(position, value);
    if let Ok(record) = &checked {
        // A value whose hash checks is one the trusting decoder takes too, as the same record.
        assert_eq!(at.as_ref(), Ok(record));
        assert_eq!(trusted.as_ref(), Ok(record));
    }
    if let Ok(record) = &trusted {
        let body = std::str::from_utf8(canonical_part(value)).expect("a decoded body is UTF-8");
        let serde: DecodedRecord = serde_json::from_str(body).expect("serde_json takes it too");
        assert_eq!(serde.event, record.event);
        assert_eq!(
            (
                serde.position,
                &serde.account_id,
                serde.revision,
                serde.recorded_at
            ),
            (
                record.position,
                &record.account_id,
                record.revision,
                record.recorded_at
            )
        );
    }
    if let Ok(body) = std::str::from_utf8(canonical_part(value)) {
        if let Some(fast) = fast::decode_body(body) {
            assert_eq!(
                Some(&fast),
                serde_json::from_str::<DecodedRecord>(body).ok().as_ref()
            );
        }
    }
}

/// One edit of a stored value.
#[derive(Clone, Debug)]
enum Edit {
    Bytes(ByteEdit),
    /// Swaps the first occurrences of two of the body's keys (their names only, so the values
    /// stay where they were: the fields trade places).
    SwapKeys {
        a: usize,
        b: usize,
    },
    /// Replaces the first run of digits after `at` with another number.
    Number {
        at: f64,
        number: String,
    },
    /// Doubles or halves a hex string (a sealed field's nonce or ciphertext).
    Hex {
        at: f64,
        grow: bool,
    },
}

const KEYS: &[&str] = &[
    "\"v\"",
    "\"position\"",
    "\"account_id\"",
    "\"revision\"",
    "\"recorded_at\"",
    "\"event\"",
    "\"event_id\"",
    "\"occurred_at\"",
    "\"actor\"",
    "\"metadata\"",
    "\"payload\"",
    "\"nonce\"",
    "\"ciphertext\"",
    "\"name\"",
    "\"role\"",
    "\"currency\"",
    "\"minor_units\"",
    "\"margin\"",
];

fn edit() -> impl Strategy<Value = Edit> {
    let at = || 0.0f64..1.0;
    prop_oneof![
        byte_edit(5, 11).prop_map(Edit::Bytes),
        (0..KEYS.len(), 0..KEYS.len()).prop_map(|(a, b)| Edit::SwapKeys { a, b }),
        (
            at(),
            prop_oneof![
                Just(u64::MAX.to_string()),
                Just("18446744073709551616".to_string()),
                Just("99999999999999999999999999999".to_string()),
                Just("-9223372036854775809".to_string()),
                Just("-0".to_string()),
                Just("1e400".to_string()),
                Just("0.5".to_string()),
                Just("2".to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
            ]
        )
            .prop_map(|(at, number)| Edit::Number { at, number }),
        (at(), any::<bool>()).prop_map(|(at, grow)| Edit::Hex { at, grow }),
    ]
}

fn find(bytes: &[u8], from: usize, what: &[u8]) -> Option<usize> {
    bytes[from..]
        .windows(what.len())
        .position(|w| w == what)
        .map(|i| from + i)
}

fn apply(value: &mut Vec<u8>, edit: &Edit) {
    let len = value.len();
    match edit {
        Edit::Bytes(edit) => edit.apply(value),
        Edit::SwapKeys { a, b } => {
            let (ka, kb) = (KEYS[*a].as_bytes(), KEYS[*b].as_bytes());
            let body = HEADER_LEN.min(len);
            if let (Some(ia), Some(ib)) = (find(value, body, ka), find(value, body, kb)) {
                let (first, k1, second, k2) = if ia < ib {
                    (ia, ka, ib, kb)
                } else {
                    (ib, kb, ia, ka)
                };
                if first + k1.len() <= second {
                    value.splice(second..second + k2.len(), k1.iter().copied());
                    value.splice(first..first + k1.len(), k2.iter().copied());
                }
            }
        }
        Edit::Number { at, number } => {
            replace_number(value, index(*at, len).max(HEADER_LEN.min(len)), number)
        }
        Edit::Hex { at, grow } => {
            let from = index(*at, len).max(HEADER_LEN.min(len));
            if let Some(start) = find(value, from, b"\"nonce\":\"")
                .or_else(|| find(value, from, b"\"ciphertext\":\""))
            {
                let start = start + value[start + 1..].iter().position(|&b| b == b'"').unwrap() + 4;
                if let Some(end) = value[start..].iter().position(|&b| b == b'"') {
                    let hex = value[start..start + end].to_vec();
                    let replaced = if *grow {
                        [hex.clone(), hex].concat()
                    } else {
                        hex[..hex.len() / 2].to_vec()
                    };
                    value.splice(start..start + end, replaced);
                }
            }
        }
    }
}

/// Writes the hash a value's edited body has into its envelope, so that the checked decoder
/// parses the body instead of stopping at the hash.
fn rehash(value: &mut [u8]) {
    if value.len() >= HEADER_LEN {
        let prev = ChainHash(value[1..33].try_into().unwrap());
        let hash = compute_hash(&prev, &value[HEADER_LEN..]);
        value[33..65].copy_from_slice(&hash.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// Any bytes, with or without a valid envelope before them.
    #[test]
    fn arbitrary_values_decode_or_fail_without_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        envelope in any::<bool>(),
    ) {
        let mut value = bytes;
        if envelope {
            let mut header = vec![ENVELOPE_V1];
            header.extend_from_slice(&[0; 64]);
            value.splice(0..0, header);
            rehash(&mut value);
        }
        decode_every_way(&value);
    }

    /// Any text as the body: the `fast` decoder's input, then `serde_json`'s.
    #[test]
    fn arbitrary_bodies_decode_or_fail_without_panic(body in prop_oneof![
        ".{0,120}",
        "\\{\"v\":1,\"position\":[0-9]{1,22},\"account_id\":\"[a-z\\\\\"]{0,6}\",[ -~]{0,80}",
    ]) {
        let mut value = vec![ENVELOPE_V1];
        value.extend_from_slice(&[0; 64]);
        value.extend_from_slice(body.as_bytes());
        rehash(&mut value);
        decode_every_way(&value);
    }

    /// Valid values, edited, with their hash left as it was (the checked decoder refuses them
    /// unless the edit changed nothing) and rewritten to match (every decoder parses them).
    #[test]
    fn edited_values_decode_or_fail_without_panic(
        which in 0usize..3,
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let original = values().swap_remove(which);
        let mut value = original.clone();
        for edit in &edits {
            apply(&mut value, edit);
        }
        if value != original {
            prop_assert!(decode_record(&value).is_err(), "an edited value kept its hash");
        }
        decode_every_way(&value);
        rehash(&mut value);
        decode_every_way(&value);
    }
}

#[test]
fn the_sample_values_decode() {
    for value in values() {
        let record = decode_record(&value).unwrap();
        assert_eq!(encode_record(&record), value);
        decode_every_way(&value);
    }
}

/// Nesting far deeper than any record is refused (the `fast` decoder does not recurse, and
/// declines at the first key it does not expect; `serde_json` limits its depth), not by running
/// out of stack.
#[test]
fn a_deeply_nested_body_is_refused() {
    let prefix = r#"{"v":1,"position":0,"account_id":"a","revision":0,"recorded_at":0,"event":{"event_id":"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d12","occurred_at":0,"actor":"a","metadata":{},"payload":"#;
    let body = format!(
        "{prefix}{}{}}}}}",
        "{\"visit\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let mut value = vec![ENVELOPE_V1];
    value.extend_from_slice(&[0; 64]);
    value.extend_from_slice(body.as_bytes());
    rehash(&mut value);
    assert!(matches!(decode_record(&value), Err(StoreError::Corrupt(_))));
    decode_every_way(&value);
}
