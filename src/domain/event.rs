//! The events of a customer relationship, in the domain's own types.
//!
//! Each payload stands for a paragraph of docs/domain.md (its §10 lists them): the levers that
//! build trust, and the commercial facts that measure the business. The serde form of these
//! types is the stored record format (version 1, see `store::codec`); golden tests there pin
//! it, so changing a field here without a new record version fails the build's tests rather
//! than old data.
//!
//! - this file: [`ProposedEvent`], and [`EventPayload`], which of the event types it is;
//! - `payloads`: the payload of each event type, and [`Money`];
//! - `kinds`: the closed lists a payload chooses from ([`ContactRole`], [`FavorKind`], ...);
//! - `event_type`: [`EventType`], an event's type and its wire name;
//! - `personal_fields`: which fields of a payload are personal data about which contact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::EventId;
use super::time::Timestamp;

mod event_type;
mod kinds;
mod payloads;
mod personal_fields;

pub use event_type::EventType;
pub use kinds::{AccountSegment, ContactRole, FavorKind, ProofKind, SolutionKind};
pub use payloads::{
    AccountOpened, Call, ContactAdded, ContactForgotten, ContactLeft, CriticalAssistance,
    FavorGiven, IntroductionMade, InvoiceIssued, Money, OrderLost, OrderWon, PaymentReceived,
    PriceConcessionDemanded, PromiseBroken, PromiseKept, PromiseMade, RelationshipCost,
    SolutionDelivered, ThirdPartyProofShared, Visit,
};
pub use personal_fields::PersonalFields;

/// The metadata key the server records the trace of the request that appended an event under
/// (its OpenTelemetry trace id), unless the client set it.
pub const CORRELATION_ID: &str = "correlation_id";
/// The metadata key the server records the caller's span under (from its W3C `traceparent`),
/// unless the client set it.
pub const CAUSATION_ID: &str = "causation_id";

impl ProposedEvent {
    /// Whether its metadata holds a trace's ids, which tell the request that appended it, not
    /// the event (see `store::codec::content_digest`).
    pub fn is_traced(&self) -> bool {
        self.metadata.contains_key(CORRELATION_ID) || self.metadata.contains_key(CAUSATION_ID)
    }

    /// The event without its trace's ids.
    pub fn untraced(&self) -> ProposedEvent {
        let mut event = self.clone();
        event.metadata.remove(CORRELATION_ID);
        event.metadata.remove(CAUSATION_ID);
        event
    }
}

/// An event as proposed by a client, before the log gives it a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedEvent {
    /// The client-chosen id that makes appends idempotent.
    pub event_id: EventId,
    /// When it happened in the business (business time).
    pub occurred_at: Timestamp,
    /// Who recorded it: a salesperson's login or a system's name.
    pub actor: String,
    /// Correlation and causation ids; never interpreted. A `BTreeMap` so that the encoding,
    /// and with it the hash chain, does not depend on insertion order.
    pub metadata: BTreeMap<String, String>,
    /// What happened.
    pub payload: EventPayload,
}

#[cfg(test)]
impl ProposedEvent {
    /// A fresh event with `payload`, for unit tests that care only about the payload.
    pub(crate) fn of(payload: EventPayload) -> ProposedEvent {
        ProposedEvent {
            event_id: EventId::new_random(),
            occurred_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            actor: "tester".into(),
            metadata: BTreeMap::new(),
            payload,
        }
    }
}

/// What happened: one variant per event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPayload {
    AccountOpened(AccountOpened),
    ContactAdded(ContactAdded),
    ContactLeft(ContactLeft),
    IntroductionMade(IntroductionMade),
    Visit(Visit),
    Call(Call),
    PromiseMade(PromiseMade),
    PromiseKept(PromiseKept),
    PromiseBroken(PromiseBroken),
    SolutionDelivered(SolutionDelivered),
    ThirdPartyProofShared(ThirdPartyProofShared),
    FavorGiven(FavorGiven),
    OrderWon(OrderWon),
    OrderLost(OrderLost),
    PriceConcessionDemanded(PriceConcessionDemanded),
    InvoiceIssued(InvoiceIssued),
    PaymentReceived(PaymentReceived),
    CriticalAssistance(CriticalAssistance),
    RelationshipCost(RelationshipCost),
    ContactForgotten(ContactForgotten),
}
