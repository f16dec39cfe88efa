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
    let params = Params::default();
    Row::judge(&StateAt::of(history, &params), as_of, &params).unwrap()
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

/// The row that answers for `account` at `t`, if one does.
fn answering(rows: &Rows, account: &AccountId, t: Timestamp) -> Option<Row> {
    rows.at(|table| {
        table
            .accounts()
            .find(|(a, _)| *a == account)
            .and_then(|(_, kept)| kept.at(t).cloned())
    })
    .1
}

#[test]
fn a_row_counting_a_later_event_is_never_replaced_by_an_earlier_one() {
    let rows = Rows::new(None);
    let a = account("acct-b");
    let held = row(7, day(10));
    rows.install(vec![(a.clone(), held.clone())], 7);
    rows.refreshed(vec![(a.clone(), row(5, day(10)))]);
    assert_eq!(answering(&rows, &a, day(10)), Some(held.clone()));
    // A row of later events replaces it whatever its instant.
    let later = row(8, day(9));
    rows.install(vec![(a.clone(), later.clone())], 8);
    assert_eq!(
        answering(&rows, &a, day(10)),
        None,
        "it was judged at day 9"
    );
    assert_eq!(answering(&rows, &a, day(9)), Some(later));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows.at(|_| ()).0, 8);
}

#[test]
fn the_same_events_judged_after_a_row_ends_follow_it() {
    let rows = Rows::new(None);
    let a = account("acct-b");
    let first = row(7, day(10));
    rows.install(vec![(a.clone(), first.clone())], 7);
    let next = row(7, first.until.plus_nanos(1));
    rows.refreshed(vec![(a.clone(), next.clone())]);
    assert_eq!(answering(&rows, &a, day(10)), Some(first.clone()));
    assert_eq!(answering(&rows, &a, next.summary.as_of), Some(next.clone()));
    assert_eq!(
        answering(&rows, &a, first.until),
        None,
        "the nanosecond between"
    );
    // Judged before the kept row ends, it replaces it, and a next row it overlaps goes.
    let earlier = row(7, day(9));
    rows.refreshed(vec![(a.clone(), earlier.clone())]);
    assert_eq!(answering(&rows, &a, day(9)), Some(earlier.clone()));
    assert_eq!(
        answering(&rows, &a, next.summary.as_of).is_some(),
        next.summary.as_of >= earlier.until
    );
}

#[test]
fn rows_fall_due_ahead_of_their_end_soonest_first() {
    let rows = Rows::new(None);
    let (a, b) = (account("a"), account("b"));
    // Judged at 13:00, between the events' instants (10:00) and midnight: 11 hours to run.
    let afternoon = |n: i64| day(n).plus_nanos(3 * 3_600_000_000_000);
    let (ra, rb) = (row(1, afternoon(30)), row(2, afternoon(10)));
    assert_eq!(rb.until, day(11).plus_nanos(-10 * 3_600_000_000_000));
    rows.install(vec![(a.clone(), ra.clone()), (b.clone(), rb.clone())], 2);
    let ahead = |row: &Row| row.until.plus_nanos(-(AHEAD.as_nanos() as i64));
    assert!(rows.due(ahead(&rb).plus_nanos(-1), 10).is_empty());
    // Ahead of its end: to be judged just after it.
    let due = rows.due(ahead(&rb), 10);
    assert_eq!(
        due,
        vec![Due {
            account: b.clone(),
            position: 2,
            at: Some(rb.until.plus_nanos(1)),
        }]
    );
    // Once that row lands, b has no work until it takes over; a, long ended, is judged now.
    rows.refreshed(vec![(b.clone(), row(2, rb.until.plus_nanos(1)))]);
    assert!(
        rows.due(rb.until, 10).is_empty(),
        "nothing to do until the next row takes over"
    );
    let late = ra.until.plus_nanos(5);
    let due = rows.due(late, 10);
    assert!(due.contains(&Due {
        account: a.clone(),
        position: 1,
        at: None,
    }));
    // b's next row took over at its instant, and has ended too by then.
    assert!(due.contains(&Due {
        account: b.clone(),
        position: 2,
        at: None,
    }));
    assert_eq!(rows.due(late, 1).len(), 1, "a limit holds");
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

/// A row judged a moment ago is not folded ahead however soon it ends: its account has just
/// moved, and the projector's next page replaces it.
#[test]
fn a_young_row_waits_before_it_is_folded_ahead() {
    let rows = Rows::new(None);
    let a = account("a");
    // Judged at 10:00, one of its events' instants: it ends a nanosecond later.
    let young = row(1, day(10));
    assert_eq!(young.until, day(10).plus_nanos(1));
    rows.install(vec![(a.clone(), young.clone())], 1);
    let ahead = AHEAD.as_nanos() as i64;
    assert!(rows.due(day(10).plus_nanos(ahead - 1), 10).is_empty());
    assert_eq!(
        rows.due(day(10).plus_nanos(ahead), 10),
        vec![Due {
            account: a,
            position: 1,
            at: None,
        }]
    );
}

/// Stored rows come back only as one state of the log at the checkpoint's position, of this
/// format and these rules: a row counting a later event, or bytes that do not decode, make the
/// rows incomplete (built again).
#[test]
fn stored_rows_come_back_only_whole_and_at_the_checkpoint() {
    let params = Params::default();
    let (a, b) = (account("a"), account("b"));
    let stored = vec![
        row(2, day(10)).stored(&a).unwrap(),
        row(5, day(10)).stored(&b).unwrap(),
    ];
    let rows = Rows::restored(5, params.params_version, stored.clone()).expect("restored");
    assert!(rows.is_built());
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.brief_at(&a, day(10), 5),
        None,
        "a page's row has no brief"
    );
    let answering = |rows: &Rows| {
        rows.at(|t| {
            t.accounts()
                .filter(|(_, k)| k.at(day(10)).is_some())
                .count()
        })
        .1
    };
    assert_eq!(answering(&rows), 2);

    assert!(
        Rows::restored(4, params.params_version, stored.clone()).is_none(),
        "b counts position 5"
    );
    assert!(Rows::restored(5, "other rules", stored.clone()).is_none());
    let mut broken = stored;
    broken[1].bytes.truncate(10);
    assert!(Rows::restored(5, params.params_version, broken).is_none());
}
