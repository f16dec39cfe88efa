use super::*;
use crate::domain::event::{AccountSegment::Standard, ContactRole};
use crate::domain::projection::decay::decay;
use crate::domain::projection::testkit::{day, Log};

#[test]
fn organizational_trust_adds_half_the_role_weighted_personal_evidence() {
    let p = Params::default();
    let mut log = Log::opened(Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.contact(1, "pr", ContactRole::Procurement);
    log.intro(10, "dm");
    log.intro(10, "pr");
    log.solution(10, &[]);
    let (_, fold) = assess(&visible(&log.events, day(10)), day(10), &p);
    // Direct 1.5 + 0.5 * (1.0 * 1.0 + 0.6 * 1.0).
    assert_eq!(fold.org.r, 1.5 + 0.5 * 1.6);
    assert_eq!(fold.personal_of("dm"), Beta { r: 1.0, s: 0.0 });
    // One half-life later (365 days) every item of this log counts half.
    let (_, later) = assess(&visible(&log.events, day(375)), day(375), &p);
    assert_eq!(later.org.r, fold.org.r / 2.0);
}

#[test]
fn evidence_ages_by_calendar_days() {
    let p = Params::default();
    let mut log = Log::opened(Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.intro(10, "dm");
    // One second past midnight after the 10:00 introduction: 14 hours, but one calendar day.
    let after_midnight = day(11).plus_nanos(-10 * 3_600_000_000_000 + 1_000_000_000);
    let (set, fold) = assess(&visible(&log.events, after_midnight), after_midnight, &p);
    assert_eq!(set.items[0].age_days(), 1);
    assert_eq!(fold.personal_of("dm").r.to_bits(), decay(1, 365).to_bits());
    // Until midnight the same day it is no age at all, and counts fully.
    let before_midnight = after_midnight.plus_nanos(-2_000_000_000);
    let (_, fold) = assess(&visible(&log.events, before_midnight), before_midnight, &p);
    assert_eq!(fold.personal_of("dm").r, 1.0);
}
