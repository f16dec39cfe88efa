//! The closed lists a payload chooses from: a contact's role, an account's segment, and the
//! kinds of help, proof and favor. Their serde names are part of the stored record format, as
//! the payloads' are.

use serde::{Deserialize, Serialize};

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
