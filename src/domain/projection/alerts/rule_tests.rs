use super::*;
use crate::domain::event::{AccountSegment::Standard, ContactRole};
use crate::domain::projection::project;
use crate::domain::projection::testkit::{day, Log};

fn codes(log: &Log, as_of: Timestamp) -> Vec<AlertCode> {
    project(&log.events, as_of, &Params::default())
        .alerts
        .iter()
        .map(|a| a.code)
        .collect()
}

#[test]
fn margin_erosion_fires_at_exactly_five_points() {
    let mut log = Log::opened(Standard);
    log.order(100, 1_000_000, Some(200_000)); // 20%, 300 days before as_of
    let at_boundary = {
        let mut l = Log {
            events: log.events.clone(),
        };
        l.order(390, 1_000_000, Some(150_000)); // 15%: exactly five points down
        l
    };
    log.order(390, 1_000_000, Some(150_001));
    assert!(codes(&at_boundary, day(400)).contains(&AlertCode::MarginErosion));
    assert!(!codes(&log, day(400)).contains(&AlertCode::MarginErosion));
}

#[test]
fn price_pressure_at_three_demands_in_180_days() {
    let mut log = Log::opened(Standard);
    log.concession(10, 300);
    log.concession(150, 300);
    log.concession(189, 300);
    assert!(codes(&log, day(189)).contains(&AlertCode::PricePressureRepeated));
    // Day 10 is 180 days old at day 190: out of the window.
    assert!(!codes(&log, day(190)).contains(&AlertCode::PricePressureRepeated));
}

#[test]
fn cost_exceeding_thirty_percent_of_margin() {
    let mut log = Log::opened(Standard);
    log.order(10, 1_000_000, Some(100_000));
    log.cost(11, 30_000);
    assert!(!codes(&log, day(20)).contains(&AlertCode::CostExceedsMargin));
    log.favor(12, "b", 1);
    assert!(codes(&log, day(20)).contains(&AlertCode::CostExceedsMargin));
}

#[test]
fn key_contact_left_for_a_decision_maker_or_the_top_trust_contact() {
    let mut log = Log::opened(Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.contact(1, "u1", ContactRole::User);
    log.contact(1, "u2", ContactRole::User);
    log.intro(2, "u1");
    log.visit(3, &["u1", "u2"]);
    log.left(10, "u2");
    assert!(!codes(&log, day(20)).contains(&AlertCode::KeyContactLeft));
    log.left(11, "u1");
    let alert = project(&log.events, day(20), &Params::default()).alerts;
    let left = alert
        .iter()
        .find(|a| a.code == AlertCode::KeyContactLeft)
        .unwrap();
    assert_eq!(left.event_ids, vec![log.events[7].event.event_id]);
    log.left(12, "dm");
    assert!(codes(&log, day(191)).contains(&AlertCode::KeyContactLeft));
    assert!(!codes(&log, day(192)).contains(&AlertCode::KeyContactLeft));
}

#[test]
fn single_threaded_over_sixty_percent_of_the_transferred_evidence() {
    let mut log = Log::opened(Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.contact(1, "te", ContactRole::TechnicalEvaluator);
    log.intro(2, "dm");
    log.intro(2, "te");
    // 1.0 against 0.8: 56%.
    assert!(!codes(&log, day(2)).contains(&AlertCode::SingleThreaded));
    log.visit(3, &["dm"]);
    // 1.5 against 0.8: 65%.
    assert!(codes(&log, day(3)).contains(&AlertCode::SingleThreaded));
}

#[test]
fn overdue_promises_receivables_and_lapsed_cadence() {
    let mut log = Log::opened(Standard);
    log.contact(1, "u", ContactRole::User);
    log.visit(1, &["u"]);
    log.promise(1, "p", None, 5);
    log.invoice(1, "i", 100, 30);
    let got = codes(&log, day(200));
    // The one contact holds all the personal evidence: single-threaded too.
    let want = [
        AlertCode::PromiseOverdue,
        AlertCode::CadenceLapsed,
        AlertCode::SingleThreaded,
        AlertCode::ReceivablesOverdue,
    ];
    assert_eq!(got, want);
}
