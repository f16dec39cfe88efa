//! The payload of each event type, one struct per lever or fact of docs/domain.md §10, and the
//! [`Money`] they carry. What an event is, and which payload it holds, is the parent module's.

use serde::{Deserialize, Serialize};

use super::kinds::{AccountSegment, ContactRole, FavorKind, ProofKind, SolutionKind};
use crate::domain::personal::PersonalText;
use crate::domain::time::Timestamp;

/// An amount in integer minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units (cents, fen).
    pub minor_units: i64,
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
