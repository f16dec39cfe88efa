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
