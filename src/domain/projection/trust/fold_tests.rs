use super::*;
use crate::domain::event::{AccountSegment::Standard, ContactRole};
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
