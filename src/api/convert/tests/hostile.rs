//! Hostile wire events: arbitrary protobuf bytes, valid events' encodings edited, and events
//! built field by field from arbitrary values (any strings, enum numbers out of range, unset
//! oneofs and messages, the largest numbers). Conversion answers a domain event or violations
//! naming the event's fields, never a panic; what it accepts converts back to the same message,
//! and validation then judges it without panicking either.

use std::collections::BTreeMap;

use proptest::prelude::*;
use prost::Message;

use super::fixture::every_event_type;
use crate::api::convert::*;
use crate::api::proto;
use crate::api::proto::proposed_event::Payload;
use crate::domain::validation::validate_batch;
use crate::domain::{self, AccountState, EventId, Policy, Timestamp};
use crate::hostile_input::{byte_edit, index, ByteEdit};

/// Converts `events` as `Ledger.Append` does, then validates what converted against an empty
/// account and a fixed clock: the path a request takes up to the ledger.
fn convert_and_judge(events: Vec<proto::ProposedEvent>) {
    let mut converted = Vec::new();
    for (i, wire) in events.into_iter().enumerate() {
        let path = format!("events[{i}]");
        match proposed_event_from_proto(wire.clone(), &path) {
            Ok(event) => {
                assert_eq!(
                    proposed_event_to_proto(&event),
                    canonical_wire(wire),
                    "an accepted event converts back to what was sent"
                );
                converted.push(event);
            }
            Err(invalid) => {
                assert!(!invalid.violations.is_empty(), "a refusal names a field");
                for violation in &invalid.violations {
                    assert!(
                        violation.field.starts_with(&format!("{path}.")),
                        "{} is not a field of {path}",
                        violation.field
                    );
                }
            }
        }
    }
    let now = Timestamp::from_unix_nanos(1_793_525_400_000_000_000);
    let _ = validate_batch(
        &AccountState::default(),
        &converted,
        &Policy::default(),
        now,
    );
}

/// The message an accepted event converts back to: the same, but for what the domain does not
/// keep apart (an event id in any form a UUID takes, written back in its canonical form; an
/// unspecified account segment, which is a standard one).
fn canonical_wire(mut wire: proto::ProposedEvent) -> proto::ProposedEvent {
    if let Ok(id) = EventId::parse(&wire.event_id) {
        wire.event_id = id.to_string();
    }
    if let Some(Payload::AccountOpened(opened)) = &mut wire.payload {
        if opened.segment == i32::from(proto::AccountSegment::Unspecified) {
            opened.segment = proto::AccountSegment::Standard.into();
        }
    }
    wire
}

/// Strings of every kind: empty, valid UUIDs, long ones, control characters, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11".to_string()),
        Just("0B5C4C2E8F5A4F7E9A572F1F3E0C6D11".to_string()),
        "[0-9a-fA-F-]{30,40}",
        ".{0,20}",
        "\\PC{0,8}",
        (1usize..3).prop_map(|n| "x".repeat(n * 100)),
    ]
}

fn number() -> impl Strategy<Value = i32> {
    prop_oneof![Just(i32::MIN), Just(i32::MAX), -2i32..12, any::<i32>()]
}

fn timestamp() -> impl Strategy<Value = Option<pbjson_types::Timestamp>> {
    proptest::option::of(
        (
            prop_oneof![
                Just(i64::MIN),
                Just(i64::MAX),
                any::<i64>(),
                -10i64..10,
                Just(9_223_372_036)
            ],
            number(),
        )
            .prop_map(|(seconds, nanos)| pbjson_types::Timestamp { seconds, nanos }),
    )
}

fn money() -> impl Strategy<Value = Option<proto::Money>> {
    proptest::option::of(
        (
            text(),
            prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()],
        )
            .prop_map(|(currency, minor_units)| proto::Money {
                currency,
                minor_units,
            }),
    )
}

/// Payloads of the event types whose fields can be out of range (enums, timestamps, amounts),
/// and a few whose fields are only strings.
fn payload() -> impl Strategy<Value = Option<Payload>> {
    use proto as p;
    proptest::option::of(prop_oneof![
        (text(), number())
            .prop_map(|(name, segment)| Payload::AccountOpened(p::AccountOpened {
                name,
                segment,
                ..Default::default()
            }))
            .boxed(),
        (text(), number(), any::<bool>())
            .prop_map(|(contact_id, role, public_official)| {
                Payload::ContactAdded(p::ContactAdded {
                    contact_id,
                    role,
                    public_official,
                    ..Default::default()
                })
            })
            .boxed(),
        (proptest::collection::vec(text(), 0..3), timestamp())
            .prop_map(|(contact_ids, next_visit_on)| {
                Payload::Visit(p::Visit {
                    contact_ids,
                    next_visit_on,
                    ..Default::default()
                })
            })
            .boxed(),
        (text(), text(), timestamp())
            .prop_map(|(promise_id, contact_id, due_at)| {
                Payload::PromiseMade(p::PromiseMade {
                    promise_id,
                    contact_id,
                    due_at,
                    ..Default::default()
                })
            })
            .boxed(),
        (number(), number(), money())
            .prop_map(|(kind, proof, value)| {
                if proof % 2 == 0 {
                    Payload::FavorGiven(p::FavorGiven {
                        kind,
                        value,
                        ..Default::default()
                    })
                } else {
                    Payload::ThirdPartyProofShared(p::ThirdPartyProofShared {
                        kind,
                        ..Default::default()
                    })
                }
            })
            .boxed(),
        (number(), money(), money())
            .prop_map(|(kind, revenue, margin)| {
                if kind % 2 == 0 {
                    Payload::OrderWon(p::OrderWon {
                        revenue,
                        margin,
                        ..Default::default()
                    })
                } else {
                    Payload::SolutionDelivered(p::SolutionDelivered {
                        kind,
                        ..Default::default()
                    })
                }
            })
            .boxed(),
        (money(), timestamp(), any::<u32>())
            .prop_map(|(amount, due_at, basis)| {
                if basis % 2 == 0 {
                    Payload::InvoiceIssued(p::InvoiceIssued {
                        amount,
                        due_at,
                        ..Default::default()
                    })
                } else {
                    Payload::PriceConcessionDemanded(p::PriceConcessionDemanded {
                        discount_basis_points: basis,
                        ..Default::default()
                    })
                }
            })
            .boxed(),
        (text(), text())
            .prop_map(|(contact_id, reason)| {
                Payload::ContactForgotten(p::ContactForgotten { contact_id, reason })
            })
            .boxed(),
    ])
}

