//! Builders of valid wire events, one per event type.

use relledger::api::proto::{self, proposed_event::Payload};

/// The ledger's default currency.
pub const CURRENCY: &str = "CNY";

/// A fixed recent business time (2026-10-01T08:00:00Z) plus `minutes`, so fixtures are valid
/// whatever the day the tests run and never lie in the future.
pub fn at(minutes: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: 1_790_841_600 + minutes * 60,
        nanos: 0,
    }
}

/// An amount in the ledger's currency.
pub fn money(minor_units: i64) -> Option<proto::Money> {
    Some(proto::Money {
        currency: CURRENCY.to_string(),
        minor_units,
    })
}

/// An event with a fresh id at `at(minute)`.
pub fn event(minute: i64, payload: Payload) -> proto::ProposedEvent {
    proto::ProposedEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        occurred_at: Some(at(minute)),
        actor: "li.wei".to_string(),
        metadata: [("correlation_id".to_string(), "test-1".to_string())].into(),
        payload: Some(payload),
    }
}

pub fn account_opened(name: &str) -> Payload {
    Payload::AccountOpened(proto::AccountOpened {
        name: name.to_string(),
        segment: proto::AccountSegment::Key as i32,
        owner: "li.wei".to_string(),
        industry: "ready-mix concrete".to_string(),
        region: "east".to_string(),
    })
}

pub fn contact_added(contact_id: &str, role: proto::ContactRole) -> Payload {
    Payload::ContactAdded(proto::ContactAdded {
        contact_id: contact_id.to_string(),
        name: format!("Name of {contact_id}"),
        role: role as i32,
        title: "chief engineer".to_string(),
        phone: "+86 21 5555 0100".to_string(),
        email: format!("{contact_id}@example.com"),
        public_official: false,
        notes: "likes go".to_string(),
    })
}

pub fn visit(contact_ids: &[&str]) -> Payload {
    Payload::Visit(proto::Visit {
        contact_ids: contact_ids.iter().map(|c| c.to_string()).collect(),
        purpose: "deliver the test report".to_string(),
        summary: "asked about winter curing".to_string(),
        next_visit_on: Some(at(60 * 24 * 14)),
        next_visit_pretext: "bring curing guidance".to_string(),
    })
}

pub fn promise_made(promise_id: &str, contact_id: &str) -> Payload {
    Payload::PromiseMade(proto::PromiseMade {
        promise_id: promise_id.to_string(),
        contact_id: contact_id.to_string(),
        description: "send a design proposal".to_string(),
        due_at: Some(at(60 * 24 * 7)),
    })
}

pub fn promise_kept(promise_id: &str) -> Payload {
    Payload::PromiseKept(proto::PromiseKept {
        promise_id: promise_id.to_string(),
        note: "sent on time".to_string(),
    })
}

pub fn favor(contact_id: &str, kind: proto::FavorKind, minor_units: i64) -> Payload {
    Payload::FavorGiven(proto::FavorGiven {
        contact_id: contact_id.to_string(),
        kind: kind as i32,
        value: money(minor_units),
        purpose: "project kick-off".to_string(),
        recipient_is_public_official: false,
        approval_reference: String::new(),
        description: "lunch".to_string(),
    })
}

pub fn relationship_cost(minor_units: i64) -> Payload {
    Payload::RelationshipCost(proto::RelationshipCost {
        amount: money(minor_units),
        category: "travel".to_string(),
        description: "site visit".to_string(),
    })
}

/// An opened account with contact `c1` (a decision maker), as one batch.
pub fn opening(name: &str) -> Vec<proto::ProposedEvent> {
    vec![
        event(0, account_opened(name)),
        event(1, contact_added("c1", proto::ContactRole::DecisionMaker)),
    ]
}

