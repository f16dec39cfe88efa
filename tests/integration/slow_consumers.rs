//! Consumers that read slowly or stop reading, end to end on a real server: the writers never
//! wait for them, they lose nothing, the server reads the log only as fast as they take what
//! it read (so what it holds for them stays bounded however far behind they fall), and their
//! heartbeats say exactly how far behind they are.
//!
//! A consumer here is slow by the test's say-so, never by a clock: it takes messages only
//! when the test grants it permits, and the test looks at the server while the consumer
//! waits for the next permit.

use crate::common;
use crate::common::changes as change_helpers;
use crate::common::subscribe as subscribe_helpers;

use std::sync::Arc;

use common::events::*;
use common::TestServer;
use prost::Message;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{self, ListSubscriptionsRequest, OpenSubscription, SubscribeRequest};
use relledger::config::Config;
use relledger::subscriptions::PAGE_LEN;
use subscribe_helpers::*;
use tokio::sync::{watch, Semaphore};

/// How many events the slow-consumer test appends (the figure), spread over
/// [`ACCOUNTS`] accounts in appends of [`BATCH`].
const EVENTS: usize = 100_000;
const BATCH: usize = 500;
const ACCOUNTS: usize = 100;
/// How many messages the consumer may take per append: a tenth of what is appended, so it
/// falls further behind with every append.
const BURST: usize = 50;
/// Appends between two looks at what the server holds for the consumer.
const LOOK_EVERY: usize = 20;
/// The HTTP/2 flow-control window of the slow consumers' connections, in bytes.
const WINDOW: u32 = 64 * 1024;
/// What the transport can hold for a stream whose consumer does not read, beyond the feed's
/// one page: the client's window, tonic's encode buffer (it yields at 32 KiB) and the frame
/// h2 is writing, with room to spare. A bound in bytes, turned into records below by the
/// smallest record the consumer received.
const IN_TRANSIT_BYTES: usize = 4 * WINDOW as usize;