fn event() -> impl Strategy<Value = proto::ProposedEvent> {
    (
        text(),
        timestamp(),
        text(),
        proptest::collection::btree_map(text(), text(), 0..4),
        payload(),
    )
        .prop_map(
            |(event_id, occurred_at, actor, metadata, payload)| proto::ProposedEvent {
                event_id,
                occurred_at,
                actor,
                metadata,
                payload,
            },
        )
}

/// An edit of an encoded message: bytes flipped, inserted, deleted, or cut, or a varint made
/// as large as a varint can be (a length prefix of 2^64 - 1 among them).
#[derive(Clone, Debug)]
enum Edit {
    Bytes(ByteEdit),
    HugeVarint { at: f64 },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        byte_edit(5, 7).prop_map(Edit::Bytes),
        (0.0f64..1.0).prop_map(|at| Edit::HugeVarint { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len();
    match edit {
        Edit::Bytes(edit) => edit.apply(bytes),
        Edit::HugeVarint { at } if len > 0 => {
            // The byte at `at` is replaced by the ten-byte varint of u64::MAX: where a length
            // was, a message claims to be 16 EiB long.
            let at = index(*at, len - 1);
            let mut huge = vec![0xff; 9];
            huge.push(0x01);
            bytes.splice(at..=at, huge);
        }
        Edit::HugeVarint { .. } => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes as an `AppendRequest`: prost refuses them or hands over a message, which
    /// converts or is refused with its fields named.
    #[test]
    fn arbitrary_bytes_decode_and_convert_without_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Ok(request) = proto::AppendRequest::decode(&bytes[..]) {
            convert_and_judge(request.events);
        }
        if let Ok(event) = proto::ProposedEvent::decode(&bytes[..]) {
            convert_and_judge(vec![event]);
        }
    }

    /// Events built from arbitrary values.
    #[test]
    fn arbitrary_events_convert_or_are_refused_by_field(
        events in proptest::collection::vec(event(), 0..4),
    ) {
        convert_and_judge(events);
    }

    /// Every valid event type, its encoding edited.
    #[test]
    fn edited_encodings_of_valid_events_convert_or_are_refused(
        which in 0usize..20,
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let request = proto::AppendRequest {
            account_id: "harbour".to_string(),
            expected_revision: None,
            events: vec![every_event_type().swap_remove(which)],
        };
        let mut bytes = request.encode_to_vec();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        if let Ok(request) = proto::AppendRequest::decode(&bytes[..]) {
            let _ = expected_revision_from_proto(request.expected_revision);
            convert_and_judge(request.events);
        }
    }
}

/// The extremes, written out: the largest and smallest timestamps and nanos, unset messages
/// and oneofs, and enum numbers no version of the contract defines.
#[test]
fn the_extremes_are_refused_with_their_fields_named() {
    let refused = |event: proto::ProposedEvent| {
        proposed_event_from_proto(event, "events[0]")
            .unwrap_err()
            .violations
            .into_iter()
            .map(|v| v.field)
            .collect::<Vec<_>>()
    };
    let mut event = every_event_type().swap_remove(0);
    event.occurred_at = Some(pbjson_types::Timestamp {
        seconds: i64::MAX,
        nanos: i32::MIN,
    });
    event.payload = None;
    event.metadata = BTreeMap::from([(String::new(), String::new())]);
    assert_eq!(
        refused(event),
        [
            "events[0].occurred_at",
            "events[0].metadata",
            "events[0].payload"
        ]
    );
    let mut event = every_event_type().swap_remove(1);
    if let Some(Payload::ContactAdded(added)) = &mut event.payload {
        added.role = i32::MAX;
    }
    event.event_id = "\u{0}".repeat(36);
    assert_eq!(
        refused(event),
        ["events[0].event_id", "events[0].contact_added.role"]
    );
    let domain::ProposedEvent { occurred_at, .. } = proposed_event_from_proto(
        proto::ProposedEvent {
            occurred_at: Some(pbjson_types::Timestamp {
                seconds: -9_223_372_036,
                nanos: 999_999_999,
            }),
            ..every_event_type().swap_remove(2)
        },
        "events[0]",
    )
    .unwrap();
    assert!(
        occurred_at.unix_nanos() < 0,
        "the earliest instant an i64 holds converts"
    );
}
