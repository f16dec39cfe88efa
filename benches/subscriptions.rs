//! Subscription performance, as the subscriptions issue asks for it:
//!
//! 1. live latency: appends at a steady rate (default 1,000 per second, one event each) while
//!    10 subscribers follow from the end; for every event and subscriber, the time from the
//!    append's acknowledgement reaching the writer to the event reaching the subscriber (p50,
//!    p99, max), and from the append being sent;
//! 2. catch-up: a log of N events (default 1,000,000, over 100 accounts) read by one subscriber
//!    from position 0 once the live projector has caught up, once per `max_batch` asked for
//!    (default: one event per message, then batches of 256); events per second;
//! 3. the relationship change feed: `BENCH_FEED_ACCOUNTS` accounts (default 10,000) of
//!    `BENCH_FEED_EVENTS` events (default 1,000), then `BENCH_FEED_RATE` appends a second
//!    (default 1,000) for `BENCH_FEED_SECONDS` (default 10) spread over them, each changing its
//!    account's alerts; for each, the time from the append's acknowledgement reaching the
//!    writer to its change reaching a subscriber of `SubscribeRelationshipChanges` (p50, p99,
//!    max). `BENCH_STATE_CACHE_EVENTS` sets the server's `--state-cache-events`.
//!
//! A plain binary (`harness = false`): a real server on 127.0.0.1:0 in this process, real tonic
//! clients, a temp data dir. Run with `cargo bench --bench subscriptions`; the knobs are
//! environment variables: `BENCH_RATE` (appends/s), `BENCH_SECONDS` (0 skips the live phase),
//! `BENCH_SUBSCRIBERS`, `BENCH_LIVE_MAX_BATCH` (the live subscribers' `max_batch`),
//! `BENCH_CATCH_UP_EVENTS` (0 skips the catch-up phase), `BENCH_CATCH_UP_BATCHES`
//! (comma-separated `max_batch` values, one catch-up read each), `BENCH_FEED_ACCOUNTS` (0
//! skips the change feed phase). Results and the machine they came from: docs/BENCHMARKS.md.
//! `cargo test` runs it too, with small knobs of its own (`common/mode.rs`).

#[path = "common/mode.rs"]
mod mode;

#[path = "../tests/integration/common/events.rs"]
#[allow(dead_code)]
mod events;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::subscribe_relationship_changes_request::Start as ChangeStart;
use relledger::api::proto::subscribe_relationship_changes_response::Kind as ChangeKind;
use relledger::api::proto::subscribe_request::Start;
use relledger::api::proto::subscribe_response::Kind;
use relledger::api::proto::{AppendRequest, SubscribeRelationshipChangesRequest, SubscribeRequest};
use relledger::config::Config;
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// The server's allocator (src/main.rs), so that the bench measures what the server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the run under `cargo test` may take before it fails: a subscriber that never
/// receives an event would otherwise wait for ever.
const TEST_LIMIT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    // As `relledger serve` sets it (src/main.rs).
    relledger::allocator::keep_freed_memory();
    mode::measure_or_check(
        run(),
        TEST_LIMIT,
        "subscriptions: the short run delivered every event, in order",
    )
    .await;
}

