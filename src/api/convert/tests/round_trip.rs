//! Wire -> domain -> wire gives back the same message, and the small request pieces convert.

use std::collections::BTreeSet;

use super::fixture::{cny, every_event_type, fixture, ids, ts, with_payload, NOV_1};
use crate::api::convert::*;
use crate::api::proto;
use crate::api::proto::proposed_event::Payload;
use crate::domain::{self, AccountId, ChainHash, EventPayload, EventType, ValidationError};
use crate::privacy::Revealed;
use crate::store::{AppendOutcome, Direction, ExpectedRevision};

#[test]
fn the_fixture_covers_every_event_type_once() {
    let types: Vec<EventType> = every_event_type()
        .into_iter()
        .map(|e| {
            proposed_event_from_proto(e, "events[0]")
                .unwrap()
                .payload
                .event_type()
        })
        .collect();
    assert_eq!(types, EventType::ALL);
}

#[test]
fn every_event_type_round_trips_exactly() {
    for (i, wire) in every_event_type().into_iter().enumerate() {
        let domain = proposed_event_from_proto(wire.clone(), &format!("events[{i}]"))
            .unwrap_or_else(|e| panic!("events[{i}] was refused: {e}"));
        assert_eq!(proposed_event_to_proto(&domain), wire, "events[{i}]");
    }
}

#[test]
fn optional_fields_round_trip_unset() {
    use proto as p;
    for payload in [
        Payload::Visit(p::Visit {
            contact_ids: ids(&["c-1"]),
            ..Default::default()
        }),
        Payload::PromiseMade(p::PromiseMade {
            due_at: ts(NOV_1, 0),
            ..Default::default()
        }),
        Payload::OrderWon(p::OrderWon {
            revenue: cny(0),
            ..Default::default()
        }),
        Payload::OrderLost(p::OrderLost::default()),
        Payload::CriticalAssistance(p::CriticalAssistance::default()),
        Payload::SolutionDelivered(p::SolutionDelivered::default()),
    ] {
        let mut wire = with_payload(payload);
        wire.metadata.clear();
        let domain = proposed_event_from_proto(wire.clone(), "events[0]").unwrap();
        assert_eq!(proposed_event_to_proto(&domain), wire);
    }
}

#[test]
fn wire_values_map_to_the_documented_domain_values() {
    use proto as p;
    let convert = |payload| {
        proposed_event_from_proto(with_payload(payload), "e")
            .unwrap()
            .payload
    };

    let opened = convert(Payload::AccountOpened(p::AccountOpened::default()));
    assert!(
        matches!(opened, EventPayload::AccountOpened(a) if a.segment == domain::AccountSegment::Standard)
    );
    let solution = convert(Payload::SolutionDelivered(p::SolutionDelivered::default()));
    assert!(
        matches!(solution, EventPayload::SolutionDelivered(s) if s.kind == domain::SolutionKind::Unspecified)
    );
    let promise = convert(Payload::PromiseMade(p::PromiseMade {
        due_at: ts(0, 0),
        ..Default::default()
    }));
    assert!(matches!(promise, EventPayload::PromiseMade(m) if m.contact_id.is_none()));
    let won = convert(Payload::OrderWon(p::OrderWon {
        revenue: cny(1),
        ..Default::default()
    }));
    assert!(matches!(won, EventPayload::OrderWon(o) if o.margin.is_none()));

    for (wire, kind) in [
        (p::FavorKind::Cash, domain::FavorKind::Cash),
        (p::FavorKind::Voucher, domain::FavorKind::Voucher),
        (p::FavorKind::GiftCard, domain::FavorKind::GiftCard),
    ] {
        let favor = p::FavorGiven {
            kind: wire.into(),
            value: cny(100),
            ..Default::default()
        };
        let converted = convert(Payload::FavorGiven(favor));
        assert!(
            matches!(converted, EventPayload::FavorGiven(f) if f.kind == kind),
            "{wire:?}"
        );
    }
}

#[test]
fn event_ids_are_stored_in_lower_case() {
    let mut wire = fixture(EventType::Call);
    wire.event_id = wire.event_id.to_uppercase();
    let domain = proposed_event_from_proto(wire.clone(), "events[0]").unwrap();
    assert_eq!(
        proposed_event_to_proto(&domain).event_id,
        wire.event_id.to_lowercase()
    );
}

#[test]
fn recorded_events_carry_their_place_and_type() {
    let wire = fixture(EventType::Visit);
    let event = proposed_event_from_proto(wire.clone(), "events[0]").unwrap();
    let recorded = domain::RecordedEvent {
        position: 41,
        account_id: AccountId::parse("acme-01").unwrap(),
        revision: 7,
        recorded_at: domain::Timestamp::from_unix_nanos(-1),
        recorded_by: Some("etl".into()),
        event,
        prev_hash: ChainHash([1; 32]),
        hash: ChainHash([2; 32]),
    };
    assert_eq!(
        recorded_event_to_proto(Revealed::assume_open(recorded)),
        proto::RecordedEvent {
            event: Some(wire),
            account_id: "acme-01".into(),
            revision: 7,
            position: 41,
            recorded_at: ts(-1, 999_999_999),
            recorded_by: "etl".into(),
            prev_hash: vec![1; 32],
            hash: vec![2; 32],
            event_type: "visit".into(),
            erased_fields: vec![],
        }
    );
}

