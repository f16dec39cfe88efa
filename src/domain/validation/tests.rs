//! Unit tests of the append rules that the gRPC tests do not reach one by one.

use std::collections::BTreeMap;

use super::*;
use crate::domain::event::*;
use crate::domain::ids::EventId;
use crate::domain::time::NANOS_PER_DAY;

const NOW: Timestamp = Timestamp::from_unix_nanos(1_790_000_000 * 1_000_000_000);

fn cny(minor_units: i64) -> Money {
    Money {
        currency: "CNY".into(),
        minor_units,
    }
}

fn event(payload: EventPayload) -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: NOW.plus_days(-1),
        actor: "li.wei".into(),
        metadata: BTreeMap::new(),
        payload,
    }
}

fn opened() -> Vec<ProposedEvent> {
    vec![
        event(EventPayload::AccountOpened(AccountOpened {
            name: "Acme".into(),
            segment: AccountSegment::Key,
            owner: "li.wei".into(),
            industry: String::new(),
            region: String::new(),
        })),
        event(EventPayload::ContactAdded(ContactAdded {
            contact_id: "c1".into(),
            name: "Zhang".into(),
            role: ContactRole::DecisionMaker,
            title: String::new(),
            phone: Default::default(),
            email: Default::default(),
            public_official: false,
            notes: Default::default(),
        })),
    ]
}

fn check(history: &[ProposedEvent], batch: &[ProposedEvent]) -> Result<(), ValidationError> {
    validate_batch(
        &AccountState::from_events(history),
        batch,
        &Policy::default(),
        NOW,
    )
}

