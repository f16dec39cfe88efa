use super::*;
use crate::domain::event::{AccountSegment::Standard, ContactRole};
use crate::domain::projection::testkit::Log;

#[test]
fn limits_per_item_and_per_rolling_year() {
    let mut log = Log::opened(Standard);
    log.contact(1, "b", ContactRole::DecisionMaker);
    log.favor(10, "b", 10_000);
    log.favor(20, "b", 10_001);
    log.favor(400, "b", 10_000);
    log.favor(401, "b", 10_000);
    log.favor(402, "b", 10_000);
    log.favor(403, "b", 1);
    let rows = gift_register(&log.events, &Params::default());
    let alerts: Vec<bool> = rows
        .iter()
        .map(|r| r.alerts.contains(&AlertCode::GiftOverLimit))
        .collect();
    // 100.00 is at the limit, 100.01 above; days 400..=402 total exactly 300.00; day 403 tips it.
    assert_eq!(alerts, vec![false, true, false, false, false, true]);
    assert_eq!(rows[5].contact_year_total_minor, 30_001);
}

#[test]
fn public_officials_need_an_approval() {
    let mut log = Log::opened(Standard);
    log.contact_flagged(1, "o", ContactRole::DecisionMaker, true);
    log.contact(1, "b", ContactRole::User);
    log.favor(2, "o", 100);
    log.favor_full(3, "o", 100, false, "CMP-7");
    log.favor_full(4, "b", 100, true, " ");
    log.favor(5, "b", 100);
    let rows = gift_register(&log.events, &Params::default());
    let flagged: Vec<(bool, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.public_official,
                r.alerts.contains(&AlertCode::GiftToPublicOfficial),
            )
        })
        .collect();
    assert_eq!(
        flagged,
        vec![(true, true), (true, false), (true, true), (false, false)]
    );
    assert_eq!(rows[0].account_id.as_str(), "acct-b");
}
