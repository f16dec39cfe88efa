use std::time::Duration;

use super::*;
use crate::domain::event::ContactRole;
use crate::domain::projection::testkit::{day, Log};
use crate::domain::AccountSegment;

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

/// A row of an account with a contact and a visit, judged at `as_of`, its last event at
/// `position`.
fn row(position: u64, as_of: Timestamp) -> Row {
    let mut log = Log::opened(AccountSegment::Standard);
    log.contact(1, "dm", ContactRole::DecisionMaker);
    log.visit(2, &["dm"]);
    let mut history = log.events;
    if let Some(last) = history.last_mut() {
        last.position = position;
    }
    Row::judge(&account("acct-b"), &history, as_of, &Params::default()).unwrap()
}

#[test]
fn a_row_holds_from_its_instant_until_its_events_may_say_otherwise() {
    let r = row(2, day(10));
    assert!(r.until > day(10));
    assert!(r.holds_at(day(10)));
    assert!(
        !r.holds_at(r.until),
        "until is the first instant it may not hold"
    );
    assert!(
        !r.holds_at(Timestamp::from_unix_nanos(day(10).unix_nanos() - 1)),
        "nor before it was judged"
    );
    assert_eq!(r.owner, "li");
    assert_eq!(r.newest, day(2));
}

#[test]
fn a_row_counting_a_later_event_is_never_replaced_by_an_earlier_one() {
    let rows = Rows::new(None);
    let a = account("acct-b");
    rows.install(vec![(a.clone(), row(7, day(10)))], 7);
    rows.refreshed(vec![(a.clone(), row(5, day(20)))]);
    let (_, held) = rows.at(|_, rows| rows[&a].clone());
    assert_eq!(held.position(), 7);
    // The same events judged later replace it, and its old instant leaves the schedule.
    let later = row(7, day(20));
    rows.refreshed(vec![(a.clone(), later.clone())]);
    let (position, held) = rows.at(|_, rows| rows[&a].clone());
    assert_eq!((position, held), (7, later.clone()));
    assert_eq!(rows.next_due(), Some(later.until));
    assert_eq!(rows.len(), 1);
}

#[test]
fn rows_fall_due_soonest_first_up_to_a_limit() {
    let rows = Rows::new(None);
    let (a, b, c) = (account("a"), account("b"), account("c"));
    rows.install(
        vec![
            (a.clone(), row(1, day(30))),
            (b.clone(), row(2, day(10))),
            (c.clone(), row(3, day(20))),
        ],
        3,
    );
    assert!(rows.due(day(10), 10).is_empty(), "nothing has passed yet");
    assert_eq!(rows.due(day(25), 10), vec![(b.clone(), 2), (c.clone(), 3)]);
    assert_eq!(rows.due(day(40), 1), vec![(b, 2)]);
}

#[tokio::test]
async fn rows_answer_only_once_built_and_at_the_position_asked_for() {
    let rows = Rows::new(Some(4));
    assert!(!rows.is_built());
    assert_eq!(rows.reach(4, Duration::ZERO).await, None, "not built yet");
    rows.finish_build();
    assert_eq!(rows.reach(4, Duration::ZERO).await, Some(4));
    assert_eq!(rows.reach(5, Duration::from_millis(1)).await, None);
    let rows = std::sync::Arc::new(rows);
    let waiting = tokio::spawn({
        let rows = std::sync::Arc::clone(&rows);
        async move { rows.reach(9, Duration::from_secs(60)).await }
    });
    rows.install(vec![(account("a"), row(9, day(10)))], 9);
    assert_eq!(waiting.await.unwrap(), Some(9));
}
