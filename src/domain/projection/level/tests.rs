use super::*;
use crate::domain::event::{AccountSegment, ContactRole};
use crate::domain::projection::project;
use crate::domain::projection::testkit::{day, Log};

/// A Service account: business, a bond with the decision maker, a visit every 45 days.
fn service() -> Log {
    let mut log = Log::opened(AccountSegment::Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.intro(300, "dm");
    for d in (300..=660).step_by(40) {
        log.visit(d, &["dm"]);
    }
    log.promise(600, "p", Some("dm"), 610);
    log.kept(605, "p");
    log.order(650, 1_000, None);
    log
}

#[test]
fn levels_climb_rule_by_rule() {
    let p = Params::default();
    assert_eq!(
        project(&Log::opened(AccountSegment::Standard).events, day(5), &p)
            .level
            .level,
        Level::None
    );
    let mut log = service();
    assert_eq!(
        project(&log.events, day(660), &p).level.level,
        Level::Service
    );
    log.solution(500, &["dm"]);
    log.solution(600, &["dm"]);
    // Structural help, but orders in only one of the four 91-day windows.
    let v = project(&log.events, day(660), &p).level;
    assert_eq!(v.level, Level::Service);
    assert!(v.rules[3].met && !v.rules[4].met);
    log.order(560, 1_000, None);
    assert_eq!(
        project(&log.events, day(660), &p).level.level,
        Level::Service
    );
    log.order(470, 1_000, None);
    let v = project(&log.events, day(660), &p).level;
    assert_eq!(v.level, Level::Interdependence);
    assert_eq!(v.rules[4].event_ids.len(), 3);
}

#[test]
fn business_without_a_bond_is_price() {
    let mut log = Log::opened(AccountSegment::Standard);
    log.order(10, 1_000, None);
    let v = project(&log.events, day(10), &Params::default()).level;
    assert_eq!(v.level, Level::Price);
    assert!(v.rules[0].met && !v.rules[1].met);
}
