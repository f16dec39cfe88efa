//! The events of a customer relationship, in the domain's own types.
//!
//! Each payload stands for a paragraph of docs/domain.md (its §10 lists them): the levers that
//! build trust, and the commercial facts that measure the business. The serde form of these
//! types is the stored record format (version 1, see `store::codec`); golden tests there pin
//! it, so changing a field here without a new record version fails the build's tests rather
//! than old data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::EventId;
use super::personal::PersonalText;
use super::time::Timestamp;

mod personal_fields;

pub use personal_fields::PersonalFields;

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

/// An amount in integer minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units (cents, fen).
    pub minor_units: i64,
}

/// The part a contact plays in the customer's buying decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    /// Signs off on the purchase.
    DecisionMaker,
    /// Judges the product technically.
    TechnicalEvaluator,
    /// Runs purchasing and negotiates price.
    Procurement,
    /// Uses the product day to day.
    User,
    /// Anyone else.
    Other,
}

/// How the supplier classifies an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountSegment {
    /// An ordinary account.
    Standard,
    /// A key ("big customer") account, visited more often.
    Key,
}

/// The kind of expert help delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolutionKind {
    /// The client did not say.
    Unspecified,
    /// A design proposal.
    DesignProposal,
    /// Technical service.
    TechnicalService,
    /// Training.
    Training,
    /// Other expert help.
    Other,
}

/// The kind of third-party proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofKind {
    /// A test report from an authority.
    TestReport,
    /// Equipment running elsewhere.
    ReferenceInstallation,
    /// A reference from another customer.
    CustomerReference,
    /// A tour of the supplier's factory.
    FactoryTour,
    /// A certificate such as ISO 9000.
    Certification,
    /// An industry award.
    Award,
}

/// The kind of a small favor. Cash and its equivalents exist only to be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FavorKind {
    /// A meal.
    Meal,
    /// Drinks.
    Drinks,
    /// A small gift.
    Gift,
    /// Entertainment.
    Entertainment,
    /// Travel or accommodation.
    Travel,
    /// Other hospitality.
    Other,
    /// Cash: never recorded.
    Cash,
    /// A voucher: never recorded.
    Voucher,
    /// A gift card: never recorded.
    GiftCard,
}

impl FavorKind {
    /// Cash and cash equivalents, which the ledger refuses outright (docs/domain.md §8).
    pub fn is_cash_equivalent(self) -> bool {
        matches!(
            self,
            FavorKind::Cash | FavorKind::Voucher | FavorKind::GiftCard
        )
    }
}

/// The account's stream begins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOpened {
    /// The customer's name.
    pub name: String,
    /// Standard or key account.
    pub segment: AccountSegment,
    /// The owning salesperson.
    pub owner: String,
    /// The customer's industry.
    pub industry: String,
    /// Where the customer operates.
    pub region: String,
}

/// A person at the customer becomes known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAdded {
    /// Account-scoped contact id: a pseudonymous reference, kept in clear (validation and the
    /// projections need it), so it must not be the person's name.
    pub contact_id: String,
    /// Name (personal data).
    pub name: PersonalText,
    /// Buying role.
    pub role: ContactRole,
    /// Job title: the position at the customer, not the person, so kept in clear.
    pub title: String,
    /// Phone (personal data).
    pub phone: PersonalText,
    /// E-mail (personal data).
    pub email: PersonalText,
    /// A public official: favors need an approval reference.
    pub public_official: bool,
    /// Notes about the person (personal data).
    pub notes: PersonalText,
}

/// A contact left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLeft {
    /// Who left.
    pub contact_id: String,
    /// Why ("retired", "fell ill"): a note about the person's life, so personal data.
    pub reason: PersonalText,
}

/// An introduction by someone the customer knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroductionMade {
    /// The contact introduced to.
    pub contact_id: String,
    /// Who introduced: the introducer, another person than the contact, so not erased with
    /// the contact (name a contact id here to keep names out of the log).
    pub introduced_by: String,
    /// How the introducer knows the contact ("university classmate"): personal data.
    pub relationship: PersonalText,
    /// Notes about the introduction to the contact: personal data.
    pub notes: PersonalText,
}

