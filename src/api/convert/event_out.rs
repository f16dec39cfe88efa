//! Domain events onto the wire: what reads return.
//!
//! These conversions cannot fail, and they are the exact inverse of `event_in` for every event
//! it accepts: a client reads back the message it appended, field for field (with the event id
//! in lower case, as the ledger stores it), except personal fields whose contact was forgotten:
//! those are empty and listed in `RecordedEvent.erased_fields`. A record reaches the wire only
//! as a [`Revealed`] one, opened by `privacy::Privacy::reveal`, so no read path can skip the
//! opening; a sealed value that got here anyway would be shown as erased, never as ciphertext.

use super::enums::to_wire;
use super::timestamp_to_proto;
use crate::api::proto;
use crate::api::proto::proposed_event::Payload;
use crate::domain::{self, EventPayload, PersonalText};
use crate::privacy::Revealed;

/// The wire form of a proposed event.
pub fn proposed_event_to_proto(e: &domain::ProposedEvent) -> proto::ProposedEvent {
    proposed_event_with_erasures(e.clone(), &mut Vec::new())
}

/// The wire form of a proposed event, taken apart rather than copied (reads convert every
/// record they send, and the record is not needed afterwards); the paths of its erased
/// personal fields are added to `erased`.
fn proposed_event_with_erasures(
    e: domain::ProposedEvent,
    erased: &mut Vec<String>,
) -> proto::ProposedEvent {
    proto::ProposedEvent {
        event_id: e.event_id.to_string(),
        occurred_at: Some(timestamp_to_proto(e.occurred_at)),
        actor: e.actor,
        metadata: e.metadata,
        payload: Some(payload_to_proto(e.payload, erased)),
    }
}

/// The wire form of a recorded event, with its place in the log, its hash-chain link and its
/// event type's wire name.
pub fn recorded_event_to_proto(revealed: Revealed) -> proto::RecordedEvent {
    let r = revealed.into_record();
    let event_type = r.event.payload.event_type().as_str().to_string();
    let mut erased_fields = Vec::new();
    proto::RecordedEvent {
        event: Some(proposed_event_with_erasures(r.event, &mut erased_fields)),
        account_id: r.account_id.into_string(),
        revision: r.revision,
        position: r.position,
        recorded_at: Some(timestamp_to_proto(r.recorded_at)),
        recorded_by: r.recorded_by.unwrap_or_default(),
        prev_hash: r.prev_hash.0.to_vec(),
        hash: r.hash.0.to_vec(),
        event_type,
        erased_fields,
    }
}

/// The wire form of a personal field at `path`: its text when in clear, empty (and `path`
/// added to `erased`) otherwise.
fn personal(value: PersonalText, path: &str, erased: &mut Vec<String>) -> String {
    match value {
        PersonalText::Plain(text) => text,
        PersonalText::Sealed(_) | PersonalText::Erased => {
            erased.push(path.to_string());
            String::new()
        }
    }
}

/// The wire form of an amount.
fn money_to_proto(m: &domain::Money) -> proto::Money {
    proto::Money {
        currency: m.currency.clone(),
        minor_units: m.minor_units,
    }
}

/// The wire form of an optional amount (unset when `None`).
fn optional_money(m: &Option<domain::Money>) -> Option<proto::Money> {
    m.as_ref().map(money_to_proto)
}

