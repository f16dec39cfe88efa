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
        match op % 13 {
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
            11 => drop(log.proof(d, ProofKind::CustomerReference)),
            // A decision maker who leaves raises KEY_CONTACT_LEFT for a while.
            _ => drop(log.left(d, "boss")),
        }
        shifts.push(shift);
    }
    testkit::spread(&mut log.events, &shifts);
    log.events
}

fn same_but_as_of(
    events: &[RecordedEvent],
    at: Timestamp,
    later: Timestamp,
    params: &Params,
) -> bool {
    let mut then = project(events, at, params);
    let now = project(events, later, params);
    then.as_of = later;
    then == now
}

/// The default rules with every window a tenth as long (at least a day), so that histories of
/// a few hundred days outgrow them all.
fn short_windows() -> Params {
    let tenth = |days: u32| (days / 10).max(1);
    let mut p = Params::default();
    for days in [
        &mut p.touch_window_days,
        &mut p.favor_window_days,
        &mut p.promise_grace_days,
        &mut p.trend_days,
        &mut p.trailing_days,
        &mut p.structural_window_days,
        &mut p.repeat_window_days,
        &mut p.gift_year_days,
        &mut p.key_contact_left_days,
        &mut p.margin_recent_days,
        &mut p.margin_prior_days,
        &mut p.price_pressure_days,
        &mut p.cadence.decision_maker_days,
        &mut p.cadence.technical_evaluator_days,
        &mut p.cadence.other_days,
        &mut p.cadence.key_account_days,
    ] {
        *days = tenth(*days);
    }
    p
}

#[test]
fn is_after_as_of_and_at_most_a_day_later() {
    let events = history(&[(0, 3, 5), (3, 4, 77)]);
    let at = day(9);
    let until = stable_until(&events, at, &Params::default());
    assert!(until > at);
    assert!(until.unix_nanos() - at.unix_nanos() <= NANOS_PER_DAY);
}

#[test]
fn the_answer_changes_at_the_instant_an_age_ticks_over() {
    // A visit at 10:00 on day 3, judged at 09:00 on day 5: it is 1 day old until 10:00.
    let events = history(&[(0, 3, 0)]);
    let at = Timestamp::from_unix_nanos(day(5).unix_nanos() - 3_600_000_000_000);
    let params = Params::default();
    let until = stable_until(&events, at, &params);
    assert_eq!(until, day(5));
    assert!(same_but_as_of(
        &events,
        at,
        Timestamp::from_unix_nanos(until.unix_nanos() - 1),
        &params
    ));
}

#[test]
fn an_instant_older_than_every_rule_reaches_marks_nothing() {
    // A call at 10:00 on day 3 (as every event of the history): it marks 10:00 as long as a
    // rule reads it, then only midnight is left (its evidence ages by calendar days).
    let events = history(&[(2, 3, 0)]);
    let params = Params::default();
    let call = &events[events.len() - 1];
    let reach = params.occurred_reach_days(&call.event.payload);
    assert!(reach < 365, "a call is read by no yearly window");
    let nine = |d: i64| day(d).plus_nanos(-3_600_000_000_000);
    let midnight = |d: i64| Timestamp::from_unix_nanos(d * NANOS_PER_DAY);
    assert_eq!(
        stable_until(&events, nine(3 + reach), &params),
        day(3 + reach)
    );
    assert_eq!(
        stable_until(&events, nine(5 + reach), &params),
        midnight(6 + reach)
    );
    let mut anchors = Anchors::default();
    anchors.apply(call, &params);
    let kept = anchors.len();
    anchors.forget_before(day(5 + reach));
    assert_eq!((kept, anchors.len()), (3, 1), "midnight stays");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any instant before `stable_until` gives the same answer but for `as_of`.
    #[test]
    fn the_answer_holds_until_stable_until(
        ops in prop::collection::vec((0u8..13, 1i64..400, 0i64..NANOS_PER_DAY), 1..40),
        judged_day in 1i64..1500,
        judged_time in 0i64..NANOS_PER_DAY,
        fraction in 0.0f64..1.0,
        short in any::<bool>(),
    ) {
        let mut ops = ops;
        ops.sort_by_key(|(_, d, _)| *d);
        let events = history(&ops);
        // With the windows a tenth as long, most of a history's instants are past every
        // window, and their times of day mark nothing.
        let params = if short { short_windows() } else { Params::default() };
        let at = Timestamp::from_unix_nanos(judged_day * NANOS_PER_DAY + judged_time);
        let until = stable_until(&events, at, &params);
        let span = until.unix_nanos() - at.unix_nanos();
        prop_assert!(span > 0);
        let inside = (span as f64 * fraction) as i64;
        for later in [inside, span - 1] {
            let later = Timestamp::from_unix_nanos(at.unix_nanos() + later);
            prop_assert!(
                same_but_as_of(&events, at, later, &params),
                "at {:?}, later {:?}",
                at,
                later
            );
        }
    }
}

/// Every number of days a rule counts from an instant (its windows, the trend's days, and the
/// two together), for `params`.
fn window_days(p: &Params) -> Vec<i64> {
    let c = &p.cadence;
    let windows: Vec<u32> = vec![
        p.touch_window_days,
        p.favor_window_days,
        p.promise_grace_days,
        p.trailing_days,
        p.structural_window_days,
        p.repeat_window_days,
        2 * p.repeat_window_days,
        3 * p.repeat_window_days,
        p.repeat_window_days * p.repeat_windows,
        p.gift_year_days,
        p.key_contact_left_days,
        p.margin_recent_days,
        p.margin_recent_days + p.margin_prior_days,
        p.price_pressure_days,
        365,
        c.lapse_multiplier * c.decision_maker_days,
        c.lapse_multiplier * c.technical_evaluator_days,
        c.lapse_multiplier * c.other_days,
        c.lapse_multiplier * c.key_account_days,
    ];
    let trend = i64::from(p.trend_days);
    windows
        .into_iter()
        .map(i64::from)
        .flat_map(|w| [w, w + trend])
        .chain([0, trend])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Judged shortly before each instant of the history plus a number of days a rule counts
    /// (a window's end): the answer still holds until `stable_until`, so no instant's reach
    /// leaves out a window that reads it.
    #[test]
    fn the_answer_holds_where_the_windows_end(
        ops in prop::collection::vec((0u8..13, 1i64..200, 0i64..NANOS_PER_DAY), 1..40),
        window in any::<prop::sample::Index>(),
        before in 1i64..3_600_000_000_000,
        short in any::<bool>(),
    ) {
        let mut ops = ops;
        ops.sort_by_key(|(_, d, _)| *d);
        let events = history(&ops);
        let params = if short { short_windows() } else { Params::default() };
        let windows = window_days(&params);
        let days = windows[window.index(windows.len())];
        let mut instants: Vec<Timestamp> = events.iter().map(|e| e.event.occurred_at).collect();
        for e in &events {
            match &e.event.payload {
                EventPayload::PromiseMade(p) => instants.push(p.due_at),
                EventPayload::InvoiceIssued(i) => instants.push(i.due_at),
                _ => {}
            }
        }
        for instant in instants {
            let at = instant.plus_days(days).plus_nanos(-before);
            let until = stable_until(&events, at, &params);
            prop_assert!(
                same_but_as_of(&events, at, until.plus_nanos(-1), &params),
                "at {:?}, {} days after {:?}",
                at,
                days,
                instant
            );
        }
    }
}
