//! Every validation rule of an append, over gRPC: INVALID_ARGUMENT naming the field, with
//! google.rpc.BadRequest details, and nothing written.

use crate::common;

use common::events::*;
use common::TestServer;
use relledger::api::proto::{self, proposed_event::Payload, AppendRequest};
use relledger::config::Config;
use tonic::Code;
use tonic_types::StatusExt;

/// One rejected append: a name, the account, the batch, and the field the error must name.
struct Case {
    name: &'static str,
    account: &'static str,
    events: Vec<proto::ProposedEvent>,
    field: &'static str,
    says: &'static str,
}

fn cases() -> Vec<Case> {
    let mut bad_uuid = event(5, visit(&["c1"]));
    bad_uuid.event_id = "not-a-uuid".into();
    let mut no_payload = event(5, visit(&["c1"]));
    no_payload.payload = None;
    let mut no_time = event(5, visit(&["c1"]));
    no_time.occurred_at = None;
    let mut future = event(5, visit(&["c1"]));
    future.occurred_at = Some(pbjson_types::Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    });
    let mut no_actor = event(5, visit(&["c1"]));
    no_actor.actor.clear();
    let mut foreign_currency = favor("c1", proto::FavorKind::Meal, 100);
    if let Payload::FavorGiven(f) = &mut foreign_currency {
        f.value.as_mut().unwrap().currency = "USD".into();
    }
    let twice = event(5, visit(&["c1"]));
    let oversized = {
        let mut e = event(5, visit(&["c1"]));
        if let Some(Payload::Visit(v)) = &mut e.payload {
            v.summary = "x".repeat(70 * 1024);
        }
        e
    };
    vec![
        Case {
            name: "malformed UUID",
            account: "acme",
            events: vec![bad_uuid],
            field: "events[0].event_id",
            says: "UUID",
        },
        Case {
            name: "missing payload",
            account: "acme",
            events: vec![no_payload],
            field: "events[0].payload",
            says: "",
        },
        Case {
            name: "missing occurred_at",
            account: "acme",
            events: vec![no_time],
            field: "events[0].occurred_at",
            says: "",
        },
        Case {
            name: "occurred_at far in the future",
            account: "acme",
            events: vec![future],
            field: "events[0].occurred_at",
            says: "future",
        },
        Case {
            name: "missing actor",
            account: "acme",
            events: vec![no_actor],
            field: "events[0].actor",
            says: "",
        },
        Case {
            name: "account never opened",
            account: "ghost",
            events: vec![event(5, visit(&["c1"]))],
            field: "events[0].payload",
            says: "not been opened",
        },
        Case {
            name: "account opened twice",
            account: "acme",
            events: vec![event(5, account_opened("Again"))],
            field: "events[0].account_opened",
            says: "already opened",
        },
        Case {
            name: "promise_kept for an unknown promise",
            account: "acme",
            events: vec![event(5, promise_kept("p404"))],
            field: "events[0].promise_kept.promise_id",
            says: "not a promise",
        },
        Case {
            name: "promise_kept for a settled promise",
            account: "acme",
            events: vec![event(5, promise_kept("p1"))],
            field: "events[0].promise_kept.promise_id",
            says: "already kept",
        },
        Case {
            name: "contact not added",
            account: "acme",
            events: vec![event(5, visit(&["c9"]))],
            field: "events[0].visit.contact_ids[0]",
            says: "not a contact",
        },
        Case {
            name: "negative amount",
            account: "acme",
            events: vec![event(5, relationship_cost(-1))],
            field: "events[0].relationship_cost.amount.minor_units",
            says: "negative",
        },
        Case {
            name: "foreign currency",
            account: "acme",
            events: vec![event(5, foreign_currency)],
            field: "events[0].favor_given.value.currency",
            says: "CNY",
        },
        Case {
            name: "cash favor",
            account: "acme",
            events: vec![event(5, favor("c1", proto::FavorKind::Cash, 100))],
            field: "events[0].favor_given.kind",
            says: "cash",
        },
        Case {
            name: "voucher favor",
            account: "acme",
            events: vec![event(5, favor("c1", proto::FavorKind::Voucher, 100))],
            field: "events[0].favor_given.kind",
            says: "cash",
        },
        Case {
            name: "gift card favor",
            account: "acme",
            events: vec![event(5, favor("c1", proto::FavorKind::GiftCard, 100))],
            field: "events[0].favor_given.kind",
            says: "cash",
        },
        Case {
            name: "empty batch",
            account: "acme",
            events: vec![],
            field: "events",
            says: "at least one",
        },
        Case {
            name: "batch over the limit",
            account: "acme",
            events: (0..11).map(|i| event(5 + i, visit(&["c1"]))).collect(),
            field: "events",
            says: "at most 10",
        },
        Case {
            name: "event over the size limit",
            account: "acme",
            events: vec![oversized],
            field: "events[0]",
            says: "limit",
        },
        Case {
            name: "same event id twice in a batch",
            account: "acme",
            events: vec![twice.clone(), twice],
            field: "events[1].event_id",
            says: "twice",
        },
        Case {
            name: "bad account id",
            account: "a b",
            events: vec![event(5, visit(&["c1"]))],
            field: "account_id",
            says: "",
        },
        Case {
            name: "payment for an unknown invoice",
            account: "acme",
            events: vec![event(
                5,
                Payload::PaymentReceived(proto::PaymentReceived {
                    invoice_id: "i9".into(),
                    amount: money(1),
                    reference: String::new(),
                }),
            )],
            field: "events[0].payment_received.invoice_id",
            says: "not an invoice",
        },
    ]
}

#[tokio::test]
async fn every_invalid_append_is_refused_naming_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.policy.max_batch_events = 10;
    let mut server = TestServer::start_with(config).await;
    let mut setup = opening("Acme");
    setup.push(event(2, promise_made("p1", "c1")));
    setup.push(event(3, promise_kept("p1")));
    server.append("acme", setup).await.unwrap();
    let before = server.read_all().await;

    for case in cases() {
        let status = server
            .client
            .append(AppendRequest {
                account_id: case.account.into(),
                expected_revision: None,
                events: case.events,
            })
            .await
            .expect_err(case.name);
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{}: {}",
            case.name,
            status.message()
        );
        assert!(
            status.message().contains(case.field),
            "{}: message {:?} names {}",
            case.name,
            status.message(),
            case.field
        );
        assert!(
            status
                .message()
                .to_lowercase()
                .contains(&case.says.to_lowercase()),
            "{}: message {:?} says {:?}",
            case.name,
            status.message(),
            case.says
        );
        let details = status.get_error_details();
        let bad_request = details
            .bad_request()
            .unwrap_or_else(|| panic!("{}: BadRequest details", case.name));
        assert!(
            bad_request
                .field_violations
                .iter()
                .any(|v| v.field == case.field),
            "{}: details {:?} name {}",
            case.name,
            bad_request.field_violations,
            case.field
        );
        assert_eq!(
            server.read_all().await,
            before,
            "{}: a rejected append writes nothing",
            case.name
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn one_invalid_event_rejects_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let mut batch = opening("Acme");
    batch.push(event(2, visit(&["c1"])));
    batch.push(event(3, visit(&["nobody"])));
    let status = server.append("acme", batch).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("events[3].visit.contact_ids[0]"),
        "{}",
        status.message()
    );
    assert!(
        server.read_all().await.is_empty(),
        "all or none: nothing of the batch was written"
    );
}
