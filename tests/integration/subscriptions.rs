//! Ledger.Subscribe, AckSubscription and ListSubscriptions end to end: a real server on
//! 127.0.0.1:0, real tonic clients, writers appending while subscribers read.

use crate::common;
use crate::common::subscribe as subscribe_helpers;

use std::collections::BTreeSet;

use common::events::*;
use common::{read_all, TestServer};
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::subscribe_response::Kind;
use relledger::api::proto::{
    self, AckSubscriptionRequest, ListSubscriptionsRequest, ReadAllRequest, RecordedEvent,
    SubscribeRequest,
};
use subscribe_helpers::*;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::Code;

/// The accounts the writers use: the prefix filter picks the `east:` ones.
const ACCOUNTS: [&str; 6] = ["acc-0", "acc-1", "acc-2", "east:a", "east:b", "west:a"];

/// Opens every account of [`ACCOUNTS`] (two events each).
async fn open_accounts(server: &mut TestServer) {
    for account in ACCOUNTS {
        server.append(account, opening(account)).await.unwrap();
    }
}

/// Appends from `writers` concurrent tasks, `appends` each, a visit or a relationship cost
/// (one or two events) to the accounts in turn. Returns the last position written.
async fn write_concurrently(server: &TestServer, writers: usize, appends: usize) -> u64 {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let mut client = LedgerClient::new(server.channel().await);
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for i in 0..appends {
                let account = ACCOUNTS[(writer + i) % ACCOUNTS.len()];
                let events = if i % 3 == 0 {
                    vec![event(10, relationship_cost(100))]
                } else {
                    vec![event(10, visit(&["c1"])), event(11, visit(&["c1"]))]
                };
                let response = client
                    .append(proto::AppendRequest {
                        account_id: account.into(),
                        expected_revision: None,
                        events,
                    })
                    .await
                    .expect("append")
                    .into_inner();
                last = last.max(response.last_position);
            }
            last
        }));
    }
    let mut last = 0;
    for task in tasks {
        last = last.max(task.await.unwrap());
    }
    last
}

/// What `ReadAll` returns for the subscription's filter from `from` on; the prefix, which
/// ReadAll lacks, is applied here the way the server documents it (listed accounts *or* the
/// prefix).
async fn expected(
    client: &mut LedgerClient<Channel>,
    request: &SubscribeRequest,
    from: u64,
) -> Vec<RecordedEvent> {
    let all = read_all(
        client,
        ReadAllRequest {
            from_position: Some(from),
            event_types: request.event_types.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let prefix = &request.account_id_prefix;
    all.into_iter()
        .filter(|e| {
            (request.account_ids.is_empty() && prefix.is_empty())
                || request.account_ids.contains(&e.account_id)
                || (!prefix.is_empty() && e.account_id.starts_with(prefix.as_str()))
        })
        .collect()
}

#[tokio::test]
async fn every_subscriber_gets_each_position_once_in_order_while_writers_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    open_accounts(&mut server).await;
    // Some history, more than a page, so that from-start subscribers catch up in pages.
    let history_end = write_concurrently(&server, 2, 150).await;
    assert!(history_end > 300);

    let filtered = |start, accounts: &[&str], prefix: &str, types: &[&str]| SubscribeRequest {
        account_ids: accounts.iter().map(|s| s.to_string()).collect(),
        account_id_prefix: prefix.into(),
        event_types: types.iter().map(|s| s.to_string()).collect(),
        ..subscribe_request(start)
    };
    let requests = vec![
        (0, subscribe_request(from_start())),
        (0, filtered(from_start(), &["acc-1", "west:a"], "", &[])),
        (0, filtered(from_start(), &[], "east:", &[])),
        (0, filtered(from_start(), &[], "", &["relationship_cost"])),
        (0, filtered(from_start(), &["acc-2"], "", &["visit"])),
        (101, subscribe_request(after(100))),
        (251, filtered(after(250), &[], "east:", &["visit"])),
        // Batched: the same guarantees, across the history's pages and into the live tail.
        (0, batched(subscribe_request(from_start()), 256)),
        (0, batched(subscribe_request(from_start()), 7)),
        (0, batched(filtered(from_start(), &[], "east:", &[]), 100)),
        (
            0,
            batched(filtered(from_start(), &["acc-2"], "", &["visit"]), 256),
        ),
        (101, batched(subscribe_request(after(100)), 1)),
    ];
    let (target_tx, target) = watch::channel(None);
    let mut subscribers = Vec::new();
    for (from, request) in requests {
        let mut client = LedgerClient::new(server.channel().await);
        // Opened here, before the writers start, so each subscriber's start is fixed.
        let mut stream = open(&mut client, request.clone()).await;
        let mut target = target.clone();
        subscribers.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            follow_until(&mut stream, &mut seen, &mut target).await;
            (from, request, seen)
        }));
    }

    let last = write_concurrently(&server, 8, 40).await;
    target_tx.send_replace(Some(last));

    for subscriber in subscribers {
        let (from, request, seen) = subscriber.await.unwrap();
        assert_eq!(seen.caught_up, 1, "one caught_up for {request:?}");
        let want = expected(&mut server.client, &request, from).await;
        assert!(!want.is_empty());
        assert_eq!(
            seen.positions(),
            want.iter().map(|e| e.position).collect::<Vec<_>>(),
            "positions for {request:?}"
        );
        assert_eq!(seen.events, want, "records for {request:?}");
        assert_batches(&request, &seen);
    }
    server.stop().await;
}

