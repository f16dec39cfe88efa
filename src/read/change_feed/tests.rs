//! The change feed's loop against the in-memory log and change log, with the projector run by
//! hand: what a catch-up page reports, where checkpoints fall, and what a feed holds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;

use super::*;
use crate::domain::projection::Params;
use crate::domain::{AccountId, Call, EventId, EventPayload, ProposedEvent, Timestamp};
use crate::store::{ExpectedRevision, MemoryLog, MemorySnapshots};
use crate::subscriptions::DEFAULT_HEARTBEAT;

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn call() -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
        actor: "tester".into(),
        metadata: BTreeMap::new(),
        payload: EventPayload::Call(Call {
            contact_id: "c1".into(),
            summary: "hi".into(),
        }),
    }
}

/// Appends one call to each of `accounts`, in turn, one append each; returns their positions.
async fn append_calls(log: &MemoryLog, accounts: &[&str]) -> Vec<u64> {
    let mut positions = Vec::new();
    for name in accounts {
        let outcome = log
            .append(&account(name), ExpectedRevision::Any, vec![call()])
            .await
            .unwrap();
        positions.push(outcome.last_position);
    }
    positions
}

/// A projector over `log` (run by hand with `catch_up`), feeds over it, and the sender that
/// stops them (kept alive by the caller).
async fn feeds(log: &MemoryLog) -> (Arc<Projector>, ChangeFeeds, watch::Sender<bool>) {
    let log: Arc<dyn Log> = Arc::new(log.clone());
    let projector = Arc::new(
        Projector::open(
            Arc::clone(&log),
            Arc::new(MemorySnapshots::new()),
            Params::default(),
        )
        .await
        .unwrap(),
    );
    let (stop, stopping) = watch::channel(false);
    let feeds = ChangeFeeds::new(log, Arc::clone(&projector), stopping);
    (projector, feeds, stop)
}

/// Takes deliveries until `CaughtUp` (inclusive).
async fn until_caught_up(feed: &mut ChangeFeed) -> Vec<ChangeDelivery> {
    let mut got = Vec::new();
    loop {
        let delivery = feed.next().await.unwrap();
        let done = matches!(delivery, ChangeDelivery::CaughtUp { .. });
        got.push(delivery);
        if done {
            return got;
        }
    }
}

