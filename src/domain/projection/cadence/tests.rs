use crate::domain::event::{AccountSegment, ContactRole};
use crate::domain::projection::testkit::{day, Log};
use crate::domain::projection::{project, Params};

#[test]
fn adherence_counts_the_expected_windows_holding_a_visit() {
    let p = Params::default();
    let mut log = Log::opened(AccountSegment::Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    // E = 45 days, n = floor(365 / 45) = 8 windows ending at day 500.
    log.visit(500, &["dm"]);
    log.visit(450, &["dm"]);
    log.visit(400, &["dm"]);
    log.visit(100, &["dm"]);
    let c = project(&log.events, day(500), &p).cadence;
    assert_eq!(
        (c.expected_interval_days, c.windows, c.windows_with_visit),
        (45, 8, 3)
    );
    assert_eq!(c.adherence, 3.0 / 8.0);
    assert_eq!(c.last_visit, Some(day(500)));
    let key = Log::opened(AccountSegment::Key);
    assert_eq!(
        project(&key.events, day(1), &p)
            .cadence
            .expected_interval_days,
        30
    );
}

#[test]
fn overdue_past_the_planned_visit_or_twice_the_interval() {
    let p = Params::default();
    let mut log = Log::opened(AccountSegment::Standard);
    log.contact(1, "u", ContactRole::User);
    log.visit(100, &["u"]);
    // Others: E = 60, so due by day 220.
    assert!(!project(&log.events, day(220), &p).cadence.overdue);
    assert!(project(&log.events, day(221), &p).cadence.overdue);
    log.visit_planned(110, &["u"], Some(120));
    let c = project(&log.events, day(121), &p).cadence;
    assert_eq!((c.next_planned, c.overdue), (Some(day(120)), true));
    assert!(!project(&log.events, day(120), &p).cadence.overdue);
    assert!(
        !project(&Log::opened(AccountSegment::Standard).events, day(900), &p)
            .cadence
            .overdue
    );
}
