use super::*;
use crate::domain::event::ProofKind::{Certification, TestReport};
use crate::domain::event::{AccountSegment::Standard, ContactRole};
use crate::domain::projection::project;
use crate::domain::projection::testkit::{day, Log};

pub(crate) fn sample() -> Log {
    let mut log = Log::opened(Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.contact(1, "te", ContactRole::TechnicalEvaluator);
    log.intro(5, "dm");
    log.visit(20, &["dm", "te"]);
    log.call(21, "dm");
    // dm's cap for the window is reached here (0.5 + 0.2 + 0.3) and the next visit is
    // refused: leaving out any of them recounts the others.
    log.visit(21, &["dm"]);
    log.visit(22, &["dm"]);
    log.promise(22, "p1", Some("te"), 40);
    log.broken(45, "p1");
    log.promise(50, "p2", Some("dm"), 60);
    log.kept(55, "p2");
    log.solution(70, &["te"]);
    log.favor(80, "dm", 5_000);
    log.favor(81, "dm", 5_000);
    log.critical(90, &["dm"]);
    log
}

/// Every contribution's delta equals the difference with a projection of the log
/// without its event. Within 1e-12, not bit for bit: the delta's "without" sums are the
/// fold's totals minus the event's evidence, which rounds differently in the last bits
/// from a refold that adds the remaining items from zero (the items and their values are
/// the same; only the order of the additions differs).
fn assert_exact_leave_one_out(events: &[RecordedEvent], as_of: Timestamp) {
    let p = Params::default();
    let all = project(events, as_of, &p);
    let org = all
        .organizational_trust
        .contributions
        .iter()
        .map(|c| (None, c));
    let personal = all
        .personal_trust
        .iter()
        .flat_map(|(id, t)| t.contributions.iter().map(move |c| (Some(id), c)));
    for (whose, c) in org.chain(personal) {
        let rest: Vec<RecordedEvent> = events
            .iter()
            .filter(|e| e.event.event_id != c.event_id)
            .cloned()
            .collect();
        let without = project(&rest, as_of, &p);
        let (now, then) = match whose {
            None => (
                all.organizational_trust.trust.expected,
                without.organizational_trust.trust.expected,
            ),
            Some(id) => (
                all.personal_trust[id].trust.expected,
                without
                    .personal_trust
                    .get(id)
                    .map_or(0.5, |t| t.trust.expected),
            ),
        };
        assert!(
            (c.delta - (now - then)).abs() <= 1e-12,
            "{} {whose:?}: {} vs a refold's {}",
            c.event_type,
            c.delta,
            now - then
        );
    }
}

#[test]
fn deltas_are_exactly_the_leave_one_out_differences() {
    assert_exact_leave_one_out(&sample().events, day(120));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// The shortcut that folds without an event (recounting only its caps and its
    /// promise) agrees with a full refold on logs of touches, favors, proofs, promises and
    /// departures, in any log order.
    #[test]
    fn leave_one_out_holds_on_random_logs(
        ops in proptest::collection::vec((0_u8..11, 0_usize..3, 0_i64..120), 1..40)
    ) {
        let names = ["c0", "c1", "c2"];
        let mut log = Log::opened(Standard);
        log.contact(0, "c0", ContactRole::DecisionMaker);
        log.contact(0, "c1", ContactRole::Procurement);
        log.contact(0, "c2", ContactRole::User);
        for (kind, who, d) in ops {
            let c = names[who];
            match kind {
                0 => log.visit(d, &[c]),
                1 => log.call(d, c),
                2 => log.favor(d, c, 100),
                3 => log.intro(d, c),
                4 => log.proof(d, if who == 0 { TestReport } else { Certification }),
                5 => log.solution(d, &[c]),
                6 => log.left(d, c),
                // Promises (some repeated, some to nobody), with outcomes that may come
                // before the promise, repeat, or never come: overdue evidence is derived.
                7 => log.promise(d, ["p0", "p1"][who % 2], (who < 2).then_some(c), d + 5),
                8 => log.kept(d, ["p0", "p1"][who % 2]),
                9 => log.broken(d, ["p0", "p1"][who % 2]),
                _ => log.promise(d, &format!("q{d}"), Some(c), d / 2),
            };
        }
        assert_exact_leave_one_out(&log.events, day(150));
    }
}

#[test]
fn contributions_come_biggest_first_and_name_their_factors() {
    let p = Params::default();
    let all = project(&sample().events, day(120), &p);
    let org = &all.organizational_trust.contributions;
    assert_eq!(org[0].event_type, "critical_assistance");
    assert!(org.windows(2).all(|w| w[0].delta.abs() >= w[1].delta.abs()));
    let te = &all.personal_trust["te"].contributions;
    let broken = te
        .iter()
        .find(|c| c.event_type == "promise_broken")
        .unwrap();
    assert_eq!(broken.parts[0].factor, Factor::PromiseBrokenNegative);
    assert!(broken.delta < 0.0);
    // The second favor of the window counted nothing and is worth nothing.
    let dm = &all.personal_trust["dm"].contributions;
    let capped = dm
        .iter()
        .find(|c| c.parts[0].factor == Factor::FavorOverCap)
        .unwrap();
    assert_eq!(capped.delta, 0.0);
}