fn fields(result: Result<(), ValidationError>) -> Vec<String> {
    result
        .unwrap_err()
        .violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[test]
fn one_batch_may_open_an_account_add_contacts_and_use_them() {
    let mut batch = opened();
    batch.push(event(EventPayload::Call(Call {
        contact_id: "c1".into(),
        summary: String::new(),
    })));
    assert_eq!(check(&[], &batch), Ok(()));
}

#[test]
fn later_events_of_a_batch_see_the_earlier_ones() {
    let promise = |id: &str| {
        event(EventPayload::PromiseMade(PromiseMade {
            promise_id: id.into(),
            contact_id: None,
            description: String::new(),
            due_at: NOW,
        }))
    };
    let kept = || {
        event(EventPayload::PromiseKept(PromiseKept {
            promise_id: "p".into(),
            note: String::new(),
        }))
    };
    let broken = event(EventPayload::PromiseBroken(PromiseBroken {
        promise_id: "p".into(),
        reason: Default::default(),
    }));
    assert_eq!(check(&opened(), &[promise("p"), kept()]), Ok(()));
    assert_eq!(
        fields(check(&opened(), &[promise("p"), kept(), broken])),
        ["events[2].promise_broken.promise_id"]
    );
    assert_eq!(
        fields(check(&opened(), &[promise("p"), promise("p")])),
        ["events[1].promise_made.promise_id"]
    );
}

#[test]
fn payments_are_bounded_by_what_is_outstanding() {
    let mut history = opened();
    history.push(event(EventPayload::InvoiceIssued(InvoiceIssued {
        invoice_id: "i1".into(),
        amount: cny(1000),
        due_at: NOW,
        order_id: String::new(),
    })));
    let pay = |amount| {
        event(EventPayload::PaymentReceived(PaymentReceived {
            invoice_id: "i1".into(),
            amount: cny(amount),
            reference: String::new(),
        }))
    };
    assert_eq!(check(&history, &[pay(600), pay(400)]), Ok(()));
    assert_eq!(
        fields(check(&history, &[pay(600), pay(401)])),
        ["events[1].payment_received.amount"]
    );
    assert_eq!(
        fields(check(&history, &[pay(0)])),
        ["events[0].payment_received.amount.minor_units"]
    );
}

#[test]
fn a_margin_may_be_a_loss_but_not_more_than_the_revenue() {
    let order = |id: &str, revenue, margin| {
        event(EventPayload::OrderWon(OrderWon {
            order_id: id.into(),
            revenue: cny(revenue),
            margin: Some(cny(margin)),
            product: String::new(),
            description: String::new(),
        }))
    };
    assert_eq!(check(&opened(), &[order("o1", 1000, -200)]), Ok(()));
    assert_eq!(
        fields(check(&opened(), &[order("o1", 1000, 1001)])),
        ["events[0].order_won.margin"]
    );
    assert_eq!(
        fields(check(&opened(), &[order("o1", 10, 1), order("o1", 10, 1)])),
        ["events[1].order_won.order_id"]
    );
}

#[test]
fn a_contact_who_left_cannot_be_visited_and_every_violation_is_reported() {
    let mut history = opened();
    history.push(event(EventPayload::ContactLeft(ContactLeft {
        contact_id: "c1".into(),
        reason: Default::default(),
    })));
    let mut visit = event(EventPayload::Visit(Visit {
        contact_ids: vec!["c1".into(), "c1".into(), "c7".into()],
        purpose: String::new(),
        summary: String::new(),
        next_visit_on: Some(NOW.plus_days(-2)),
        next_visit_pretext: String::new(),
    }));
    visit.occurred_at = NOW.plus_days(3);
    let violations = check(&history, &[visit]).unwrap_err().violations;
    let described: Vec<_> = violations
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(described.len(), 5, "{described:?}");
    assert!(described.contains(&(
        "events[0].occurred_at",
        "lies more than a day in the future of the server's clock"
    )));
    assert!(described
        .iter()
        .any(|(f, d)| *f == "events[0].visit.contact_ids[0]" && d.contains("has left")));
    assert!(described
        .iter()
        .any(|(f, d)| *f == "events[0].visit.contact_ids[1]" && d.contains("twice")));
    assert!(described
        .iter()
        .any(|(f, d)| *f == "events[0].visit.contact_ids[2]" && d.contains("not a contact")));
    assert!(described
        .iter()
        .any(|(f, _)| *f == "events[0].visit.next_visit_on"));
}

#[test]
fn the_future_tolerance_is_one_day() {
    let mut e = event(EventPayload::Call(Call {
        contact_id: "c1".into(),
        summary: String::new(),
    }));
    e.occurred_at = Timestamp::from_unix_nanos(NOW.unix_nanos() + NANOS_PER_DAY);
    assert_eq!(check(&opened(), std::slice::from_ref(&e)), Ok(()));
    e.occurred_at = Timestamp::from_unix_nanos(NOW.unix_nanos() + NANOS_PER_DAY + 1);
    assert_eq!(fields(check(&opened(), &[e])), ["events[0].occurred_at"]);
}

fn forgetting(contact_id: &str) -> ProposedEvent {
    event(EventPayload::ContactForgotten(ContactForgotten {
        contact_id: contact_id.into(),
        reason: "erasure request 7".into(),
    }))
}

#[test]
fn only_a_known_contact_not_yet_forgotten_can_be_forgotten() {
    let history = opened();
    assert_eq!(check(&history, &[forgetting("c1")]), Ok(()));
    assert_eq!(
        fields(check(&history, &[forgetting("c9")])),
        ["events[0].contact_forgotten.contact_id"]
    );
    let mut forgotten = history.clone();
    forgotten.push(forgetting("c1"));
    assert_eq!(
        fields(check(&forgotten, &[forgetting("c1")])),
        ["events[0].contact_forgotten.contact_id"]
    );
}

#[test]
fn personal_data_about_a_forgotten_contact_is_refused_field_by_field() {
    let mut history = opened();
    history.push(forgetting("c1"));
    let intro = |relationship: &str, notes: &str| {
        event(EventPayload::IntroductionMade(IntroductionMade {
            contact_id: "c1".into(),
            introduced_by: "c2".into(),
            relationship: relationship.into(),
            notes: notes.into(),
        }))
    };
    assert_eq!(
        fields(check(&history, &[intro("classmates", "warm")])),
        [
            "events[0].introduction_made.relationship",
            "events[0].introduction_made.notes"
        ]
    );
    assert_eq!(check(&history, &[intro("", "")]), Ok(()));
    let state = AccountState::from_events(&history);
    assert!(validate_not_forgotten(&state, &[intro("", "warm")]).is_err());
    assert_eq!(validate_not_forgotten(&state, &[intro("", "")]), Ok(()));
    // The forgetting changes nothing else validation knows: the contact is still active.
    assert!(state.is_active_contact("c1"));
}

#[test]
fn a_future_date_is_refused_naming_the_skew_the_policy_allows() {
    let mut visit = event(EventPayload::Visit(Visit {
        contact_ids: vec!["c1".into()],
        purpose: String::new(),
        summary: String::new(),
        next_visit_on: None,
        next_visit_pretext: String::new(),
    }));
    visit.occurred_at = NOW.plus_days(1);
    let cases = [
        (2 * 3_600 * 1_000_000_000, "2 hours"),
        (3_600 * 1_000_000_000, "an hour"),
        (90 * 1_000_000_000, "90 seconds"),
        (NANOS_PER_DAY / 2 + 1, "43200000000001 nanoseconds"),
    ];
    for (skew, said) in cases {
        let policy = Policy {
            max_future_skew_nanos: skew,
            ..Policy::default()
        };
        let refused = validate_shape(std::slice::from_ref(&visit), &policy, NOW).unwrap_err();
        assert_eq!(refused.violations.len(), 1);
        assert_eq!(
            refused.violations[0].description,
            format!("lies more than {said} in the future of the server's clock")
        );
    }
}
