use super::*;

#[test]
fn defaults_are_scorings() {
    let p = Params::default();
    assert_eq!(p.params_version, DEFAULT_PARAMS_VERSION);
    assert_eq!((p.prior_weight, p.base_rate), (2.0, 0.5));
    assert_eq!(p.weights.critical_assistance.half_life_days, 730);
    assert_eq!(p.gift_item_limit_minor, 10_000);
    assert_eq!(p.gift_year_limit_minor, 30_000);
}

#[test]
fn key_accounts_are_visited_every_thirty_days_whoever_the_contact() {
    let c = Params::default().cadence;
    assert_eq!(
        c.expected_days(AccountSegment::Key, Some(ContactRole::User)),
        30
    );
    assert_eq!(
        c.expected_days(AccountSegment::Standard, Some(ContactRole::DecisionMaker)),
        45
    );
    assert_eq!(
        c.expected_days(
            AccountSegment::Standard,
            Some(ContactRole::TechnicalEvaluator)
        ),
        30
    );
    assert_eq!(
        c.expected_days(AccountSegment::Standard, Some(ContactRole::Procurement)),
        60
    );
    assert_eq!(c.expected_days(AccountSegment::Standard, None), 60);
}