async fn run() {
    let rate = mode::knob("BENCH_RATE", 1_000, 200);
    let seconds = mode::knob("BENCH_SECONDS", 10, 1);
    let subscribers = mode::knob("BENCH_SUBSCRIBERS", 10, 2) as usize;
    let catch_up_events = mode::knob("BENCH_CATCH_UP_EVENTS", 1_000_000, 4_000);
    // The `max_batch` of each catch-up read, in turn: 0 is one event per message.
    let catch_up_batches: Vec<u32> = std::env::var("BENCH_CATCH_UP_BATCHES")
        .ok()
        .filter(|_| mode::benching())
        .unwrap_or_else(|| "0,256".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("BENCH_CATCH_UP_BATCHES: numbers, comma-separated")
        })
        .collect();
    // The `max_batch` of the live subscribers (0: one event per message).
    let live_batch = mode::knob("BENCH_LIVE_MAX_BATCH", 0, 0) as u32;

    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = Config::new(dir.path());
    if let Some(budget) = std::env::var("BENCH_STATE_CACHE_EVENTS")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        config.state_cache_events = budget;
    }
    let server = tokio::spawn(relledger::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let connect = || async move {
        let channel = Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        LedgerClient::new(channel)
    };

    let mut client = connect().await;
    client
        .append(AppendRequest {
            account_id: "bench".into(),
            expected_revision: None,
            events: events::opening("Bench"),
        })
        .await
        .unwrap();

    if seconds > 0 {
        live_latency(&connect, rate, seconds, subscribers, live_batch).await;
    }
    if catch_up_events > 0 {
        catch_up(&connect, address, catch_up_events, &catch_up_batches).await;
    }
    let feed = Feed {
        accounts: mode::knob("BENCH_FEED_ACCOUNTS", 10_000, 20),
        history: mode::knob("BENCH_FEED_EVENTS", 1_000, 30),
        rate: mode::knob("BENCH_FEED_RATE", 1_000, 100),
        seconds: mode::knob("BENCH_FEED_SECONDS", 10, 1),
    };
    if feed.accounts > 0 && feed.seconds > 0 {
        change_feed(&connect, address, &feed).await;
    }

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

async fn live_latency<F, Fut>(
    connect: &F,
    rate: u64,
    seconds: u64,
    subscribers: usize,
    max_batch: u32,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = LedgerClient<Channel>>,
{
    let appends = rate * seconds;
    println!(
        "live: {appends} appends at {rate}/s, {subscribers} subscribers from the end (max_batch {max_batch}), one event per append"
    );
    // Every subscriber notes when each event id arrived.
    let mut followers = Vec::new();
    for _ in 0..subscribers {
        let mut client = connect().await;
        let mut stream = client
            .subscribe(SubscribeRequest {
                start: Some(Start::FromEnd(pbjson_types::Empty {})),
                max_batch,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        loop {
            let message = stream.message().await.unwrap().unwrap();
            if matches!(message.kind, Some(Kind::CaughtUp(_))) {
                break;
            }
        }
        followers.push(tokio::spawn(async move {
            let mut arrivals = Vec::with_capacity(appends as usize);
            while arrivals.len() < appends as usize {
                let message = stream.message().await.unwrap().unwrap();
                match message.kind {
                    Some(Kind::Event(event)) => {
                        arrivals.push((event.event.unwrap().event_id, Instant::now()))
                    }
                    Some(Kind::Events(batch)) => {
                        let now = Instant::now();
                        for event in batch.events {
                            arrivals.push((event.event.unwrap().event_id, now));
                        }
                    }
                    _ => {}
                }
            }
            arrivals
        }));
    }

    // Writers: one append per tick, each on its own task so a slow ack never delays the next.
    let sent_and_acked: Arc<Mutex<HashMap<String, (Instant, Instant)>>> = Arc::default();
    let mut writers = Vec::new();
    let clients: Vec<_> = connect_many(connect, 8).await;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..appends {
        tick.tick().await;
        let mut client = clients[i as usize % clients.len()].clone();
        let record = Arc::clone(&sent_and_acked);
        writers.push(tokio::spawn(async move {
            let event = events::event(10, events::visit(&["c1"]));
            let id = event.event_id.clone();
            let sent = Instant::now();
            client
                .append(AppendRequest {
                    account_id: "bench".into(),
                    expected_revision: None,
                    events: vec![event],
                })
                .await
                .unwrap();
            record.lock().unwrap().insert(id, (sent, Instant::now()));
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let times = sent_and_acked.lock().unwrap().clone();
    let (mut from_ack, mut from_send) = (Vec::new(), Vec::new());
    let mut before_ack = 0;
    for follower in followers {
        let arrivals = follower.await.unwrap();
        let distinct: std::collections::HashSet<&String> =
            arrivals.iter().map(|(id, _)| id).collect();
        assert_eq!(
            distinct.len() as u64,
            appends,
            "every event delivered once to each subscriber"
        );
        for (id, arrived) in arrivals {
            let Some(&(sent, acked)) = times.get(&id) else {
                panic!("a subscriber received {id}, which was not appended");
            };
            // The head is published before the append is answered, so a subscriber can see
            // the event before the writer sees the ack: that counts as zero.
            if arrived < acked {
                before_ack += 1;
            }
            from_ack.push(arrived.saturating_duration_since(acked));
            from_send.push(arrived.duration_since(sent));
        }
    }
    report("ack -> delivery", &mut from_ack);
    report("send -> delivery", &mut from_send);
    println!(
        "  {before_ack} of {} deliveries arrived before the writer saw the ack",
        from_ack.len()
    );
}

async fn connect_many<F, Fut>(connect: &F, n: usize) -> Vec<LedgerClient<Channel>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = LedgerClient<Channel>>,
{
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(connect().await);
    }
    clients
}

fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {what}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        latencies.len()
    );
}

/// How many accounts the catch-up log is spread over: the live projector, which also reads
/// the log, folds each account's history, and one account of a million events would measure
/// the projector's worst case instead of the subscription.
const CATCH_UP_ACCOUNTS: u64 = 100;

async fn catch_up<F, Fut>(connect: &F, address: std::net::SocketAddr, total: u64, batches: &[u32])
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = LedgerClient<Channel>>,
{
    let mut client = connect().await;
    let batch = 1_000;
    let written = Instant::now();
    for account in 0..CATCH_UP_ACCOUNTS {
        client
            .append(AppendRequest {
                account_id: format!("catch-up-{account}"),
                expected_revision: None,
                events: events::opening("Catch-up"),
            })
            .await
            .unwrap();
    }
    let mut writers = Vec::new();
    // Four concurrent writers of 1,000-event appends, each to the accounts in turn.
    for w in 0..4u64 {
        let mut client = client.clone();
        writers.push(tokio::spawn(async move {
            for (i, _) in (w * batch..total).step_by(4 * batch as usize).enumerate() {
                let account = (w + 4 * i as u64) % CATCH_UP_ACCOUNTS;
                let events = (0..batch)
                    .map(|_| events::event(10, events::visit(&["c1"])))
                    .collect();
                client
                    .append(AppendRequest {
                        account_id: format!("catch-up-{account}"),
                        expected_revision: None,
                        events,
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut head = 0;
    let mut stream = client
        .subscribe(SubscribeRequest {
            start: Some(Start::FromEnd(pbjson_types::Empty {})),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.message().await.unwrap() {
        if let Some(Kind::CaughtUp(caught_up)) = message.kind {
            head = caught_up.next_position;
            break;
        }
    }
    drop(stream);
    println!(
        "catch-up: wrote {head} events over {CATCH_UP_ACCOUNTS} accounts in {:.1} s",
        written.elapsed().as_secs_f64()
    );
    let waited = Instant::now();
    projector_reaches(address, head).await;
    println!(
        "  the live projector reached the head {:.1} s later; reading from position 0",
        waited.elapsed().as_secs_f64()
    );

    for &max_batch in batches {
        let cpu = process_cpu_seconds();
        let started = Instant::now();
        let mut stream = client
            .subscribe(SubscribeRequest {
                start: Some(Start::FromStart(pbjson_types::Empty {})),
                max_batch,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let (mut events, mut messages) = (0u64, 0u64);
        let mut next = 0;
        while let Some(message) = stream.message().await.unwrap() {
            messages += 1;
            match message.kind {
                Some(Kind::Event(event)) => {
                    assert_eq!(event.position, next, "in order, none skipped");
                    next += 1;
                    events += 1;
                }
                Some(Kind::Events(batch)) => {
                    for event in &batch.events {
                        assert_eq!(event.position, next, "in order, none skipped");
                        next += 1;
                    }
                    events += batch.events.len() as u64;
                }
                Some(Kind::CaughtUp(_)) => break,
                _ => {}
            }
        }
        assert_eq!(next, head, "the catch-up read every event, from position 0");
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds() - cpu;
        let how = match max_batch {
            0 => "one event per message".to_string(),
            n => format!("max_batch {n}"),
        };
        println!(
            "  {how}: {events} events in {messages} messages in {elapsed:.2} s: {:.0} events/s \
             ({cpu:.2} s of CPU for server and client together: {:.2} us per event)",
            events as f64 / elapsed,
            cpu * 1e6 / events as f64
        );
    }
}

/// The CPU time this process (server and clients) has used so far, user and system, from
/// `/proc/self/stat` (Linux; clock ticks of 10 ms): on a machine shared with other work it
/// tells what the catch-up cost, which the wall-clock rate alone does not.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime: fields 14 and 15 of the line, 11 and 12 (from 0) after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Waits until the live projector has projected every position below `head`, so that the
/// catch-up is measured on a server that does nothing else: its progress is the
/// `next_position` of the relationship change feed's heartbeats.
async fn projector_reaches(address: std::net::SocketAddr, head: u64) {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = RelationshipsClient::new(channel);
    let mut stream = client
        .subscribe_relationship_changes(SubscribeRelationshipChangesRequest {
            start: Some(ChangeStart::FromEnd(pbjson_types::Empty {})),
            heartbeat_interval: Some(pbjson_types::Duration {
                seconds: 0,
                nanos: 100_000_000,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.message().await.unwrap() {
        if let Some(ChangeKind::Heartbeat(beat)) = message.kind {
            if beat.next_position >= head {
                return;
            }
        }
    }
    panic!("the change feed ended before the projector reached {head}");
}

/// The change feed phase's knobs: `accounts` of `history` events each, then `rate` appends a
/// second for `seconds`, each of which changes its account's alerts.
struct Feed {
    accounts: u64,
    history: u64,
    rate: u64,
    seconds: u64,
}

/// The `i`-th event of a feed account's history, dated over the two years before `at(0)`:
/// visits, calls, promises made and kept, solutions and orders.
fn history_event(i: u64, count: u64) -> relledger::api::proto::ProposedEvent {
    let span = 730 * 24 * 60;
    let minute = -span + (i * span as u64 / count.max(1)) as i64;
    let payload = match i % 6 {
        0 => events::visit(&["c1"]),
        1 => events::call("c1"),
        2 => events::promise_made(&format!("p{i}"), "c1"),
        3 => events::promise_kept(&format!("p{}", i - 1)),
        4 => events::solution(&["c1"]),
        _ => events::order_won(&format!("o{i}"), 1_000_000, 80_000),
    };
    events::event(minute, payload)
}

/// The change feed's delay: accounts with long histories, then appends at a steady rate spread
/// over them, each of which changes its account's alerts (an invoice already past due raises
/// `RECEIVABLES_OVERDUE`, its payment clears it). For each, the time from the append's
/// acknowledgement reaching the writer to its change reaching a subscriber of the feed.
async fn change_feed<F, Fut>(connect: &F, address: std::net::SocketAddr, feed: &Feed)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = LedgerClient<Channel>>,
{
    let filled = Instant::now();
    let client = connect().await;
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let mut client = client.clone();
        let (accounts, history) = (feed.accounts, feed.history);
        writers.push(tokio::spawn(async move {
            for account in (w..accounts).step_by(4) {
                let mut all = events::opening("Feed");
                all.extend((0..history).map(|i| history_event(i, history)));
                let mut rest = all.as_slice();
                while !rest.is_empty() {
                    let (batch, after) = rest.split_at(rest.len().min(1_000));
                    client
                        .append(AppendRequest {
                            account_id: format!("feed-{account}"),
                            expected_revision: None,
                            events: batch.to_vec(),
                        })
                        .await
                        .unwrap();
                    rest = after;
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let head = client
        .clone()
        .append(AppendRequest {
            account_id: "feed-0".into(),
            expected_revision: None,
            events: vec![events::event(0, events::visit(&["c1"]))],
        })
        .await
        .unwrap()
        .into_inner()
        .last_position
        + 1;
    println!(
        "change feed: {} accounts of {} events written in {:.1} s",
        feed.accounts,
        feed.history + 2,
        filled.elapsed().as_secs_f64()
    );
    let waited = Instant::now();
    projector_reaches(address, head).await;
    println!(
        "  the live projector reached the head {:.1} s later",
        waited.elapsed().as_secs_f64()
    );

    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut stream = RelationshipsClient::new(channel)
        .subscribe_relationship_changes(SubscribeRelationshipChangesRequest {
            start: Some(ChangeStart::FromEnd(pbjson_types::Empty {})),
            account_id_prefix: "feed-".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let appends = feed.rate * feed.seconds;
    // Per account, the position of the last change that reached the feed: an account's next
    // append waits for its previous one's change, so that two appends to one account are never
    // judged in one page (an invoice and its payment together change nothing, and the feed
    // would rightly say nothing). At the default knobs an account is appended to every
    // `accounts / rate` seconds, far longer than a change takes, and no append waits.
    let reached: Arc<Vec<tokio::sync::watch::Sender<u64>>> = Arc::new(
        (0..feed.accounts)
            .map(|_| tokio::sync::watch::Sender::new(0))
            .collect(),
    );
    let follower = {
        let reached = Arc::clone(&reached);
        tokio::spawn(async move {
            let mut arrivals = HashMap::with_capacity(appends as usize);
            while (arrivals.len() as u64) < appends {
                let Some(message) = stream.message().await.unwrap() else {
                    break;
                };
                if let Some(ChangeKind::Change(change)) = message.kind {
                    arrivals.insert(change.position, Instant::now());
                    let account = change.account_id.trim_start_matches("feed-");
                    if let Some(reached) =
                        account.parse::<usize>().ok().and_then(|a| reached.get(a))
                    {
                        reached.send_replace(change.position);
                    }
                }
            }
            arrivals
        })
    };

    // One append per tick, each account's in turn, an account's appends one at a time (its
    // payment must follow its invoice, and its invoice's change must have reached the feed).
    let locks: Vec<Arc<tokio::sync::Mutex<()>>> =
        (0..feed.accounts).map(|_| Arc::default()).collect();
    let acked: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let clients = connect_many(connect, 8).await;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / feed.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut writers = Vec::new();
    for i in 0..appends {
        tick.tick().await;
        let account = i % feed.accounts;
        let round = i / feed.accounts;
        let mut client = clients[i as usize % clients.len()].clone();
        let (lock, acked) = (Arc::clone(&locks[account as usize]), Arc::clone(&acked));
        let mut reached = reached[account as usize].subscribe();
        writers.push(tokio::spawn(async move {
            let _turn = lock.lock().await;
            let invoice = format!("inv-{}", round / 2);
            // Dated after the history; the invoice fell due long before now.
            let event = if round.is_multiple_of(2) {
                events::event_on(1, events::invoice(&invoice, 50_000, events::on_day(10)))
            } else {
                events::event_on(2, events::payment(&invoice, 50_000))
            };
            let response = client
                .append(AppendRequest {
                    account_id: format!("feed-{account}"),
                    expected_revision: None,
                    events: vec![event],
                })
                .await
                .unwrap()
                .into_inner();
            let position = response.last_position;
            acked.lock().unwrap().insert(position, Instant::now());
            // Holds the account's turn until the change is out (or the feed ended, which the
            // count of arrivals below reports).
            let _ = reached.wait_for(|reached| *reached >= position).await;
        }));
    }
    let arrivals = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .expect("every change reached the feed within a minute")
        .unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let mut delays: Vec<Duration> = acked
        .iter()
        .filter_map(|(position, acked)| {
            let arrived = arrivals.get(position)?;
            Some(arrived.saturating_duration_since(*acked))
        })
        .collect();
    println!(
        "  {appends} appends at {}/s over the accounts, each changing its account's alerts: {} changes received",
        feed.rate,
        delays.len()
    );
    assert_eq!(
        delays.len() as u64,
        appends,
        "each append's change reached the feed"
    );
    report("ack -> change", &mut delays);
}