/// `request` with batched delivery of at most `max_batch` events per message.
fn batched(request: SubscribeRequest, max_batch: u32) -> SubscribeRequest {
    SubscribeRequest {
        max_batch,
        ..request
    }
}

/// Asserts that a subscription got its events the way its request asked: one `event` message
/// each without `max_batch`; with it, only `events` batches of 1 to `max_batch` events, and
/// (for a subscription whose history held more than one event per page) some batch of more
/// than one, so that batching really happened.
fn assert_batches(request: &SubscribeRequest, seen: &Seen) {
    if request.max_batch == 0 {
        assert!(seen.batches.is_empty(), "no batch unasked: {request:?}");
        return;
    }
    assert_eq!(
        seen.batches.iter().sum::<usize>(),
        seen.events.len(),
        "every event in a batch for {request:?}"
    );
    let largest = seen.batches.iter().copied().max().unwrap_or(0);
    assert!(
        largest <= request.max_batch as usize,
        "a batch of {largest} for {request:?}"
    );
    if request.max_batch > 1 {
        assert!(largest > 1, "batches of one only for {request:?}");
    }
}

/// A deterministic sequence of small numbers: how many messages to take before hanging up.
fn hang_up_points() -> impl Iterator<Item = usize> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Mostly inside a page, sometimes past one, sometimes right at the first message.
        Some(match state % 4 {
            0 => 1,
            1 | 2 => (state % 20) as usize + 1,
            _ => (state % 300) as usize + 1,
        })
    })
}

/// Subscribes again and again, each time after the last position told, hanging up after a
/// few messages, until the target is reached. Returns every event received.
async fn resume_repeatedly(
    mut client: LedgerClient<Channel>,
    base: SubscribeRequest,
    mut target: watch::Receiver<Option<u64>>,
) -> (Vec<RecordedEvent>, usize) {
    let mut seen = Seen::default();
    let mut connections = 0;
    let mut points = hang_up_points();
    while !seen.reached(*target.borrow_and_update()) {
        let start = seen.told.map_or_else(from_start, after);
        let mut stream = open(
            &mut client,
            SubscribeRequest {
                start,
                ..base.clone()
            },
        )
        .await;
        connections += 1;
        let take = points.next().unwrap();
        for _ in 0..take {
            tokio::select! {
                message = stream.message() => {
                    seen.record(message.unwrap().expect("the stream does not end"));
                }
                changed = target.changed() => changed.unwrap(),
            }
            if seen.reached(*target.borrow()) {
                break;
            }
        }
        // Dropping the stream hangs up.
    }
    (seen.events, connections)
}