#[test]
fn erased_personal_fields_read_empty_and_are_listed() {
    let wire = fixture(EventType::ContactAdded);
    let mut event = proposed_event_from_proto(wire.clone(), "events[0]").unwrap();
    let domain::EventPayload::ContactAdded(added) = &mut event.payload else {
        panic!("the fixture is a contact_added");
    };
    added.name = domain::PersonalText::Erased;
    added.notes = domain::PersonalText::Erased;
    let recorded = domain::RecordedEvent {
        position: 3,
        account_id: AccountId::parse("acme-01").unwrap(),
        revision: 1,
        recorded_at: domain::Timestamp::from_unix_nanos(0),
        recorded_by: None,
        event,
        prev_hash: ChainHash([1; 32]),
        hash: ChainHash([2; 32]),
    };
    let read = recorded_event_to_proto(Revealed::assume_open(recorded));
    assert_eq!(
        read.erased_fields,
        ["contact_added.name", "contact_added.notes"]
    );
    let Some(proto::proposed_event::Payload::ContactAdded(added)) = read.event.unwrap().payload
    else {
        panic!("still a contact_added");
    };
    let Some(proto::proposed_event::Payload::ContactAdded(sent)) = wire.payload else {
        unreachable!()
    };
    assert_eq!((added.name.as_str(), added.notes.as_str()), ("", ""));
    assert_eq!(added.phone, sent.phone, "a field not erased reads as sent");
    assert_eq!(added.contact_id, sent.contact_id);
}

#[test]
fn request_pieces_convert() {
    use proto::expected_revision::Kind;
    let expected = |kind| expected_revision_from_proto(Some(proto::ExpectedRevision { kind }));
    assert_eq!(expected_revision_from_proto(None), ExpectedRevision::Any);
    assert_eq!(expected(None), ExpectedRevision::Any);
    assert_eq!(
        expected(Some(Kind::Any(Default::default()))),
        ExpectedRevision::Any
    );
    assert_eq!(
        expected(Some(Kind::NoStream(Default::default()))),
        ExpectedRevision::NoStream
    );
    assert_eq!(
        expected(Some(Kind::StreamExists(Default::default()))),
        ExpectedRevision::StreamExists
    );
    assert_eq!(expected(Some(Kind::Exact(0))), ExpectedRevision::Exact(0));

    for e in [
        ExpectedRevision::Any,
        ExpectedRevision::NoStream,
        ExpectedRevision::StreamExists,
        ExpectedRevision::Exact(u64::MAX),
    ] {
        assert_eq!(
            expected_revision_from_proto(Some(expected_revision_to_proto(e))),
            e
        );
    }

    assert_eq!(
        direction_from_proto(0, "direction"),
        Ok(Direction::Forwards)
    );
    assert_eq!(
        direction_from_proto(1, "direction"),
        Ok(Direction::Forwards)
    );
    assert_eq!(
        direction_from_proto(2, "direction"),
        Ok(Direction::Backwards)
    );
    assert_eq!(
        direction_from_proto(3, "direction"),
        Err(ValidationError::single(
            "direction",
            "3 is not a known Direction value"
        ))
    );

    let outcome = AppendOutcome {
        first_revision: 1,
        last_revision: 2,
        first_position: 3,
        last_position: 4,
        duplicate: true,
    };
    assert_eq!(
        append_outcome_to_proto(outcome),
        proto::AppendResponse {
            first_revision: 1,
            last_revision: 2,
            first_position: 3,
            last_position: 4,
            duplicate: true,
        }
    );
}

#[test]
fn timestamps_round_trip_at_the_ends_of_the_range() {
    for (seconds, nanos) in [
        (-9_223_372_036, 0),
        (0, 0),
        (-1, 1),
        (9_223_372_036, 854_775_807),
    ] {
        let wire = pbjson_types::Timestamp { seconds, nanos };
        let t = timestamp_from_proto(&wire, "t").unwrap();
        assert_eq!(timestamp_to_proto(t), wire);
    }
    let past_the_end = pbjson_types::Timestamp {
        seconds: 9_223_372_036,
        nanos: 854_775_808,
    };
    let err = timestamp_from_proto(&past_the_end, "events[0].occurred_at").unwrap_err();
    assert_eq!(err.violations[0].field, "events[0].occurred_at");
}

#[test]
fn distinct_fixture_ids() {
    let ids: BTreeSet<String> = every_event_type().into_iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), EventType::ALL.len());
}