/// One valid event of every type, in an order that makes each valid after the ones before it.
pub fn one_of_each_type() -> Vec<proto::ProposedEvent> {
    use proto::*;
    let payloads = vec![
        account_opened("Harbour Construction"),
        contact_added("c1", ContactRole::DecisionMaker),
        contact_added("c2", ContactRole::TechnicalEvaluator),
        Payload::IntroductionMade(IntroductionMade {
            contact_id: "c1".into(),
            introduced_by: "Wang, a former colleague".into(),
            relationship: "university classmate".into(),
            notes: "warm".into(),
        }),
        visit(&["c1", "c2"]),
        Payload::Call(Call {
            contact_id: "c2".into(),
            summary: "slump test results".into(),
        }),
        promise_made("p1", "c1"),
        promise_kept("p1"),
        promise_made("p2", "c2"),
        Payload::PromiseBroken(PromiseBroken {
            promise_id: "p2".into(),
            reason: "plant outage".into(),
        }),
        Payload::SolutionDelivered(SolutionDelivered {
            kind: SolutionKind::DesignProposal as i32,
            contact_ids: vec!["c2".into()],
            description: "mix design for the pier".into(),
        }),
        Payload::ThirdPartyProofShared(ThirdPartyProofShared {
            kind: ProofKind::TestReport as i32,
            contact_ids: vec!["c2".into()],
            issuer: "National Building Materials Test Center".into(),
            description: "C50 strength report".into(),
        }),
        favor("c1", FavorKind::Meal, 45_000),
        Payload::OrderWon(OrderWon {
            order_id: "o1".into(),
            revenue: money(120_000_000),
            margin: money(9_000_000),
            product: "C30 ready-mix, 12,000 m3".into(),
            description: "pier foundations".into(),
        }),
        Payload::OrderLost(OrderLost {
            order_id: "o2".into(),
            reason: "price".into(),
            competitor: "Rival Concrete".into(),
            lost_revenue: money(50_000_000),
        }),
        Payload::PriceConcessionDemanded(PriceConcessionDemanded {
            order_id: "o1".into(),
            discount_basis_points: 500,
            ultimatum: true,
            competitor: "Rival Concrete".into(),
            description: "owner pushed the price down".into(),
        }),
        Payload::InvoiceIssued(InvoiceIssued {
            invoice_id: "i1".into(),
            amount: money(60_000_000),
            due_at: Some(at(60 * 24 * 30)),
            order_id: "o1".into(),
        }),
        Payload::PaymentReceived(PaymentReceived {
            invoice_id: "i1".into(),
            amount: money(20_000_000),
            reference: "BANK-778".into(),
        }),
        Payload::CriticalAssistance(CriticalAssistance {
            contact_ids: vec!["c1".into()],
            description: "moved the stock before the typhoon".into(),
            value_protected: money(60_000_000),
        }),
        relationship_cost(300_000),
        Payload::ContactLeft(ContactLeft {
            contact_id: "c2".into(),
            reason: "retired".into(),
        }),
    ];
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, p)| event(i as i64 * 10, p))
        .collect()
}

/// The wire name of a payload's type: its oneof field name.
pub fn payload_name(payload: &Payload) -> &'static str {
    match payload {
        Payload::AccountOpened(_) => "account_opened",
        Payload::ContactAdded(_) => "contact_added",
        Payload::ContactLeft(_) => "contact_left",
        Payload::IntroductionMade(_) => "introduction_made",
        Payload::Visit(_) => "visit",
        Payload::Call(_) => "call",
        Payload::PromiseMade(_) => "promise_made",
        Payload::PromiseKept(_) => "promise_kept",
        Payload::PromiseBroken(_) => "promise_broken",
        Payload::SolutionDelivered(_) => "solution_delivered",
        Payload::ThirdPartyProofShared(_) => "third_party_proof_shared",
        Payload::FavorGiven(_) => "favor_given",
        Payload::OrderWon(_) => "order_won",
        Payload::OrderLost(_) => "order_lost",
        Payload::PriceConcessionDemanded(_) => "price_concession_demanded",
        Payload::InvoiceIssued(_) => "invoice_issued",
        Payload::PaymentReceived(_) => "payment_received",
        Payload::CriticalAssistance(_) => "critical_assistance",
        Payload::RelationshipCost(_) => "relationship_cost",
        Payload::ContactForgotten(_) => "contact_forgotten",
    }
}

// Builders for the relationship scenarios: events dated in whole days around `at(0)`.

/// `at(0)` plus `days` whole days (negative: earlier).
pub fn on_day(days: i64) -> pbjson_types::Timestamp {
    at(days * 24 * 60)
}

/// An event with a fresh id on `on_day(days)`.
pub fn event_on(days: i64, payload: Payload) -> proto::ProposedEvent {
    event(days * 24 * 60, payload)
}

pub fn account_opened_by(name: &str, owner: &str, segment: proto::AccountSegment) -> Payload {
    Payload::AccountOpened(proto::AccountOpened {
        name: name.to_string(),
        segment: segment as i32,
        owner: owner.to_string(),
        industry: "construction".to_string(),
        region: "east".to_string(),
    })
}

/// A contact who is a public official: every favor to them needs an approval reference.
pub fn official_added(contact_id: &str) -> Payload {
    Payload::ContactAdded(proto::ContactAdded {
        contact_id: contact_id.to_string(),
        name: format!("Name of {contact_id}"),
        role: proto::ContactRole::Other as i32,
        title: "district planning officer".to_string(),
        phone: Default::default(),
        email: Default::default(),
        public_official: true,
        notes: Default::default(),
    })
}

pub fn introduction(contact_id: &str) -> Payload {
    Payload::IntroductionMade(proto::IntroductionMade {
        contact_id: contact_id.to_string(),
        introduced_by: "the chairman".to_string(),
        relationship: "university classmates".to_string(),
        notes: Default::default(),
    })
}

/// A visit that plans the next one on `next_visit_on`.
pub fn visit_planning(contact_ids: &[&str], next_visit_on: pbjson_types::Timestamp) -> Payload {
    Payload::Visit(proto::Visit {
        contact_ids: contact_ids.iter().map(|c| c.to_string()).collect(),
        purpose: "site meeting".to_string(),
        summary: String::new(),
        next_visit_on: Some(next_visit_on),
        next_visit_pretext: "bring the test report".to_string(),
    })
}