#[tokio::test]
async fn reconnecting_after_the_last_checkpoint_misses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    open_accounts(&mut server).await;
    write_concurrently(&server, 2, 200).await;

    let (target_tx, target) = watch::channel(None);
    let bases = [
        subscribe_request(None),
        SubscribeRequest {
            account_ids: vec!["acc-1".into()],
            event_types: vec!["relationship_cost".into()],
            ..Default::default()
        },
        SubscribeRequest {
            account_id_prefix: "east:".into(),
            ..Default::default()
        },
        batched(subscribe_request(None), 50),
        SubscribeRequest {
            account_ids: vec!["acc-1".into(), "east:b".into()],
            max_batch: 256,
            ..Default::default()
        },
    ];
    let mut consumers = Vec::new();
    for base in bases {
        let client = LedgerClient::new(server.channel().await);
        let target = target.clone();
        consumers.push(tokio::spawn(async move {
            let got = resume_repeatedly(client, base.clone(), target).await;
            (base, got)
        }));
    }
    // Writers run while the consumers hang up and resume, so some resumes land in history
    // and some in the live tail.
    let last = write_concurrently(&server, 4, 60).await;
    target_tx.send_replace(Some(last));

    for consumer in consumers {
        let (base, (events, connections)) = consumer.await.unwrap();
        assert!(connections > 3, "{connections} connections for {base:?}");
        let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
        let unique: BTreeSet<u64> = positions.iter().copied().collect();
        assert_eq!(unique.len(), positions.len(), "no duplicates for {base:?}");
        assert_eq!(
            events,
            expected(&mut server.client, &base, 0).await,
            "exactly the log for {base:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_named_subscription_resumes_after_its_acknowledged_position_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    open_accounts(&mut server).await;
    for _ in 0..4 {
        server
            .append("acc-0", vec![event(5, visit(&["c1"]))])
            .await
            .unwrap();
    }
    let head = server.read_all().await.len() as u64;
    assert_eq!(head, 16);

    let named = |start| SubscribeRequest {
        subscription_name: "warehouse-loader".into(),
        ..subscribe_request(start)
    };
    // Never acknowledged: from the start.
    let mut stream = open(&mut server.client, named(None)).await;
    let mut seen = Seen::default();
    while !seen.reached(Some(9)) {
        seen.record(stream.message().await.unwrap().unwrap());
    }
    assert_eq!(seen.positions()[0], 0);
    let ack = |position| AckSubscriptionRequest {
        name: "warehouse-loader".into(),
        position,
    };
    let acked = server.client.ack_subscription(ack(9)).await.unwrap();
    assert_eq!(acked.into_inner().position, 9);
    let behind = server.client.ack_subscription(ack(4)).await.unwrap();
    assert_eq!(
        behind.into_inner().position,
        9,
        "an ack backwards is ignored"
    );

    let listed = server
        .client
        .list_subscriptions(ListSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.next_position, head);
    assert_eq!(listed.subscriptions.len(), 1);
    let info = &listed.subscriptions[0];
    assert_eq!(
        (info.name.as_str(), info.acked_position, info.lag_positions),
        ("warehouse-loader", 9, head - 10)
    );
    assert!(info.lag_seconds >= 0.0 && info.acked_at.is_some());
    // The stream still open is listed too, by the name it resumed, with what it has read:
    // at least what it delivered, and never past the head.
    let [live] = &listed.open[..] else {
        panic!("one open subscription: {:?}", listed.open)
    };
    assert_eq!(live.subscription_name, "warehouse-loader");
    assert!(
        live.delivered_events >= 10 && live.next_position <= head,
        "{live:?}"
    );
    assert_eq!(live.lag_positions, head - live.next_position);

    // Stopping ends the open subscription with UNAVAILABLE (the client resumes later) rather
    // than holding up the shutdown.
    let stop = tokio::spawn(server.stop());
    let ended = loop {
        match stream.message().await {
            Ok(Some(message)) => seen.record(message),
            other => break other,
        }
    };
    let status = ended.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    stop.await.unwrap();

    let mut server = TestServer::start(dir.path()).await;
    let mut stream = open(&mut server.client, named(None)).await;
    let mut resumed = Seen::default();
    while resumed.caught_up == 0 {
        resumed.record(stream.message().await.unwrap().unwrap());
    }
    assert_eq!(resumed.positions(), (10..head).collect::<Vec<_>>());
    let listed = server
        .client
        .list_subscriptions(ListSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.subscriptions[0].acked_position, 9);
    assert_eq!(listed.subscriptions[0].lag_positions, head - 10);
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_arrive_on_the_asked_interval_with_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("acme", opening("Acme")).await.unwrap();
    let mut stream = open(
        &mut server.client,
        SubscribeRequest {
            heartbeat_interval: Some(pbjson_types::Duration {
                seconds: 0,
                nanos: 100_000_000,
            }),
            ..subscribe_request(from_end())
        },
    )
    .await;
    let mut kinds = Vec::new();
    let heartbeat = loop {
        match stream.message().await.unwrap().unwrap().kind.unwrap() {
            Kind::Heartbeat(heartbeat) => break heartbeat,
            other => kinds.push(other),
        }
    };
    assert_eq!(
        kinds,
        [
            Kind::Checkpoint(proto::Checkpoint { position: 1 }),
            Kind::CaughtUp(proto::CaughtUp { next_position: 2 })
        ]
    );
    assert_eq!((heartbeat.next_position, heartbeat.lag_positions), (2, 0));
    assert_eq!(heartbeat.lag_seconds, 0.0);
    server.stop().await;
}

/// Asserts `status` is INVALID_ARGUMENT naming `field`.
fn assert_names_field(status: tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(field),
        "{:?} names {field}",
        status.message()
    );
}