/// A contact's personal data was erased at their request (`Ledger.ForgetContact`): the key
/// that sealed it was destroyed before this was recorded. Changes no score and no alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactForgotten {
    /// The contact forgotten.
    pub contact_id: String,
    /// Why, for the record ("erasure request 2026-117"); never personal data.
    pub reason: String,
}

/// A visit to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// The contacts met (at least one).
    pub contact_ids: Vec<String>,
    /// This visit's pretext.
    pub purpose: String,
    /// What was learned.
    pub summary: String,
    /// When the next visit is planned, if a hook was left.
    pub next_visit_on: Option<Timestamp>,
    /// The pretext of the next visit.
    pub next_visit_pretext: String,
}

/// A phone call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The contact called.
    pub contact_id: String,
    /// What was discussed.
    pub summary: String,
}

/// A commitment to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseMade {
    /// Account-scoped promise id.
    pub promise_id: String,
    /// The contact promised to, if one.
    pub contact_id: Option<String>,
    /// What was promised.
    pub description: String,
    /// When it is due.
    pub due_at: Timestamp,
}

/// An open promise was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseKept {
    /// The promise.
    pub promise_id: String,
    /// How.
    pub note: String,
}

/// An open promise was broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseBroken {
    /// The promise.
    pub promise_id: String,
    /// Why.
    pub reason: String,
}

/// Expert help delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolutionDelivered {
    /// The kind of help.
    pub kind: SolutionKind,
    /// The contacts helped.
    pub contact_ids: Vec<String>,
    /// What was delivered.
    pub description: String,
}

/// Third-party proof shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThirdPartyProofShared {
    /// The kind of proof.
    pub kind: ProofKind,
    /// The contacts it was shared with.
    pub contact_ids: Vec<String>,
    /// Who issued it.
    pub issuer: String,
    /// What it shows.
    pub description: String,
}

/// A small favor given to a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FavorGiven {
    /// The recipient.
    pub contact_id: String,
    /// The kind of favor.
    pub kind: FavorKind,
    /// What it cost.
    pub value: Money,
    /// The business purpose.
    pub purpose: String,
    /// The recipient is a public official.
    pub recipient_is_public_official: bool,
    /// The compliance approval.
    pub approval_reference: String,
    /// What exactly was given.
    pub description: String,
}

/// An order won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderWon {
    /// The order id.
    pub order_id: String,
    /// Revenue.
    pub revenue: Money,
    /// Margin; may be negative, at most the revenue.
    pub margin: Option<Money>,
    /// What was sold.
    pub product: String,
    /// Notes.
    pub description: String,
}

/// An order lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLost {
    /// The order or tender reference.
    pub order_id: String,
    /// Why.
    pub reason: String,
    /// Who won it.
    pub competitor: String,
    /// The revenue at stake.
    pub lost_revenue: Option<Money>,
}

/// A demand for a lower price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceConcessionDemanded {
    /// The order or project concerned.
    pub order_id: String,
    /// The discount demanded in basis points (at most 10,000).
    pub discount_basis_points: u32,
    /// Whether it came as an ultimatum.
    pub ultimatum: bool,
    /// The competitor cited.
    pub competitor: String,
    /// Notes.
    pub description: String,
}

/// An invoice issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    /// The invoice id.
    pub invoice_id: String,
    /// The amount owed.
    pub amount: Money,
    /// When payment is due.
    pub due_at: Timestamp,
    /// The order invoiced.
    pub order_id: String,
}

/// A payment received against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceived {
    /// The invoice paid.
    pub invoice_id: String,
    /// The amount paid.
    pub amount: Money,
    /// The remittance reference.
    pub reference: String,
}

/// Help beyond the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalAssistance {
    /// The contacts helped.
    pub contact_ids: Vec<String>,
    /// What was done.
    pub description: String,
    /// The value the customer saved, if known.
    pub value_protected: Option<Money>,
}

/// Money spent on the relationship that is not a favor to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipCost {
    /// What it cost.
    pub amount: Money,
    /// A category such as "travel".
    pub category: String,
    /// What it was.
    pub description: String,
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

/// The type of an event, named as on the wire (`visit`, `promise_kept`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(EventType::from_name("meeting"), None);
    }
}
