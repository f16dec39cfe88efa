//! The subscription loop against the in-memory model: what it delivers, in which order, and
//! what it holds and reads while its consumer is slow.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::domain::{AccountId, Call, EventPayload, PromiseKept, ProposedEvent, SubscriptionName};
use crate::store::{ExpectedRevision, MemoryCheckpoints, MemoryLog};

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn call() -> ProposedEvent {
    ProposedEvent::of(EventPayload::Call(Call {
        contact_id: "c1".into(),
        summary: "hi".into(),
    }))
}

fn promise_kept() -> ProposedEvent {
    ProposedEvent::of(EventPayload::PromiseKept(PromiseKept {
        promise_id: "p1".into(),
        note: "done".into(),
    }))
}

/// Appends `n` calls to `account`, one append each.
async fn append_calls(log: &MemoryLog, account_name: &str, n: usize) {
    for _ in 0..n {
        log.append(&account(account_name), ExpectedRevision::Any, vec![call()])
            .await
            .unwrap();
    }
}

/// A service over `log` and the sender that stops it (kept alive by the caller).
fn service(log: &MemoryLog) -> (Subscriptions, watch::Sender<bool>) {
    let (stop, stopping) = watch::channel(false);
    let subscriptions = Subscriptions::new(
        Arc::new(log.clone()),
        Arc::new(MemoryCheckpoints::new()),
        stopping,
    );
    (subscriptions, stop)
}

fn options(start: Option<Start>, filter: SubscriptionFilter) -> SubscribeOptions {
    SubscribeOptions {
        start,
        filter,
        name: None,
        heartbeat_every: DEFAULT_HEARTBEAT,
        max_batch: None,
    }
}

/// Takes deliveries until `CaughtUp` (inclusive).
async fn until_caught_up(feed: &mut Feed) -> Vec<Delivery> {
    let mut got = Vec::new();
    loop {
        let delivery = feed.next().await.unwrap();
        let done = matches!(delivery, Delivery::CaughtUp { .. });
        got.push(delivery);
        if done {
            return got;
        }
    }
}

