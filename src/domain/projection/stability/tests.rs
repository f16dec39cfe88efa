use proptest::prelude::*;

use super::*;
use crate::domain::event::{AccountSegment, ContactRole, ProofKind};
use crate::domain::projection::testkit::{self, day};
use crate::domain::projection::{project, Params};

/// A history over `days` days, built from `ops`, each event at its own time of day.
fn history(ops: &[(u8, i64, i64)]) -> Vec<RecordedEvent> {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(0, "boss", ContactRole::DecisionMaker);
    log.contact(0, "qa", ContactRole::TechnicalEvaluator);
    let mut shifts = vec![0, 0, 0];
    for (i, &(op, d, shift)) in ops.iter().enumerate() {
        let promise = format!("p{}", i / 2);
        match op % 12 {
            0 => drop(log.visit(d, &["boss"])),
            1 => drop(log.visit_planned(d, &["qa"], Some(d + 20))),
            2 => drop(log.call(d, "qa")),
            3 => drop(log.promise(d, &format!("p{i}"), Some("boss"), d + 10)),
            4 => drop(log.kept(d, &promise)),
            5 => drop(log.broken(d, &promise)),
            6 => drop(log.solution(d, &["qa"])),
            7 => drop(log.order(d, 1_000_000, Some(200_000))),
            8 => drop(log.concession(d, 300)),
            9 => drop(log.invoice(d, &format!("i{i}"), 500_000, d + 30)),
            10 => drop(log.favor(d, "boss", 20_000)),
            _ => drop(log.proof(d, ProofKind::CustomerReference)),
        }
        shifts.push(shift);
    }
    testkit::spread(&mut log.events, &shifts);
    log.events
}

fn same_but_as_of(events: &[RecordedEvent], at: Timestamp, later: Timestamp) -> bool {
    let params = Params::default();
    let mut then = project(events, at, &params);
    let now = project(events, later, &params);
    then.as_of = later;
    then == now
}

#[test]
fn is_after_as_of_and_at_most_a_day_later() {
    let events = history(&[(0, 3, 5), (3, 4, 77)]);
    let at = day(9);
    let until = stable_until(&events, at);
    assert!(until > at);
    assert!(until.unix_nanos() - at.unix_nanos() <= NANOS_PER_DAY);
}

#[test]
fn the_answer_changes_at_the_instant_an_age_ticks_over() {
    // A visit at 10:00 on day 3, judged at 09:00 on day 5: it is 1 day old until 10:00.
    let events = history(&[(0, 3, 0)]);
    let at = Timestamp::from_unix_nanos(day(5).unix_nanos() - 3_600_000_000_000);
    let until = stable_until(&events, at);
    assert_eq!(until, day(5));
    assert!(same_but_as_of(
        &events,
        at,
        Timestamp::from_unix_nanos(until.unix_nanos() - 1)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any instant before `stable_until` gives the same answer but for `as_of`.
    #[test]
    fn the_answer_holds_until_stable_until(
        ops in prop::collection::vec((0u8..12, 1i64..400, 0i64..NANOS_PER_DAY), 1..40),
        judged_day in 1i64..500,
        judged_time in 0i64..NANOS_PER_DAY,
        fraction in 0.0f64..1.0,
    ) {
        let mut ops = ops;
        ops.sort_by_key(|(_, d, _)| *d);
        let events = history(&ops);
        let at = Timestamp::from_unix_nanos(judged_day * NANOS_PER_DAY + judged_time);
        let until = stable_until(&events, at);
        let span = until.unix_nanos() - at.unix_nanos();
        prop_assert!(span > 0);
        let inside = (span as f64 * fraction) as i64;
        for later in [inside, span - 1] {
            let later = Timestamp::from_unix_nanos(at.unix_nanos() + later);
            prop_assert!(same_but_as_of(&events, at, later), "at {:?}, later {:?}", at, later);
        }
    }
}