/// The wire form of a payload: the oneof variant of the same name.
fn payload_to_proto(payload: EventPayload, erased: &mut Vec<String>) -> Payload {
    use proto as p;
    match payload {
        EventPayload::AccountOpened(e) => Payload::AccountOpened(p::AccountOpened {
            name: e.name,
            segment: to_wire::<p::AccountSegment>(e.segment),
            owner: e.owner,
            industry: e.industry,
            region: e.region,
        }),
        EventPayload::ContactAdded(e) => Payload::ContactAdded(p::ContactAdded {
            contact_id: e.contact_id,
            name: personal(e.name, "contact_added.name", erased),
            role: to_wire::<p::ContactRole>(e.role),
            title: e.title,
            phone: personal(e.phone, "contact_added.phone", erased),
            email: personal(e.email, "contact_added.email", erased),
            public_official: e.public_official,
            notes: personal(e.notes, "contact_added.notes", erased),
        }),
        EventPayload::ContactLeft(e) => Payload::ContactLeft(p::ContactLeft {
            contact_id: e.contact_id,
            reason: personal(e.reason, "contact_left.reason", erased),
        }),
        EventPayload::IntroductionMade(e) => Payload::IntroductionMade(p::IntroductionMade {
            contact_id: e.contact_id,
            introduced_by: e.introduced_by,
            relationship: personal(e.relationship, "introduction_made.relationship", erased),
            notes: personal(e.notes, "introduction_made.notes", erased),
        }),
        EventPayload::Visit(e) => Payload::Visit(p::Visit {
            contact_ids: e.contact_ids,
            purpose: e.purpose,
            summary: e.summary,
            next_visit_on: e.next_visit_on.map(timestamp_to_proto),
            next_visit_pretext: e.next_visit_pretext,
        }),
        EventPayload::Call(e) => Payload::Call(p::Call {
            contact_id: e.contact_id,
            summary: e.summary,
        }),
        EventPayload::PromiseMade(e) => Payload::PromiseMade(p::PromiseMade {
            promise_id: e.promise_id,
            contact_id: e.contact_id.unwrap_or_default(),
            description: e.description,
            due_at: Some(timestamp_to_proto(e.due_at)),
        }),
        EventPayload::PromiseKept(e) => Payload::PromiseKept(p::PromiseKept {
            promise_id: e.promise_id,
            note: e.note,
        }),
        EventPayload::PromiseBroken(e) => Payload::PromiseBroken(p::PromiseBroken {
            promise_id: e.promise_id,
            reason: e.reason,
        }),
        EventPayload::SolutionDelivered(e) => Payload::SolutionDelivered(p::SolutionDelivered {
            kind: to_wire::<p::SolutionKind>(e.kind),
            contact_ids: e.contact_ids,
            description: e.description,
        }),
        EventPayload::ThirdPartyProofShared(e) => {
            Payload::ThirdPartyProofShared(p::ThirdPartyProofShared {
                kind: to_wire::<p::ProofKind>(e.kind),
                contact_ids: e.contact_ids,
                issuer: e.issuer,
                description: e.description,
            })
        }
        EventPayload::FavorGiven(e) => Payload::FavorGiven(p::FavorGiven {
            contact_id: e.contact_id,
            kind: to_wire::<p::FavorKind>(e.kind),
            value: Some(money_to_proto(&e.value)),
            purpose: e.purpose,
            recipient_is_public_official: e.recipient_is_public_official,
            approval_reference: e.approval_reference,
            description: e.description,
        }),
        EventPayload::OrderWon(e) => Payload::OrderWon(p::OrderWon {
            order_id: e.order_id,
            revenue: Some(money_to_proto(&e.revenue)),
            margin: optional_money(&e.margin),
            product: e.product,
            description: e.description,
        }),
        EventPayload::OrderLost(e) => Payload::OrderLost(p::OrderLost {
            order_id: e.order_id,
            reason: e.reason,
            competitor: e.competitor,
            lost_revenue: optional_money(&e.lost_revenue),
        }),
        EventPayload::PriceConcessionDemanded(e) => {
            Payload::PriceConcessionDemanded(p::PriceConcessionDemanded {
                order_id: e.order_id,
                discount_basis_points: e.discount_basis_points,
                ultimatum: e.ultimatum,
                competitor: e.competitor,
                description: e.description,
            })
        }
        EventPayload::InvoiceIssued(e) => Payload::InvoiceIssued(p::InvoiceIssued {
            invoice_id: e.invoice_id,
            amount: Some(money_to_proto(&e.amount)),
            due_at: Some(timestamp_to_proto(e.due_at)),
            order_id: e.order_id,
        }),
        EventPayload::PaymentReceived(e) => Payload::PaymentReceived(p::PaymentReceived {
            invoice_id: e.invoice_id,
            amount: Some(money_to_proto(&e.amount)),
            reference: e.reference,
        }),
        EventPayload::CriticalAssistance(e) => Payload::CriticalAssistance(p::CriticalAssistance {
            contact_ids: e.contact_ids,
            description: e.description,
            value_protected: optional_money(&e.value_protected),
        }),
        EventPayload::RelationshipCost(e) => Payload::RelationshipCost(p::RelationshipCost {
            amount: Some(money_to_proto(&e.amount)),
            category: e.category,
            description: e.description,
        }),
        EventPayload::ContactForgotten(e) => Payload::ContactForgotten(p::ContactForgotten {
            contact_id: e.contact_id,
            reason: e.reason,
        }),
    }
}
