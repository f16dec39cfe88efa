use super::*;
use crate::domain::event::AccountSegment::Standard;
use crate::domain::projection::project;
use crate::domain::projection::testkit::{day, Log};

fn account(revenue: i64) -> AccountProjection {
    let mut log = Log::opened(Standard);
    log.order(1, revenue, None);
    project(&log.events, day(2), &Params::default())
}

#[test]
fn shares_hhi_and_thresholds() {
    let id = |s: &str| AccountId::parse(s).unwrap();
    let accounts = vec![
        (id("c"), account(100)),
        (id("a"), account(700)),
        (id("b"), account(200)),
    ];
    let p = portfolio(&accounts, &Params::default());
    assert_eq!(p.total_revenue_minor, 1_000);
    assert_eq!(p.accounts[0].account_id, id("a"));
    assert_eq!(p.accounts[0].share, 0.7);
    assert!((p.hhi - 5_400.0).abs() < 1e-9);
    let flags: Vec<_> = p
        .accounts
        .iter()
        .map(|a| (a.major, a.high, a.critical))
        .collect();
    assert_eq!(
        flags,
        vec![
            (true, true, true),
            (true, false, false),
            (true, false, false)
        ]
    );
    assert_eq!(p.alerts.len(), 1);
    assert_eq!(p.alerts[0].1.code, AlertCode::ConcentrationCritical);
    // Exactly half is critical.
    let even = vec![(id("a"), account(500)), (id("b"), account(500))];
    let p = portfolio(&even, &Params::default());
    assert!(p.accounts.iter().all(|a| a.critical));
    assert_eq!(p.hhi, 5_000.0);
}
