//! The five wire enums of the event payloads and their domain counterparts.
//!
//! The wire and the domain name their variants alike, so one table per enum drives both
//! directions. The matches it generates have no `_` arm: a variant added to either side without
//! the other fails the build instead of being mapped by accident.

use crate::api::proto;
use crate::domain;

/// A wire enum (stored as `i32` in its message) paired with the domain enum it maps to.
pub(super) trait WireEnum: Copy + TryFrom<i32> + Into<i32> {
    /// The domain enum.
    type Domain: Copy;
    /// The enum's name in the proto, for error messages: `ContactRole`.
    const NAME: &'static str;
    /// The name of the zero value, for error messages: `CONTACT_ROLE_UNSPECIFIED`.
    const UNSPECIFIED: &'static str;

    /// The domain value; `None` for the zero value when the domain has no meaning for it
    /// (a field that must be set).
    fn to_domain(self) -> Option<Self::Domain>;

    /// The wire value of a domain value.
    fn from_domain(value: Self::Domain) -> Self;
}

/// Implements [`WireEnum`] for `proto::$name` paired with `domain::$name`. The listed variants
/// map to the same-named variant on the other side; `unspecified => expr` says what the wire's
/// zero value means when the domain has no `Unspecified` variant of its own.
macro_rules! wire_enum {
    ($name:ident, $unspecified_name:literal { $($variant:ident),+ $(,)? } $(unspecified => $unspecified:expr)?) => {
        impl WireEnum for proto::$name {
            type Domain = domain::$name;
            const NAME: &'static str = stringify!($name);
            const UNSPECIFIED: &'static str = $unspecified_name;

            fn to_domain(self) -> Option<domain::$name> {
                match self {
                    $(proto::$name::$variant => Some(domain::$name::$variant),)+
                    $(proto::$name::Unspecified => $unspecified,)?
                }
            }

            fn from_domain(value: domain::$name) -> Self {
                match value {
                    $(domain::$name::$variant => proto::$name::$variant,)+
                }
            }
        }
    };
}

wire_enum!(ContactRole, "CONTACT_ROLE_UNSPECIFIED" {
    DecisionMaker, TechnicalEvaluator, Procurement, User, Other,
} unspecified => None);

// The proto documents an unspecified segment as a standard account.
wire_enum!(AccountSegment, "ACCOUNT_SEGMENT_UNSPECIFIED" {
    Standard, Key,
} unspecified => Some(domain::AccountSegment::Standard));

// The domain keeps "unspecified" as a kind of its own: it still counts as a solution.
wire_enum!(SolutionKind, "SOLUTION_KIND_UNSPECIFIED" {
    Unspecified, DesignProposal, TechnicalService, Training, Other,
});

wire_enum!(ProofKind, "PROOF_KIND_UNSPECIFIED" {
    TestReport, ReferenceInstallation, CustomerReference, FactoryTour, Certification, Award,
} unspecified => None);

// Cash and its equivalents map through like any other kind: the domain refuses them with the
// message the proto promises, so the API layer need not know that rule.
wire_enum!(FavorKind, "FAVOR_KIND_UNSPECIFIED" {
    Meal, Drinks, Gift, Entertainment, Travel, Other, Cash, Voucher, GiftCard,
} unspecified => None);

/// The `i32` the wire carries for a domain value.
pub(super) fn to_wire<E: WireEnum>(value: E::Domain) -> i32 {
    E::from_domain(value).into()
}

#[cfg(test)]
mod tests;