fn changes(deliveries: &[ChangeDelivery]) -> Vec<&RelationshipChange> {
    deliveries
        .iter()
        .filter_map(|d| match d {
            ChangeDelivery::Change(change) => Some(&**change),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_catch_up_page_reports_one_change_per_account_from_its_first_event_to_its_last() {
    let log = MemoryLog::new();
    // a, b, a, a: the projector, behind, judges them in one page.
    let positions = append_calls(&log, &["a", "b", "a", "a"]).await;
    assert_eq!(positions, [0, 1, 2, 3]);
    let (projector, feeds, _stop) = feeds(&log).await;
    projector.catch_up().await.unwrap();

    let mut feed = feeds
        .subscribe(Start::FromStart, ChangeFilter::default(), DEFAULT_HEARTBEAT)
        .await
        .unwrap();
    let got = until_caught_up(&mut feed).await;
    let got_changes = changes(&got);
    // In the order of the last event each covers: b's (1), then a's (3).
    let spans: Vec<_> = got_changes
        .iter()
        .map(|c| (c.after.account_id.as_str(), c.first_position, c.position()))
        .collect();
    assert_eq!(spans, [("b", 1, 1), ("a", 0, 3)]);
    let a = got_changes[1];
    assert!(
        a.before.is_none(),
        "a's first change, though it covers three events"
    );
    let last_event = log_event_id(&log, 3).await;
    assert_eq!(
        a.after.event_id, last_event,
        "it names the last event it covers"
    );
    // The last change is at the last position: no checkpoint is needed before caught_up.
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], ChangeDelivery::CaughtUp { next_position: 4 });
}

async fn log_event_id(log: &MemoryLog, position: u64) -> EventId {
    use futures::TryStreamExt;
    let records: Vec<_> = log
        .read_all(
            Some(position),
            crate::store::Direction::Forwards,
            Some(1),
            crate::store::ReadAllFilter::default(),
        )
        .try_collect()
        .await
        .unwrap();
    records[0].event.event_id
}

#[tokio::test]
async fn a_filtered_feed_checkpoints_what_it_scanned_and_waits_for_the_projector_not_the_log() {
    let log = MemoryLog::new();
    append_calls(&log, &["a", "b"]).await;
    let (projector, feeds, _stop) = feeds(&log).await;
    projector.catch_up().await.unwrap();
    let filter = ChangeFilter {
        account_ids: [account("z")].into(),
        ..Default::default()
    };
    let mut feed = feeds
        .subscribe(Start::FromStart, filter, DEFAULT_HEARTBEAT)
        .await
        .unwrap();
    assert_eq!(
        until_caught_up(&mut feed).await,
        [
            ChangeDelivery::Checkpoint { position: 1 },
            ChangeDelivery::CaughtUp { next_position: 2 }
        ]
    );

    // The log moves but the projector has not projected it: nothing is known yet, so the
    // feed tells nothing (a checkpoint past an unprojected position could skip its change).
    append_calls(&log, &["z", "a"]).await;
    assert!(feed.next().now_or_never().is_none(), "the feed waits");
    projector.catch_up().await.unwrap();
    let next = feed.next().await.unwrap();
    match next {
        ChangeDelivery::Change(change) => {
            assert_eq!(
                (change.after.account_id.as_str(), change.position()),
                ("z", 2)
            );
        }
        other => panic!("z's change first, got {other:?}"),
    }
    assert_eq!(
        feed.next().await.unwrap(),
        ChangeDelivery::Checkpoint { position: 3 }
    );
}

#[tokio::test]
async fn a_slow_change_feed_holds_at_most_one_page_and_delivers_every_change_in_order() {
    let log = MemoryLog::new();
    let names: Vec<String> = (0..700).map(|i| format!("acct-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let positions = append_calls(&log, &refs).await;
    let (projector, feeds, _stop) = feeds(&log).await;
    let mut feed = feeds
        .subscribe(
            Start::FromStart,
            ChangeFilter::default(),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    // The projector finds 700 changes (each account's first event) while the consumer takes
    // nothing: the feed, not polled, reads nothing.
    projector.catch_up().await.unwrap();
    assert_eq!(feed.buffered(), 0);

    let mut delivered = Vec::new();
    loop {
        match feed.next().await.unwrap() {
            ChangeDelivery::Change(change) => delivered.push(change.position()),
            ChangeDelivery::CaughtUp { next_position } => {
                assert_eq!(next_position, 700);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(feed.buffered() <= CHANGE_PAGE_LEN);
    }
    assert_eq!(delivered, positions, "every change once, in order");
}

#[tokio::test]
async fn a_resume_ahead_of_the_projector_says_where_the_projector_is_and_skips_nothing_after() {
    let log = MemoryLog::new();
    append_calls(&log, &["a", "b"]).await;
    let (projector, feeds, _stop) = feeds(&log).await;
    projector.catch_up().await.unwrap();
    // The consumer was told position 3 before a restart; the projector has reached 1 only.
    append_calls(&log, &["c", "d", "e"]).await;
    let mut feed = feeds
        .subscribe(Start::After(3), ChangeFilter::default(), DEFAULT_HEARTBEAT)
        .await
        .unwrap();
    assert_eq!(
        feed.next().await.unwrap(),
        ChangeDelivery::CaughtUp { next_position: 2 },
        "caught up with what the projector found, which ends at 1"
    );
    assert!(feed.next().now_or_never().is_none(), "the feed waits");
    // When the projector passes the start, only what lies after it arrives.
    projector.catch_up().await.unwrap();
    match feed.next().await.unwrap() {
        ChangeDelivery::Change(change) => {
            assert_eq!(
                (change.after.account_id.as_str(), change.position()),
                ("e", 4)
            );
        }
        other => panic!("e's change, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_shows_how_far_the_projector_is_behind_the_log() {
    let log = MemoryLog::new();
    append_calls(&log, &["a", "b"]).await;
    let (projector, feeds, _stop) = feeds(&log).await;
    projector.catch_up().await.unwrap();
    let mut feed = feeds
        .subscribe(
            Start::FromEnd,
            ChangeFilter::default(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    until_caught_up(&mut feed).await;

    // The log moves on while the projector does not (it is stuck, or busy): the consumer is
    // not behind the projector, but the heartbeat shows the projector behind the log.
    append_calls(&log, &["c", "d", "e"]).await;
    let heartbeat = feed.next().await.unwrap();
    assert_eq!(
        heartbeat,
        ChangeDelivery::Heartbeat {
            lag: Lag {
                next_position: 2,
                positions: 0,
                time: Duration::ZERO,
            },
            log_next_position: 5,
        }
    );
}

#[tokio::test]
async fn an_open_feed_is_listed_with_what_it_scanned_and_delivered_until_it_is_dropped() {
    let log = MemoryLog::new();
    append_calls(&log, &["a", "b", "a", "a"]).await;
    let (projector, feeds, _stop) = feeds(&log).await;
    projector.catch_up().await.unwrap();
    assert!(feeds.open().is_empty());

    let mut feed = feeds
        .subscribe(Start::FromStart, ChangeFilter::default(), DEFAULT_HEARTBEAT)
        .await
        .unwrap();
    let only_b = ChangeFilter {
        account_ids: [account("b")].into(),
        ..ChangeFilter::default()
    };
    let resumed = feeds
        .subscribe(Start::After(1), only_b, DEFAULT_HEARTBEAT)
        .await
        .unwrap();
    let starts: Vec<u64> = feeds.open().iter().map(|f| f.next_position).collect();
    assert_eq!(
        starts,
        [0, 2],
        "in the order they were opened, where each starts"
    );

    until_caught_up(&mut feed).await;
    assert_eq!(
        feeds.open()[0],
        OpenSubscription {
            name: None,
            next_position: 4,
            delivered_events: 2,
            buffered_events: 0,
            max_buffered_events: 2,
        },
        "scanned the whole change log, delivered both changes, holds none"
    );
    drop(feed);
    let left: Vec<u64> = feeds.open().iter().map(|f| f.next_position).collect();
    assert_eq!(left, [2]);
    drop(resumed);
    assert!(feeds.open().is_empty());
}