#[tokio::test]
async fn bad_filters_names_and_positions_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("acme", opening("Acme")).await.unwrap();
    let client = &mut server.client;
    let refused = |request: SubscribeRequest| {
        let mut client = client.clone();
        async move {
            client
                .subscribe(request)
                .await
                .expect_err("the subscription is refused")
        }
    };

    let status = refused(SubscribeRequest {
        event_types: vec!["visit".into(), "lunch".into()],
        ..Default::default()
    })
    .await;
    assert_names_field(status, "event_types[1]");
    let status = refused(SubscribeRequest {
        account_ids: vec!["harbour construction".into()],
        ..Default::default()
    })
    .await;
    assert_names_field(status, "account_ids[0]");
    let status = refused(SubscribeRequest {
        account_id_prefix: "east/".into(),
        ..Default::default()
    })
    .await;
    assert_names_field(status, "account_id_prefix");
    let status = refused(SubscribeRequest {
        subscription_name: "a name".into(),
        ..Default::default()
    })
    .await;
    assert_names_field(status, "subscription_name");
    let status = refused(SubscribeRequest {
        heartbeat_interval: Some(pbjson_types::Duration {
            seconds: 0,
            nanos: 1_000,
        }),
        ..Default::default()
    })
    .await;
    assert_names_field(status, "heartbeat_interval");
    for max_batch in [257, u32::MAX] {
        let status = refused(batched(subscribe_request(from_start()), max_batch)).await;
        assert_names_field(status, "max_batch");
    }
    let status = refused(subscribe_request(after(2))).await;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("after_position"), "{status:?}");

    let status = client
        .ack_subscription(AckSubscriptionRequest {
            name: String::new(),
            position: 0,
        })
        .await
        .unwrap_err();
    assert_names_field(status, "name");
    let status = client
        .ack_subscription(AckSubscriptionRequest {
            name: "bi".into(),
            position: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_batch_of_large_events_is_split_into_messages_of_at_most_a_mebibyte() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("acme", opening("Acme")).await.unwrap();
    // 40 visits of about 60 KB each: 2.4 MB, more than two messages' worth.
    let large = || {
        let mut event = event(10, visit(&["c1"]));
        if let Some(proto::proposed_event::Payload::Visit(visit)) = event.payload.as_mut() {
            visit.summary = "long site report ".repeat(3_500);
        }
        event
    };
    server
        .append("acme", (0..40).map(|_| large()).collect())
        .await
        .unwrap();
    let head = 42;

    let mut stream = open(
        &mut server.client,
        batched(subscribe_request(from_start()), 256),
    )
    .await;
    let mut seen = Seen::default();
    let mut sizes = Vec::new();
    while seen.caught_up == 0 {
        let message = stream.message().await.unwrap().unwrap();
        if let Some(Kind::Events(batch)) = &message.kind {
            let events: usize = batch.events.iter().map(prost::Message::encoded_len).sum();
            let largest = batch.events.iter().map(prost::Message::encoded_len).max();
            sizes.push((events, largest.unwrap_or(0), batch.events.len()));
        }
        seen.record(message);
    }
    assert_eq!(seen.positions(), (0..head).collect::<Vec<_>>());
    assert!(sizes.len() >= 3, "split into several messages: {sizes:?}");
    for (events, largest, count) in &sizes {
        assert!(
            *events <= 1024 * 1024 || *count == 1,
            "{events} bytes in {count} events, the largest {largest}: {sizes:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_batched_subscription_at_the_head_delivers_each_append_without_waiting_for_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(dir.path()).await;
    server.append("acme", opening("Acme")).await.unwrap();
    let mut stream = open(
        &mut server.client,
        batched(subscribe_request(from_end()), 256),
    )
    .await;
    let mut seen = Seen::default();
    while seen.caught_up == 0 {
        seen.record(stream.message().await.unwrap().unwrap());
    }
    // Each append is delivered on its own: were the server waiting to fill a batch, the
    // message below would never come, since nothing more is appended.
    for expected in [vec![2], vec![3, 4]] {
        let events = (0..expected.len())
            .map(|_| event(10, visit(&["c1"])))
            .collect();
        server.append("acme", events).await.unwrap();
        let message = loop {
            let message = stream.message().await.unwrap().unwrap();
            if !matches!(message.kind, Some(Kind::Heartbeat(_))) {
                break message;
            }
        };
        let Some(Kind::Events(batch)) = message.kind else {
            panic!("an events batch: {message:?}");
        };
        let positions: Vec<u64> = batch.events.iter().map(|e| e.position).collect();
        assert_eq!(positions, expected);
    }
    server.stop().await;
}
