//! The type of an event apart from its payload: [`EventType`], its wire name, and the type of
//! each payload. Log filters and the projections' evidence name event types without a payload.

use serde::{Deserialize, Serialize};

use super::EventPayload;

/// The type of an event, named as on the wire (`visit`, `promise_kept`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    AccountOpened,
    ContactAdded,
    ContactLeft,
    IntroductionMade,
    Visit,
    Call,
    PromiseMade,
    PromiseKept,
    PromiseBroken,
    SolutionDelivered,
    ThirdPartyProofShared,
    FavorGiven,
    OrderWon,
    OrderLost,
    PriceConcessionDemanded,
    InvoiceIssued,
    PaymentReceived,
    CriticalAssistance,
    RelationshipCost,
    ContactForgotten,
}

impl EventType {
    /// Every event type, in the order of the wire contract.
    pub const ALL: [EventType; 20] = [
        EventType::AccountOpened,
        EventType::ContactAdded,
        EventType::ContactLeft,
        EventType::IntroductionMade,
        EventType::Visit,
        EventType::Call,
        EventType::PromiseMade,
        EventType::PromiseKept,
        EventType::PromiseBroken,
        EventType::SolutionDelivered,
        EventType::ThirdPartyProofShared,
        EventType::FavorGiven,
        EventType::OrderWon,
        EventType::OrderLost,
        EventType::PriceConcessionDemanded,
        EventType::InvoiceIssued,
        EventType::PaymentReceived,
        EventType::CriticalAssistance,
        EventType::RelationshipCost,
        EventType::ContactForgotten,
    ];

    /// The wire name: the `ProposedEvent.payload` field name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccountOpened => "account_opened",
            EventType::ContactAdded => "contact_added",
            EventType::ContactLeft => "contact_left",
            EventType::IntroductionMade => "introduction_made",
            EventType::Visit => "visit",
            EventType::Call => "call",
            EventType::PromiseMade => "promise_made",
            EventType::PromiseKept => "promise_kept",
            EventType::PromiseBroken => "promise_broken",
            EventType::SolutionDelivered => "solution_delivered",
            EventType::ThirdPartyProofShared => "third_party_proof_shared",
            EventType::FavorGiven => "favor_given",
            EventType::OrderWon => "order_won",
            EventType::OrderLost => "order_lost",
            EventType::PriceConcessionDemanded => "price_concession_demanded",
            EventType::InvoiceIssued => "invoice_issued",
            EventType::PaymentReceived => "payment_received",
            EventType::CriticalAssistance => "critical_assistance",
            EventType::RelationshipCost => "relationship_cost",
            EventType::ContactForgotten => "contact_forgotten",
        }
    }

    /// The type with this wire name, if any.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl EventPayload {
    /// The type of this payload.
    pub fn event_type(&self) -> EventType {
        match self {
            EventPayload::AccountOpened(_) => EventType::AccountOpened,
            EventPayload::ContactAdded(_) => EventType::ContactAdded,
            EventPayload::ContactLeft(_) => EventType::ContactLeft,
            EventPayload::IntroductionMade(_) => EventType::IntroductionMade,
            EventPayload::Visit(_) => EventType::Visit,
            EventPayload::Call(_) => EventType::Call,
            EventPayload::PromiseMade(_) => EventType::PromiseMade,
            EventPayload::PromiseKept(_) => EventType::PromiseKept,
            EventPayload::PromiseBroken(_) => EventType::PromiseBroken,
            EventPayload::SolutionDelivered(_) => EventType::SolutionDelivered,
            EventPayload::ThirdPartyProofShared(_) => EventType::ThirdPartyProofShared,
            EventPayload::FavorGiven(_) => EventType::FavorGiven,
            EventPayload::OrderWon(_) => EventType::OrderWon,
            EventPayload::OrderLost(_) => EventType::OrderLost,
            EventPayload::PriceConcessionDemanded(_) => EventType::PriceConcessionDemanded,
            EventPayload::InvoiceIssued(_) => EventType::InvoiceIssued,
            EventPayload::PaymentReceived(_) => EventType::PaymentReceived,
            EventPayload::CriticalAssistance(_) => EventType::CriticalAssistance,
            EventPayload::RelationshipCost(_) => EventType::RelationshipCost,
            EventPayload::ContactForgotten(_) => EventType::ContactForgotten,
        }
    }
}

#[cfg(test)]
mod tests;
