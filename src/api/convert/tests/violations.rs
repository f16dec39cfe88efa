//! Every structural violation is reported, with its full wire path.

use std::collections::BTreeMap;

use super::fixture::{cny, fixture, ts, with_payload};
use crate::api::convert::proposed_event_from_proto;
use crate::api::proto;
use crate::api::proto::proposed_event::Payload;
use crate::domain::EventType;

/// The (path, description) pairs reported for `e` at `events[3]`.
fn violations_of(e: proto::ProposedEvent) -> Vec<(String, String)> {
    let err = proposed_event_from_proto(e, "events[3]").expect_err("the event should be refused");
    err.violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

/// The paths reported for `e` at `events[3]`.
fn paths_of(e: proto::ProposedEvent) -> Vec<String> {
    violations_of(e).into_iter().map(|(path, _)| path).collect()
}

#[test]
fn event_level_violations_name_their_fields() {
    let nil = "00000000-0000-0000-0000-000000000000";
    for (id, description) in [("", "must not be empty"), (nil, "must not be the nil UUID")] {
        let mut e = fixture(EventType::Call);
        e.event_id = id.into();
        assert_eq!(
            violations_of(e),
            [("events[3].event_id".into(), description.into())]
        );
    }
    let mut e = fixture(EventType::Call);
    e.event_id = "not-a-uuid".into();
    let found = violations_of(e);
    assert_eq!(found[0].0, "events[3].event_id");
    assert!(found[0].1.starts_with("must be a UUID"), "{}", found[0].1);

    let mut e = fixture(EventType::Call);
    e.occurred_at = None;
    assert_eq!(
        violations_of(e),
        [("events[3].occurred_at".into(), "is required".into())]
    );
    for bad in [
        ts(0, -1),
        ts(0, 1_000_000_000),
        ts(i64::MAX, 0),
        ts(-9_223_372_037, 0),
    ] {
        let mut e = fixture(EventType::Call);
        e.occurred_at = bad;
        assert_eq!(paths_of(e), ["events[3].occurred_at"]);
    }

    let mut e = fixture(EventType::Call);
    e.actor = String::new();
    assert_eq!(
        violations_of(e),
        [("events[3].actor".into(), "is required".into())]
    );
    let mut e = fixture(EventType::Call);
    e.actor = "字".repeat(129);
    assert_eq!(
        violations_of(e),
        [(
            "events[3].actor".into(),
            "must be at most 128 characters, got 129".into()
        )]
    );

    let mut e = fixture(EventType::Call);
    e.payload = None;
    assert_eq!(
        violations_of(e),
        [(
            "events[3].payload".into(),
            "exactly one event type must be set".into()
        )]
    );
}

#[test]
fn limits_are_inclusive() {
    let mut e = fixture(EventType::Call);
    e.actor = "字".repeat(128);
    e.metadata = (0..64)
        .map(|i| (format!("{i:0>128}"), String::new()))
        .collect();
    assert!(proposed_event_from_proto(e, "events[0]").is_ok());
}

#[test]
fn metadata_violations_name_the_metadata_field() {
    let mut e = fixture(EventType::Call);
    e.metadata = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
    assert_eq!(
        violations_of(e),
        [(
            "events[3].metadata".into(),
            "must have at most 64 entries, got 65".into()
        )]
    );

    let mut e = fixture(EventType::Call);
    e.metadata = BTreeMap::from([(String::new(), "x".into()), ("k".repeat(129), "y".into())]);
    assert_eq!(
        violations_of(e),
        [
            ("events[3].metadata".into(), "keys must not be empty".into()),
            (
                "events[3].metadata".into(),
                "keys must be at most 128 characters, got one of 129".into()
            ),
        ]
    );
}

#[test]
fn enum_violations_name_the_payload_field() {
    use proto as p;
    let role = |role: i32| {
        with_payload(Payload::ContactAdded(p::ContactAdded {
            role,
            ..Default::default()
        }))
    };
    assert_eq!(
        violations_of(role(0)),
        [(
            "events[3].contact_added.role".into(),
            "must be set to a ContactRole other than CONTACT_ROLE_UNSPECIFIED".into()
        )]
    );
    assert_eq!(
        violations_of(role(42)),
        [(
            "events[3].contact_added.role".into(),
            "42 is not a known ContactRole value".into()
        )]
    );

    let proof = with_payload(Payload::ThirdPartyProofShared(
        p::ThirdPartyProofShared::default(),
    ));
    assert_eq!(
        violations_of(proof),
        [(
            "events[3].third_party_proof_shared.kind".into(),
            "must be set to a ProofKind other than PROOF_KIND_UNSPECIFIED".into()
        )]
    );
    let segment = p::AccountOpened {
        segment: 3,
        ..Default::default()
    };
    assert_eq!(
        paths_of(with_payload(Payload::AccountOpened(segment))),
        ["events[3].account_opened.segment"]
    );
    let solution = p::SolutionDelivered {
        kind: -1,
        ..Default::default()
    };
    assert_eq!(
        paths_of(with_payload(Payload::SolutionDelivered(solution))),
        ["events[3].solution_delivered.kind"]
    );
}

#[test]
fn missing_required_amounts_and_instants_are_named() {
    use proto as p;
    let cases = [
        (
            Payload::FavorGiven(p::FavorGiven {
                kind: 1,
                ..Default::default()
            }),
            "events[3].favor_given.value",
        ),
        (
            Payload::OrderWon(p::OrderWon::default()),
            "events[3].order_won.revenue",
        ),
        (
            Payload::InvoiceIssued(p::InvoiceIssued {
                due_at: ts(0, 0),
                ..Default::default()
            }),
            "events[3].invoice_issued.amount",
        ),
        (
            Payload::InvoiceIssued(p::InvoiceIssued {
                amount: cny(1),
                ..Default::default()
            }),
            "events[3].invoice_issued.due_at",
        ),
        (
            Payload::PaymentReceived(p::PaymentReceived::default()),
            "events[3].payment_received.amount",
        ),
        (
            Payload::RelationshipCost(p::RelationshipCost::default()),
            "events[3].relationship_cost.amount",
        ),
        (
            Payload::PromiseMade(p::PromiseMade::default()),
            "events[3].promise_made.due_at",
        ),
    ];
    for (payload, path) in cases {
        assert_eq!(
            violations_of(with_payload(payload)),
            [(path.into(), "is required".into())]
        );
    }

    let visit = p::Visit {
        next_visit_on: ts(0, 2_000_000_000),
        ..Default::default()
    };
    assert_eq!(
        paths_of(with_payload(Payload::Visit(visit))),
        ["events[3].visit.next_visit_on"]
    );
}

#[test]
fn every_violation_of_an_event_is_reported() {
    let mut e = with_payload(Payload::FavorGiven(proto::FavorGiven::default()));
    e.event_id = "nope".into();
    e.occurred_at = None;
    e.actor = String::new();
    e.metadata = BTreeMap::from([(String::new(), String::new())]);
    assert_eq!(
        paths_of(e),
        [
            "events[3].event_id",
            "events[3].occurred_at",
            "events[3].actor",
            "events[3].metadata",
            "events[3].favor_given.kind",
            "events[3].favor_given.value",
        ]
    );

    let invoice = with_payload(Payload::InvoiceIssued(proto::InvoiceIssued::default()));
    assert_eq!(
        paths_of(invoice),
        [
            "events[3].invoice_issued.amount",
            "events[3].invoice_issued.due_at"
        ]
    );
}
