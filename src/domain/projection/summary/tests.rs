use super::*;
use crate::domain::event::{AccountSegment::Standard, ContactRole};
use crate::domain::projection::testkit::{day, Log};
use crate::domain::projection::trust::Trend;
use crate::domain::projection::{project, summarize, Params};

/// The live projector's summaries skip the fold that trends need; each must still be the
/// summary of the whole projection, on a history whose trust moved inside the trend window
/// (where that fold gives another answer than the first).
#[test]
fn a_summary_is_the_whole_projections_without_working_out_its_trends() {
    let params = Params::default();
    let mut log = Log::opened(Standard);
    log.contact(1, "wang", ContactRole::DecisionMaker);
    log.promise(2, "p1", Some("wang"), 20);
    log.kept(10, "p1");
    for d in [50, 55, 60, 65] {
        log.solution(d, &["wang"]);
        log.promise(d, &format!("p{d}"), Some("wang"), d + 5);
        log.kept(d + 1, &format!("p{d}"));
    }
    log.order(66, 1_000_000, Some(200_000));
    let as_of = day(70);
    let whole = project(&log.events, as_of, &params);
    assert_ne!(
        whole.organizational_trust.trust.trend,
        Trend::Steady,
        "the history must make the skipped fold matter"
    );
    for k in 1..=log.events.len() {
        let events = &log.events[..k];
        let last = &events[k - 1];
        let (account, at, id) = (&last.account_id, last.position, last.event.event_id);
        assert_eq!(
            summarize(account, at, id, events, as_of, &params),
            RelationshipSummary::of(account, at, id, &project(events, as_of, &params)),
            "after {k} events"
        );
    }
}