pub fn call(contact_id: &str) -> Payload {
    Payload::Call(proto::Call {
        contact_id: contact_id.to_string(),
        summary: "pour schedule".to_string(),
    })
}

pub fn promise_due(promise_id: &str, contact_id: &str, due_at: pbjson_types::Timestamp) -> Payload {
    Payload::PromiseMade(proto::PromiseMade {
        promise_id: promise_id.to_string(),
        contact_id: contact_id.to_string(),
        description: "deliver the pour on time".to_string(),
        due_at: Some(due_at),
    })
}

pub fn solution(contact_ids: &[&str]) -> Payload {
    Payload::SolutionDelivered(proto::SolutionDelivered {
        kind: proto::SolutionKind::DesignProposal as i32,
        contact_ids: contact_ids.iter().map(|c| c.to_string()).collect(),
        description: "mix design for the design institute".to_string(),
    })
}

pub fn order_won(order_id: &str, revenue: i64, margin: i64) -> Payload {
    Payload::OrderWon(proto::OrderWon {
        order_id: order_id.to_string(),
        revenue: money(revenue),
        margin: money(margin),
        product: "C30 ready-mix".to_string(),
        description: String::new(),
    })
}

/// An ultimatum: "take it at this price or another producer will".
pub fn price_concession(discount_basis_points: u32) -> Payload {
    Payload::PriceConcessionDemanded(proto::PriceConcessionDemanded {
        order_id: "next-project".to_string(),
        discount_basis_points,
        ultimatum: true,
        competitor: "another producer".to_string(),
        description: "the owner pushed this project's price down".to_string(),
    })
}

pub fn invoice(invoice_id: &str, minor_units: i64, due_at: pbjson_types::Timestamp) -> Payload {
    Payload::InvoiceIssued(proto::InvoiceIssued {
        invoice_id: invoice_id.to_string(),
        amount: money(minor_units),
        due_at: Some(due_at),
        order_id: String::new(),
    })
}

pub fn payment(invoice_id: &str, minor_units: i64) -> Payload {
    Payload::PaymentReceived(proto::PaymentReceived {
        invoice_id: invoice_id.to_string(),
        amount: money(minor_units),
        reference: "BANK-1".to_string(),
    })
}

/// Help beyond the contract: the typhoon.
pub fn critical_assistance(contact_ids: &[&str]) -> Payload {
    Payload::CriticalAssistance(proto::CriticalAssistance {
        contact_ids: contact_ids.iter().map(|c| c.to_string()).collect(),
        description: "moved the cement out of the warehouse before the typhoon".to_string(),
        value_protected: money(60_000_000),
    })
}

/// A favor with its compliance fields: the recipient flagged on the event as a public
/// official or not, and the approval reference (empty for none).
pub fn favor_with(
    contact_id: &str,
    kind: proto::FavorKind,
    minor_units: i64,
    recipient_is_public_official: bool,
    approval_reference: &str,
) -> Payload {
    Payload::FavorGiven(proto::FavorGiven {
        contact_id: contact_id.to_string(),
        kind: kind as i32,
        value: money(minor_units),
        purpose: "project kick-off".to_string(),
        recipient_is_public_official,
        approval_reference: approval_reference.to_string(),
        description: "dinner".to_string(),
    })
}

// Builders for the privacy tests: contacts with personal data a test can look for.

/// A contact's personal data, as `ContactAdded` carries it.
#[derive(Debug, Clone, Copy)]
pub struct PersonalData {
    pub name: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub notes: &'static str,
}

/// `contact_added` of `contact_id` (a decision maker) with `data`.
pub fn contact_with(contact_id: &str, data: &PersonalData) -> Payload {
    Payload::ContactAdded(proto::ContactAdded {
        contact_id: contact_id.to_string(),
        name: data.name.to_string(),
        role: proto::ContactRole::DecisionMaker as i32,
        title: "project manager".to_string(),
        phone: data.phone.to_string(),
        email: data.email.to_string(),
        public_official: false,
        notes: data.notes.to_string(),
    })
}

/// An introduction to `contact_id` with its personal `relationship` and `notes`.
pub fn introduction_with(contact_id: &str, relationship: &str, notes: &str) -> Payload {
    Payload::IntroductionMade(proto::IntroductionMade {
        contact_id: contact_id.to_string(),
        introduced_by: "c-0043".to_string(),
        relationship: relationship.to_string(),
        notes: notes.to_string(),
    })
}

/// `contact_left` of `contact_id` for `reason` (personal data; empty for none).
pub fn contact_left_because(contact_id: &str, reason: &str) -> Payload {
    Payload::ContactLeft(proto::ContactLeft {
        contact_id: contact_id.to_string(),
        reason: reason.to_string(),
    })
}