fn event_positions(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries
        .iter()
        .flat_map(|d| match d {
            Delivery::Events(records) => records.iter().map(|r| r.position).collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[tokio::test]
async fn history_then_live_with_checkpoints_where_the_filter_hides_the_page_end() {
    let log = MemoryLog::new();
    append_calls(&log, "a", 1).await;
    append_calls(&log, "b", 300).await;
    append_calls(&log, "a", 1).await;
    let (subscriptions, _stop) = service(&log);
    let filter = SubscriptionFilter {
        account_ids: [account("a")].into(),
        ..Default::default()
    };
    let mut feed = subscriptions
        .subscribe(options(Some(Start::FromStart), filter))
        .await
        .unwrap();

    let history = until_caught_up(&mut feed).await;
    assert_eq!(
        history,
        [
            Delivery::Events(vec![log_record(&log, 0).await]),
            // Page 0..256 ends with b's records: the consumer learns it may resume after 255.
            Delivery::Checkpoint { position: 255 },
            // Page 256..302 ends with a's record, which itself tells the consumer where it is.
            Delivery::Events(vec![log_record(&log, 301).await]),
            Delivery::CaughtUp { next_position: 302 },
        ]
    );

    // Live: b's events pass as a checkpoint, a's as events.
    append_calls(&log, "b", 1).await;
    assert_eq!(
        feed.next().await.unwrap(),
        Delivery::Checkpoint { position: 302 }
    );
    append_calls(&log, "a", 1).await;
    assert_eq!(
        feed.next().await.unwrap(),
        Delivery::Events(vec![log_record(&log, 303).await])
    );
}

/// The positions of a batch delivery.
fn batch_positions(delivery: &Delivery) -> Vec<u64> {
    match delivery {
        Delivery::Events(records) => records.iter().map(|r| r.position).collect(),
        other => panic!("a batch: {other:?}"),
    }
}

#[tokio::test]
async fn batches_take_what_a_page_read_and_keep_checkpoints_and_the_live_tail() {
    let log = MemoryLog::new();
    append_calls(&log, "a", 300).await;
    append_calls(&log, "b", 10).await;
    let (subscriptions, _stop) = service(&log);
    let filter = SubscriptionFilter {
        account_ids: [account("a")].into(),
        ..Default::default()
    };
    let mut feed = subscriptions
        .subscribe(SubscribeOptions {
            max_batch: NonZeroUsize::new(100),
            ..options(Some(Start::FromStart), filter)
        })
        .await
        .unwrap();
    let history = until_caught_up(&mut feed).await;
    let ranges: Vec<Vec<u64>> = [0..100, 100..200, 200..256, 256..300]
        .into_iter()
        .map(|r| r.collect())
        .collect();
    // Batches of at most 100, never across a page (0..256, then 256..310), and b's records at
    // the end of the second page pass as a checkpoint before `caught_up`.
    assert_eq!(history.len(), 6, "{history:?}");
    for (delivery, range) in history.iter().zip(&ranges) {
        assert_eq!(&batch_positions(delivery), range);
    }
    assert_eq!(history[4], Delivery::Checkpoint { position: 309 });
    assert_eq!(history[5], Delivery::CaughtUp { next_position: 310 });

    // Live: a batch holds what one commit made visible, and does not wait for more.
    log.append(&account("a"), ExpectedRevision::Any, vec![call(), call()])
        .await
        .unwrap();
    assert_eq!(batch_positions(&feed.next().await.unwrap()), [310, 311]);
}

#[tokio::test]
async fn a_batch_larger_than_a_page_is_taken_as_a_page() {
    let log = MemoryLog::new();
    append_calls(&log, "a", 300).await;
    let (subscriptions, _stop) = service(&log);
    let mut feed = subscriptions
        .subscribe(SubscribeOptions {
            max_batch: NonZeroUsize::new(10_000),
            ..options(Some(Start::FromStart), SubscriptionFilter::default())
        })
        .await
        .unwrap();
    assert_eq!(batch_positions(&feed.next().await.unwrap()).len(), 256);
    assert_eq!(feed.buffered(), 0, "the feed holds at most a page");
    assert_eq!(
        batch_positions(&feed.next().await.unwrap()),
        (256..300).collect::<Vec<_>>()
    );
}

async fn log_record(log: &MemoryLog, position: u64) -> RecordedEvent {
    use futures::StreamExt;
    log.read_all(
        Some(position),
        Direction::Forwards,
        Some(1),
        ReadAllFilter::default(),
    )
    .next()
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn from_end_and_after_position_start_where_asked_and_say_where_they_stand() {
    let log = MemoryLog::new();
    append_calls(&log, "a", 5).await;
    let (subscriptions, _stop) = service(&log);

    let mut from_end = subscriptions
        .subscribe(options(Some(Start::FromEnd), SubscriptionFilter::default()))
        .await
        .unwrap();
    assert_eq!(
        until_caught_up(&mut from_end).await,
        [
            Delivery::Checkpoint { position: 4 },
            Delivery::CaughtUp { next_position: 5 }
        ]
    );

    let mut after = subscriptions
        .subscribe(options(
            Some(Start::After(2)),
            SubscriptionFilter::default(),
        ))
        .await
        .unwrap();
    let got = until_caught_up(&mut after).await;
    assert_eq!(event_positions(&got), [3, 4]);
    assert!(
        !got.iter().any(|d| matches!(d, Delivery::Checkpoint { .. })),
        "no checkpoint: the last event says it all: {got:?}"
    );

    let mut at_head = subscriptions
        .subscribe(options(
            Some(Start::After(4)),
            SubscriptionFilter::default(),
        ))
        .await
        .unwrap();
    assert_eq!(
        until_caught_up(&mut at_head).await,
        [Delivery::CaughtUp { next_position: 5 }]
    );

    let past = subscriptions
        .subscribe(options(
            Some(Start::After(5)),
            SubscriptionFilter::default(),
        ))
        .await;
    assert!(matches!(
        past,
        Err(SubscriptionError::PastEnd {
            field: "after_position",
            position: 5,
            next_position: 5
        })
    ));
}

#[test]
fn account_ids_and_prefix_choose_accounts_together_and_types_narrow() {
    let record = |account_name: &str, event: ProposedEvent| RecordedEvent {
        position: 0,
        account_id: account(account_name),
        revision: 0,
        recorded_at: Timestamp::EPOCH,
        recorded_by: None,
        event,
        prev_hash: crate::domain::ChainHash::GENESIS,
        hash: crate::domain::ChainHash::GENESIS,
    };
    let filter = SubscriptionFilter {
        account_ids: [account("harbour")].into(),
        account_id_prefix: Some("east:".into()),
        event_types: [EventType::Call].into(),
        scope: crate::domain::AccountScope::All,
    };
    assert!(filter.matches(&record("harbour", call())));
    assert!(filter.matches(&record("east:mill", call())));
    assert!(!filter.matches(&record("west:mill", call())));
    assert!(!filter.matches(&record("east:mill", promise_kept())));
    assert!(SubscriptionFilter::default().matches(&record("anyone", promise_kept())));
    // A scope narrows whatever the subscriber asked for, the accounts it named included.
    let scoped = SubscriptionFilter {
        scope: crate::domain::AccountScope::of_prefixes(vec!["east:".into()]),
        ..filter
    };
    assert!(scoped.matches(&record("east:mill", call())));
    assert!(!scoped.matches(&record("harbour", call())));
}

/// The memory bound, by construction: a feed reads a page only when its consumer has taken
/// everything of the page before, so what it holds is at most one page, and what it has read
/// is at most one page more than it has delivered, however far the log runs ahead.
#[tokio::test]
async fn a_slow_consumer_holds_at_most_one_page_and_reads_only_as_it_delivers() {
    let log = MemoryLog::new();
    let batch = || (0..100).map(|_| call()).collect::<Vec<_>>();
    for _ in 0..50 {
        log.append(&account("a"), ExpectedRevision::Any, batch())
            .await
            .unwrap();
    }
    let (subscriptions, _stop) = service(&log);
    // One event per delivery, so that the consumer can stop between any two.
    let mut feed = subscriptions
        .subscribe(SubscribeOptions {
            max_batch: NonZeroUsize::new(1),
            ..options(Some(Start::FromStart), SubscriptionFilter::default())
        })
        .await
        .unwrap();
    for _ in 0..10 {
        feed.next().await.unwrap();
    }
    assert_eq!(feed.records_read(), PAGE_LEN);
    assert!(feed.buffered() <= PAGE_LEN as usize);

    // The writers run on; the feed, not polled, does nothing and holds what it held.
    for _ in 0..50 {
        log.append(&account("a"), ExpectedRevision::Any, batch())
            .await
            .unwrap();
    }
    assert_eq!(feed.records_read(), PAGE_LEN);

    let mut delivered = 10u64;
    let mut next_expected = 10u64;
    loop {
        match feed.next().await.unwrap() {
            Delivery::Events(records) => {
                let [record] = &records[..] else {
                    panic!("batches of one: {records:?}")
                };
                assert_eq!(record.position, next_expected, "in order, none skipped");
                next_expected += 1;
                delivered += 1;
            }
            Delivery::CaughtUp { next_position } => {
                assert_eq!(next_position, 10_000);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(feed.buffered() <= PAGE_LEN as usize);
        assert!(feed.records_read() <= delivered + PAGE_LEN);
    }
    assert_eq!(delivered, 10_000);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_carry_the_head_and_the_lag_on_the_interval() {
    let log = MemoryLog::new();
    append_calls(&log, "a", 2).await;
    let (subscriptions, _stop) = service(&log);
    let mut feed = subscriptions
        .subscribe(SubscribeOptions {
            heartbeat_every: Duration::from_secs(5),
            ..options(Some(Start::FromEnd), SubscriptionFilter::default())
        })
        .await
        .unwrap();
    until_caught_up(&mut feed).await;

    // Caught up and idle: with time paused, the wait runs the clock straight to the deadline.
    let start = tokio::time::Instant::now();
    let heartbeat = feed.next().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(
        heartbeat,
        Delivery::Heartbeat(Lag {
            next_position: 2,
            positions: 0,
            time: Duration::ZERO
        })
    );

    // Records arrive while the consumer is not asking; the next heartbeat is due before the
    // feed reads them, so it reports them as lag.
    append_calls(&log, "a", 3).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    match feed.next().await.unwrap() {
        Delivery::Heartbeat(lag) => {
            assert_eq!((lag.next_position, lag.positions), (5, 3));
        }
        other => panic!("expected a heartbeat, got {other:?}"),
    }
    assert!(matches!(feed.next().await.unwrap(), Delivery::Events(r) if r[0].position == 2));
}

#[tokio::test]
async fn a_feed_ends_when_the_server_stops() {
    let log = MemoryLog::new();
    let (subscriptions, stop) = service(&log);
    let mut feed = subscriptions
        .subscribe(options(
            Some(Start::FromStart),
            SubscriptionFilter::default(),
        ))
        .await
        .unwrap();
    assert_eq!(
        feed.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 0 }
    );
    let waiting = tokio::spawn(async move { feed.next().await });
    stop.send_replace(true);
    assert!(matches!(
        waiting.await.unwrap(),
        Err(SubscriptionError::ShuttingDown)
    ));
}

#[tokio::test]
async fn a_named_subscription_resumes_after_its_acknowledged_position() {
    let log = MemoryLog::new();
    append_calls(&log, "a", 10).await;
    let (subscriptions, _stop) = service(&log);
    let name = SubscriptionName::parse("warehouse").unwrap();
    let named = |start| SubscribeOptions {
        name: Some(name.clone()),
        ..options(start, SubscriptionFilter::default())
    };
    let now = Timestamp::from_unix_nanos(1);

    // Never acknowledged: from the start.
    let mut feed = subscriptions.subscribe(named(None)).await.unwrap();
    assert_eq!(event_positions(&until_caught_up(&mut feed).await).len(), 10);

    assert_eq!(subscriptions.ack(&name, 6, now).await.unwrap().position, 6);
    assert_eq!(
        subscriptions.ack(&name, 3, now).await.unwrap().position,
        6,
        "backwards is ignored"
    );
    assert!(matches!(
        subscriptions.ack(&name, 10, now).await,
        Err(SubscriptionError::PastEnd {
            field: "position",
            ..
        })
    ));
    let mut feed = subscriptions.subscribe(named(None)).await.unwrap();
    assert_eq!(
        event_positions(&until_caught_up(&mut feed).await),
        [7, 8, 9]
    );
    // An explicit start wins over the stored position.
    let mut feed = subscriptions
        .subscribe(named(Some(Start::After(8))))
        .await
        .unwrap();
    assert_eq!(event_positions(&until_caught_up(&mut feed).await), [9]);

    let (next_position, listed) = subscriptions.list().await.unwrap();
    assert_eq!(next_position, 10);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, name);
    assert_eq!(
        (
            listed[0].acked.position,
            listed[0].lag.next_position,
            listed[0].lag.positions
        ),
        (6, 10, 3)
    );
}
