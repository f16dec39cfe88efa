//! Valid wire events to convert: one of every event type, and small builders.

use std::collections::BTreeMap;

use crate::api::proto;
use crate::api::proto::proposed_event::Payload;
use crate::domain::EventType;

/// 2026-11-01T09:30:00Z, a plausible business time.
pub(super) const NOV_1: i64 = 1_793_525_400;

/// A wire timestamp.
pub(super) fn ts(seconds: i64, nanos: i32) -> Option<pbjson_types::Timestamp> {
    Some(pbjson_types::Timestamp { seconds, nanos })
}

/// A wire amount in the ledger's default currency.
pub(super) fn cny(minor_units: i64) -> Option<proto::Money> {
    Some(proto::Money {
        currency: "CNY".into(),
        minor_units,
    })
}

/// Owned contact ids.
pub(super) fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// A valid wire event carrying `payload`, with a lower-case id that varies with `n`.
pub(super) fn event(n: u8, payload: Payload) -> proto::ProposedEvent {
    proto::ProposedEvent {
        event_id: format!("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d{n:02x}"),
        occurred_at: ts(NOV_1 + i64::from(n), 123_456_789),
        actor: "li.wei".into(),
        metadata: BTreeMap::from([("correlation_id".to_string(), format!("c-{n}"))]),
        payload: Some(payload),
    }
}

/// One valid wire event of every event type, every field set where the type has it.
pub(super) fn every_event_type() -> Vec<proto::ProposedEvent> {
    use proto as p;
    let payloads = vec![
        Payload::AccountOpened(p::AccountOpened {
            name: "Harbour Construction Group".into(),
            segment: p::AccountSegment::Key.into(),
            owner: "li.wei".into(),
            industry: "contractor".into(),
            region: "east".into(),
        }),
        Payload::ContactAdded(p::ContactAdded {
            contact_id: "c-zhang".into(),
            name: "Zhang San".into(),
            role: p::ContactRole::TechnicalEvaluator.into(),
            title: "chief engineer".into(),
            phone: "+86 21 5555 0100".into(),
            email: "zhang@example.com".into(),
            public_official: true,
            notes: "likes tea".into(),
        }),
        Payload::ContactLeft(p::ContactLeft {
            contact_id: "c-zhang".into(),
            reason: "retired".into(),
        }),
        Payload::IntroductionMade(p::IntroductionMade {
            contact_id: "c-wang".into(),
            introduced_by: "c-zhang".into(),
            relationship: "university classmate".into(),
            notes: "over dinner".into(),
        }),
        Payload::Visit(p::Visit {
            contact_ids: ids(&["c-zhang", "c-wang"]),
            purpose: "deliver the test report".into(),
            summary: "new plant planned".into(),
            next_visit_on: ts(NOV_1 + 14 * 86_400, 0),
            next_visit_pretext: "bring the design proposal".into(),
        }),
        Payload::Call(p::Call {
            contact_id: "c-wang".into(),
            summary: "follow-up".into(),
        }),
        Payload::PromiseMade(p::PromiseMade {
            promise_id: "p-1".into(),
            contact_id: "c-zhang".into(),
            description: "a design proposal for the new plant".into(),
            due_at: ts(NOV_1 + 7 * 86_400, 5),
        }),
        Payload::PromiseKept(p::PromiseKept {
            promise_id: "p-1".into(),
            note: "sent".into(),
        }),
        Payload::PromiseBroken(p::PromiseBroken {
            promise_id: "p-2".into(),
            reason: "late".into(),
        }),
        Payload::SolutionDelivered(p::SolutionDelivered {
            kind: p::SolutionKind::TechnicalService.into(),
            contact_ids: ids(&["c-zhang"]),
            description: "commissioning".into(),
        }),
        Payload::ThirdPartyProofShared(p::ThirdPartyProofShared {
            kind: p::ProofKind::TestReport.into(),
            contact_ids: ids(&["c-zhang"]),
            issuer: "National Building Materials Test Center".into(),
            description: "C30 strength".into(),
        }),
        Payload::FavorGiven(p::FavorGiven {
            contact_id: "c-zhang".into(),
            kind: p::FavorKind::Meal.into(),
            value: cny(30_000),
            purpose: "project review".into(),
            recipient_is_public_official: true,
            approval_reference: "CMP-7".into(),
            description: "lunch".into(),
        }),
        Payload::OrderWon(p::OrderWon {
            order_id: "o-1".into(),
            revenue: cny(120_000_000),
            margin: cny(-5_000),
            product: "C30 ready-mix concrete, 12,000 m3".into(),
            description: "first order".into(),
        }),
        Payload::OrderLost(p::OrderLost {
            order_id: "o-2".into(),
            reason: "price".into(),
            competitor: "Rival Cement".into(),
            lost_revenue: cny(900_000),
        }),
        Payload::PriceConcessionDemanded(p::PriceConcessionDemanded {
            order_id: "o-1".into(),
            discount_basis_points: 500,
            ultimatum: true,
            competitor: "Rival Cement".into(),
            description: "take it or leave it".into(),
        }),
        Payload::InvoiceIssued(p::InvoiceIssued {
            invoice_id: "i-1".into(),
            amount: cny(60_000_000),
            due_at: ts(NOV_1 + 30 * 86_400, 0),
            order_id: "o-1".into(),
        }),
        Payload::PaymentReceived(p::PaymentReceived {
            invoice_id: "i-1".into(),
            amount: cny(30_000_000),
            reference: "BANK-42".into(),
        }),
        Payload::CriticalAssistance(p::CriticalAssistance {
            contact_ids: ids(&["c-zhang"]),
            description: "trucks during the typhoon".into(),
            value_protected: cny(5_000_000),
        }),
        Payload::RelationshipCost(p::RelationshipCost {
            amount: cny(80_000),
            category: "event".into(),
            description: "customer day".into(),
        }),
        Payload::ContactForgotten(p::ContactForgotten {
            contact_id: "c-zhang".into(),
            reason: "erasure request 2026-117".into(),
        }),
    ];
    payloads
        .into_iter()
        .zip(0u8..)
        .map(|(payload, n)| event(n, payload))
        .collect()
}

/// A valid event whose payload is `payload`.
pub(super) fn with_payload(payload: Payload) -> proto::ProposedEvent {
    event(1, payload)
}

/// The fixture's event of type `t`.
pub(super) fn fixture(t: EventType) -> proto::ProposedEvent {
    every_event_type().into_iter().nth(t as usize).unwrap()
}
