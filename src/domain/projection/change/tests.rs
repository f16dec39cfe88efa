use super::*;
use crate::domain::projection::explain::tests::sample;
use crate::domain::projection::testkit::day;

#[test]
fn a_change_splits_into_decay_and_arrivals() {
    let p = Params::default();
    let log = sample();
    let change = explain_change(
        &log.events,
        Checkpoint::Time(day(60)),
        Checkpoint::Time(day(120)),
        &p,
    );
    let org = &change.organizational;
    assert!((org.decay_delta + org.arrivals_delta - org.delta).abs() < 1e-15);
    assert!(org.decay_delta < 0.0, "old positive evidence fades");
    let added: BTreeSet<&str> = org.added.iter().map(|c| c.event_type).collect();
    let expected = ["critical_assistance", "favor_given", "solution_delivered"];
    assert_eq!(added, expected.into_iter().collect());
    assert!(org.removed.is_empty());
    // By log positions: the events logged after position 10 (promise kept, solution, two
    // favors), each side seen as of the newest occurred_at logged by then.
    let by_position = explain_change(
        &log.events,
        Checkpoint::Position(10),
        Checkpoint::Position(14),
        &p,
    );
    assert_eq!(by_position.from_as_of, day(50));
    assert_eq!(by_position.to_as_of, day(81));
    assert_eq!(by_position.organizational.added.len(), 4);
}