/// The one open subscription `ListSubscriptions` shows, and the log's head.
async fn the_open_subscription(server: &mut TestServer) -> (OpenSubscription, u64) {
    let listed = server
        .client
        .list_subscriptions(ListSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner();
    match &listed.open[..] {
        [open] => (open.clone(), listed.next_position),
        other => panic!("one open subscription, not {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_consumer_of_100_000_events_blocks_no_writer_loses_nothing_and_is_held_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("slow-{i}")).collect();
    for account in &accounts {
        server.append(account, opening(account)).await.unwrap();
    }
    let opened = server.read_all().await.len();

    let mut client = LedgerClient::new(server.channel_with_window(WINDOW).await);
    let mut stream = open(
        &mut client,
        SubscribeRequest {
            heartbeat_interval: every(100),
            ..subscribe_request(from_start())
        },
    )
    .await;
    // The consumer takes one message per permit, and says after each how many it has taken
    // and the last position it was told.
    let gate = Arc::new(Semaphore::new(0));
    let (progress_tx, mut progress) = watch::channel((0usize, None::<u64>, 0usize));
    let (target_tx, target) = watch::channel(None::<u64>);
    let consumer = tokio::spawn({
        let gate = Arc::clone(&gate);
        async move {
            let mut seen = Seen::default();
            let mut taken = 0;
            while !seen.reached(*target.borrow()) {
                gate.acquire().await.unwrap().forget();
                if seen.reached(*target.borrow()) {
                    break;
                }
                let message = stream.message().await.expect("the stream does not fail");
                seen.record(message.expect("the stream does not end"));
                taken += 1;
                progress_tx.send_replace((taken, seen.told, seen.caught_up));
            }
            seen
        }
    });

    // The writers append while the consumer takes a tenth of it. Every append must be
    // acknowledged: a writer that waited for the subscriber would never get here.
    let mut writer = LedgerClient::new(server.channel().await);
    // First the consumer catches up with the openings, one message at a time, so that its
    // one `caught_up` comes before the writers start, whatever the timing.
    let mut granted = 0;
    loop {
        gate.add_permits(1);
        granted += 1;
        let (_, _, caught_up) = *progress
            .wait_for(|(taken, _, _)| *taken == granted)
            .await
            .unwrap();
        if caught_up == 1 {
            break;
        }
    }
    let mut looks = Vec::new();
    for i in 0..EVENTS / BATCH {
        let events = (0..BATCH)
            .map(|j| event(((i * BATCH + j) % 1000) as i64, visit(&["c1"])))
            .collect();
        writer
            .append(proto::AppendRequest {
                account_id: accounts[i % ACCOUNTS].clone(),
                expected_revision: None,
                events,
            })
            .await
            .unwrap();
        gate.add_permits(BURST);
        granted += BURST;
        if (i + 1) % LOOK_EVERY == 0 {
            // The consumer has taken all it may and waits for a permit: stalled, its told
            // position fixed while the server is asked what it holds.
            let (_, told, _) = *progress
                .wait_for(|(taken, _, _)| *taken == granted)
                .await
                .unwrap();
            let (open, head) = the_open_subscription(&mut server).await;
            looks.push((told, open, head));
        }
    }
    let last = (opened + EVENTS) as u64 - 1;
    let (taken, told, _) = *progress.borrow();
    assert!(
        taken <= granted && told.is_some_and(|told| told < last / 5),
        "all {EVENTS} events were appended while the consumer took {taken} messages"
    );

    // Then it reads everything: each position once, in order, none lost.
    target_tx.send_replace(Some(last));
    gate.add_permits(Semaphore::MAX_PERMITS - granted);
    let seen = consumer.await.unwrap();
    assert_eq!(seen.caught_up, 1);
    assert_eq!(
        seen.positions(),
        (0..=last).collect::<Vec<_>>(),
        "every position once, in order"
    );

    // What the server held while the consumer was stalled: never more than one page in the
    // feed, and it read the log no further ahead of the consumer than one page plus what the
    // transport holds. A server that buffered for the consumer would be up to 100,000 ahead.
    let smallest = seen.events.iter().map(|e| e.encoded_len()).min().unwrap();
    let read_ahead_bound = PAGE_LEN + (IN_TRANSIT_BYTES / smallest) as u64;
    let mut lags = Vec::new();
    for (told, open, head) in &looks {
        let read_ahead = open.next_position - told.map_or(0, |t| t + 1);
        assert!(
            open.max_buffered_events <= PAGE_LEN && open.buffered_events <= PAGE_LEN,
            "{open:?}"
        );
        assert!(
            read_ahead <= read_ahead_bound,
            "read {read_ahead} positions ahead of a consumer told {told:?}, more than \
             {read_ahead_bound}: {open:?}"
        );
        assert_eq!(open.lag_positions, head - open.next_position);
        lags.push(open.lag_positions);
    }
    assert!(
        lags.windows(2).all(|w| w[0] < w[1]) && lags[lags.len() - 1] > last / 2,
        "the consumer fell ever further behind: {lags:?}"
    );

    // Every heartbeat told the truth about the lag at the time it was sent.
    assert!(seen.heartbeats > 0);
    for (heartbeat, told) in &seen.beats {
        let scanned = told.map_or(0, |t| t + 1);
        assert_eq!(heartbeat.lag_positions, heartbeat.next_position - scanned);
        assert_eq!(heartbeat.log_next_position, heartbeat.next_position);
        let newest = &seen.events[heartbeat.next_position as usize - 1];
        let told = &seen.events[told.unwrap_or(0) as usize];
        let want = if heartbeat.lag_positions == 0 {
            0.0
        } else {
            lag_seconds(told, newest)
        };
        assert_eq!(heartbeat.lag_seconds, want, "{heartbeat:?}");
    }
    server.stop().await;
}

/// Waits until a heartbeat on a subscription opened *now* with `millis` between heartbeats
/// arrives: by then every subscription opened earlier with the same interval is due one. The
/// test's clock is a message from the server, not a sleep.
async fn heartbeat_interval_passes(server: &TestServer, millis: u32) {
    let mut client = LedgerClient::new(server.channel().await);
    let mut clock = open(
        &mut client,
        SubscribeRequest {
            heartbeat_interval: every(millis),
            ..subscribe_request(from_end())
        },
    )
    .await;
    let mut seen = Seen::default();
    while seen.heartbeats == 0 {
        seen.record(clock.message().await.unwrap().unwrap());
    }
}

#[tokio::test]
async fn a_stalled_consumers_heartbeat_carries_the_head_and_its_exact_lag() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    for i in 0..10 {
        let account = format!("lagging-{i}");
        server.append(&account, opening(&account)).await.unwrap();
        let visits = (0..500).map(|j| event(j, visit(&["c1"]))).collect();
        server.append(&account, visits).await.unwrap();
    }
    let log = server.read_all().await;
    let head = log.len() as u64;

    // A consumer from the start that takes one message and stops: its feed fills the
    // connection's small window and waits, far behind the head (5,020 records are some
    // megabytes; the window is 64 KiB).
    let mut client = LedgerClient::new(server.channel_with_window(WINDOW).await);
    let mut stalled = open(
        &mut client,
        SubscribeRequest {
            heartbeat_interval: every(100),
            ..subscribe_request(from_start())
        },
    )
    .await;
    let mut seen = Seen::default();
    seen.record(stalled.message().await.unwrap().unwrap());
    heartbeat_interval_passes(&server, 100).await;

    // It reads on: what was in transit and in the feed's page, then the heartbeat that came
    // due while it was stalled, which says how far behind it still is.
    while seen.heartbeats == 0 {
        seen.record(stalled.message().await.unwrap().unwrap());
    }
    let (heartbeat, told) = seen.beats[0];
    let told = told.expect("events came before the heartbeat");
    assert_eq!(heartbeat.next_position, head, "the head");
    assert_eq!(heartbeat.log_next_position, head);
    assert_eq!(heartbeat.lag_positions, head - (told + 1), "{heartbeat:?}");
    assert!(heartbeat.lag_positions > head / 2, "{heartbeat:?}");
    let want = lag_seconds(&log[told as usize], &log[head as usize - 1]);
    assert!(
        want > 0.0,
        "the records were appended at different instants"
    );
    assert_eq!(heartbeat.lag_seconds, want);
    assert_eq!(seen.positions(), (0..=told).collect::<Vec<_>>());
    drop(stalled);
    server.stop().await;
}

/// The change feed's window: smaller still, since a change is smaller than a record.
const CHANGE_WINDOW: u32 = 16 * 1024;

#[tokio::test]
async fn a_stalled_change_feed_consumer_is_never_dropped_knows_its_lag_and_catches_up() {
    use change_helpers::{open_accounts, Seen as Changes};
    use relledger::api::proto::relationships_client::RelationshipsClient;
    use relledger::api::proto::SubscribeRelationshipChangesRequest;

    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    let changes_request = |start| SubscribeRelationshipChangesRequest {
        start,
        heartbeat_interval: every(100),
        ..Default::default()
    };
    let mut client = RelationshipsClient::new(server.channel_with_window(CHANGE_WINDOW).await);
    let mut stalled =
        change_helpers::open(&mut client, changes_request(change_helpers::from_start())).await;
    let mut seen = Changes::default();
    seen.until_caught_up(&mut stalled).await;

    // The consumer stops reading while writers open 1,200 accounts, each a change.
    let (opened, last) = open_accounts(&server, "stalled", 8, 150).await;

    // A clock: a feed opened now, whose heartbeats carry the projector's progress. When one
    // says the projector has projected the last position, every change is in the change log,
    // and the stalled feed's own heartbeat (on the same interval, opened earlier) is due.
    let mut clock_client = RelationshipsClient::new(server.channel().await);
    let mut clock = change_helpers::open(
        &mut clock_client,
        changes_request(change_helpers::from_end()),
    )
    .await;
    let mut ticks = Changes::default();
    while !ticks.beats.iter().any(|(b, _)| b.next_position > last) {
        ticks.next(&mut clock).await;
    }
    let (done, _) = ticks.beats.last().unwrap();
    assert_eq!(
        done.log_next_position, done.next_position,
        "the projector has caught up with the log"
    );

    // The stalled consumer was not dropped: it reads on and gets every change, each once.
    seen.until_told(&mut stalled, last).await;
    for (account, opening) in &opened {
        let first = seen
            .changes
            .iter()
            .find(|c| &c.account_id == account)
            .unwrap_or_else(|| panic!("a change for {account}"));
        assert_eq!(first.first_position, *opening, "{first:?}");
        assert!(first.before.is_none());
    }

    // Its heartbeats said how far behind the projector it was, exactly: in positions from
    // the last one it was told, in seconds between those positions' records.
    let log = server.read_all().await;
    assert!(
        seen.beats.iter().any(|(b, _)| b.lag_positions > 0),
        "the heartbeat that came due while stalled reports the lag: {:?}",
        seen.beats
    );
    for (heartbeat, told) in &seen.beats {
        let scanned = told.map_or(0, |t| t + 1);
        assert_eq!(heartbeat.lag_positions, heartbeat.next_position - scanned);
        // The projector is never ahead of the log's head.
        assert!(heartbeat.log_next_position >= heartbeat.next_position);
        let want = if heartbeat.lag_positions == 0 {
            0.0
        } else {
            let newest = &log[heartbeat.next_position as usize - 1];
            lag_seconds(&log[scanned.saturating_sub(1) as usize], newest)
        };
        assert_eq!(heartbeat.lag_seconds, want, "{heartbeat:?}");
    }
    drop(stalled);
    drop(clock);
    server.stop().await;
}

#[tokio::test]
async fn a_stopping_server_closes_a_stream_whose_consumer_reads_nothing_which_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.shutdown_grace = std::time::Duration::from_millis(200);
    let mut server = TestServer::start_with(config).await;
    for i in 0..6 {
        let account = format!("stuck-{i}");
        server.append(&account, opening(&account)).await.unwrap();
        let visits = (0..500).map(|j| event(j, visit(&["c1"]))).collect();
        server.append(&account, visits).await.unwrap();
    }
    let head = server.read_all().await.len() as u64;

    // A consumer that takes one message and stops: its stream fills the window and waits, so
    // the UNAVAILABLE that ends subscriptions at shutdown cannot reach it.
    let mut client = LedgerClient::new(server.channel_with_window(WINDOW).await);
    let mut stalled = open(&mut client, subscribe_request(from_start())).await;
    let mut seen = Seen::default();
    seen.record(stalled.message().await.unwrap().unwrap());

    // The server stops all the same (it used to wait for this stream for ever), closing the
    // connection after the grace.
    server.stop().await;

    // The consumer reads what reached it, then the stream fails: it cannot take the cut for
    // the end of the log.
    let ended = loop {
        match stalled.message().await {
            Ok(Some(message)) => seen.record(message),
            Ok(None) => panic!("a stream closed by the server must not end cleanly"),
            Err(status) => break status,
        }
    };
    assert!(seen.caught_up == 0, "{ended:?}");

    // Resuming after the last position it was told, on the restarted server, gives the rest.
    let mut server = TestServer::start(dir.path()).await;
    let told = seen.told.unwrap();
    let mut resumed = open(&mut server.client, subscribe_request(after(told))).await;
    while seen.caught_up == 0 {
        seen.record(resumed.message().await.unwrap().unwrap());
    }
    assert_eq!(seen.positions(), (0..head).collect::<Vec<_>>());
    drop(resumed);
    server.stop().await;
}
