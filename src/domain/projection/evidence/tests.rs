use super::*;
use crate::domain::event::{AccountSegment::Standard, ContactRole::DecisionMaker, ProofKind};
use crate::domain::projection::testkit::{day, Log};
use crate::domain::projection::{project, trust::visible};

fn items(log: &Log, as_of: Timestamp) -> Vec<Evidence> {
    collect(&visible(&log.events, as_of), as_of, &Params::default()).items
}

fn counted(items: &[Evidence]) -> Vec<(Factor, f64)> {
    items
        .iter()
        .map(|i| (i.factor, i.raw_r + i.raw_s))
        .collect()
}

#[test]
fn visits_and_calls_share_a_cap_of_one_per_contact_per_thirty_day_window() {
    let mut log = Log::opened(Standard);
    log.contact(1, "b", DecisionMaker);
    // Days 30..=59 are the fixed window floor(day / 30) = 1.
    log.visit(30, &["b"]);
    log.call(31, "b");
    log.call(32, "b");
    log.visit(33, &["b"]);
    log.visit(59, &["b"]);
    log.visit(60, &["b"]);
    let got = counted(&items(&log, day(60)));
    assert_eq!(got[0], (Factor::VisitPositive, 0.5));
    assert_eq!(got[1], (Factor::CallPositive, 0.2));
    assert_eq!(got[2], (Factor::CallPositive, 0.2));
    // What is left of the cap: 1.0 - 0.9.
    assert_eq!(got[3].0, Factor::VisitPositive);
    assert!((got[3].1 - 0.1).abs() < 1e-12);
    assert_eq!(got[4], (Factor::VisitOverCap, 0.0));
    assert_eq!(got[5], (Factor::VisitPositive, 0.5));
}

#[test]
fn a_favors_value_never_counts_and_one_per_contact_per_ninety_days() {
    let build = |value| {
        let mut log = Log::opened(Standard);
        log.contact(1, "b", DecisionMaker);
        log.favor(90, "b", value);
        log.favor(100, "b", value);
        log.favor(179, "b", value);
        log.favor(180, "b", value);
        log
    };
    let (cheap, lavish) = (build(100), build(99_999_999));
    let got = counted(&items(&cheap, day(200)));
    assert_eq!(
        got,
        vec![
            (Factor::FavorPositive, 0.3),
            (Factor::FavorOverCap, 0.0),
            (Factor::FavorOverCap, 0.0),
            (Factor::FavorPositive, 0.3)
        ]
    );
    let p = Params::default();
    let (a, b) = (
        project(&cheap.events, day(200), &p),
        project(&lavish.events, day(200), &p),
    );
    assert_eq!(a.personal_trust, b.personal_trust);
    assert_eq!(a.organizational_trust, b.organizational_trust);
}

#[test]
fn one_proof_counts_per_kind() {
    let mut log = Log::opened(Standard);
    log.proof(1, ProofKind::TestReport);
    log.proof(2, ProofKind::TestReport);
    log.proof(3, ProofKind::Certification);
    let got = counted(&items(&log, day(3)));
    assert_eq!(
        got,
        vec![
            (Factor::ThirdPartyProofPositive, 0.5),
            (Factor::ThirdPartyProofRepeated, 0.0),
            (Factor::ThirdPartyProofPositive, 0.5)
        ]
    );
}

#[test]
fn an_overdue_promise_is_derived_after_due_plus_seven_days() {
    let mut log = Log::opened(Standard);
    log.contact(1, "b", DecisionMaker);
    log.promise(2, "p1", Some("b"), 10);
    // At due + 7 days exactly it is still open.
    assert!(items(&log, day(17)).is_empty());
    let later = Timestamp::from_unix_nanos(day(17).unix_nanos() + 1);
    let got = items(&log, later);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].factor, got[0].raw_s),
        (Factor::PromiseOverdueNegative, 1.0)
    );
    assert_eq!(
        got[0].channel,
        Channel::Personal {
            contact_id: "b".into()
        }
    );
    assert_eq!((got[1].raw_s, got[1].at), (0.5, day(17)));
    // Kept late, it is no longer overdue: the kept evidence replaces it.
    log.kept(20, "p1");
    let got = items(&log, day(20));
    assert_eq!(
        counted(&got),
        vec![
            (Factor::PromiseKeptPositive, 1.0),
            (Factor::PromiseKeptPositive, 0.5)
        ]
    );
}

#[test]
fn a_contact_who_left_is_frozen_and_out_of_the_totals() {
    let p = Params::default();
    let mut log = Log::opened(Standard);
    log.contact(1, "b", DecisionMaker);
    log.intro(2, "b");
    log.visit(40, &["b"]);
    log.left(50, "b");
    let at_leaving = project(&log.events, day(50), &p);
    let long_after = project(&log.events, day(400), &p);
    let before = project(&log.events, day(49), &p);
    let (then, now) = (
        &at_leaving.personal_trust["b"],
        &long_after.personal_trust["b"],
    );
    assert!(now.frozen);
    assert_eq!(now.left_at, Some(day(50)));
    assert_eq!(then.trust.evidence, now.trust.evidence);
    assert_eq!(now.trust.score, then.trust.score);
    assert!(before.organizational_trust.trust.evidence.r > 0.0);
    assert_eq!(long_after.organizational_trust.trust.evidence.r, 0.0);
    assert!(!long_after.quadrant.bond.met);
}

/// A summary derives the overdue evidence from the tally's open promises alone; a promise
/// kept after its contact left still counts overdue against the contact, frozen when it left,
/// so its placeholder stays. One kept while its contact was there derives nothing again.
#[test]
fn a_summary_derives_what_the_whole_fold_derives_when_a_contact_left_before_the_outcome() {
    use crate::domain::event::ContactRole::TechnicalEvaluator;

    let mut log = Log::opened(Standard);
    log.contact(1, "wang", TechnicalEvaluator);
    log.contact(1, "li", DecisionMaker);
    log.promise(2, "p1", Some("wang"), 3);
    log.promise(2, "p2", Some("li"), 3);
    log.left(40, "wang");
    log.kept(50, "p1");
    log.kept(50, "p2");
    let (as_of, params) = (day(60), Params::default());
    let events = visible(&log.events, as_of);
    let whole: Vec<Evidence> = collect(&events, as_of, &params)
        .items
        .into_iter()
        .filter(Evidence::is_derived)
        .collect();
    let (roster, promises, tally) = super::counted(&events, &params);
    let parts = (Arc::new(roster), Arc::new(promises));
    let derived = EvidenceSet::aged(as_of, parts, &tally, Entries::Derived, &params).items;
    assert_eq!(derived, whole);
    assert_eq!(derived.len(), 1, "{derived:?}");
    assert_eq!(
        derived[0].channel,
        Channel::Personal {
            contact_id: "wang".into()
        }
    );
}
