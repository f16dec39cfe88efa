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
mod tests {
    use super::*;

    /// Every wire value other than an unmapped zero survives wire -> domain -> wire.
    fn round_trips<E: WireEnum + std::fmt::Debug + PartialEq>() {
        let mut mapped = 0;
        for raw in 0..32 {
            let Ok(wire) = E::try_from(raw) else { continue };
            if let Some(value) = wire.to_domain() {
                assert_eq!(to_wire::<E>(value), raw, "{} value {raw}", E::NAME);
                mapped += 1;
            }
        }
        assert!(mapped > 0);
    }

    #[test]
    fn every_mapped_value_round_trips() {
        round_trips::<proto::ContactRole>();
        round_trips::<proto::SolutionKind>();
        round_trips::<proto::ProofKind>();
        round_trips::<proto::FavorKind>();
        // ACCOUNT_SEGMENT_UNSPECIFIED deliberately becomes STANDARD, so it does not round-trip.
        assert_eq!(
            proto::AccountSegment::Unspecified.to_domain(),
            Some(domain::AccountSegment::Standard)
        );
        assert_eq!(
            to_wire::<proto::AccountSegment>(domain::AccountSegment::Key),
            2
        );
    }

    #[test]
    fn zero_values_that_must_be_set_have_no_domain_value() {
        assert_eq!(proto::ContactRole::Unspecified.to_domain(), None);
        assert_eq!(proto::ProofKind::Unspecified.to_domain(), None);
        assert_eq!(proto::FavorKind::Unspecified.to_domain(), None);
        assert_eq!(
            proto::SolutionKind::Unspecified.to_domain(),
            Some(domain::SolutionKind::Unspecified)
        );
    }
}
