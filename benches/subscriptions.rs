//! Subscription performance, as the subscriptions issue asks for it:
//!
//! 1. live latency: appends at a steady rate (default 1,000 per second, one event each) while
//!    10 subscribers follow from the end; for every event and subscriber, the time from the
//!    append's acknowledgement reaching the writer to the event reaching the subscriber (p50,
//!    p99, max), and from the append being sent;
//! 2. catch-up: a log of N events (default 1,000,000) read by one subscriber from position 0;
//!    events per second.
//!
//! A plain binary (`harness = false`): a real server on 127.0.0.1:0 in this process, real tonic
//! clients, a temp data dir. Run with `cargo bench --bench subscriptions`; the knobs are
//! environment variables: `BENCH_RATE` (appends/s), `BENCH_SECONDS`, `BENCH_SUBSCRIBERS`,
//! `BENCH_CATCH_UP_EVENTS`. Results and the machine they came from: docs/BENCHMARKS.md.

#[path = "../tests/common/events.rs"]
#[allow(dead_code)]
mod events;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::subscribe_request::Start;
use relledger::api::proto::subscribe_response::Kind;
use relledger::api::proto::{AppendRequest, SubscribeRequest};
use relledger::config::Config;
use tokio::net::TcpListener;
use tonic::transport::Channel;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let rate = knob("BENCH_RATE", 1_000);
    let seconds = knob("BENCH_SECONDS", 10);
    let subscribers = knob("BENCH_SUBSCRIBERS", 10) as usize;
    let catch_up_events = knob("BENCH_CATCH_UP_EVENTS", 1_000_000);

    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(relledger::serve(listener, Config::new(dir.path()), async {
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

    live_latency(&connect, rate, seconds, subscribers).await;
    catch_up(&connect, catch_up_events).await;

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

async fn live_latency<F, Fut>(connect: &F, rate: u64, seconds: u64, subscribers: usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = LedgerClient<Channel>>,
{
    let appends = rate * seconds;
    println!(
        "live: {appends} appends at {rate}/s, {subscribers} subscribers from the end, one event per append"
    );
    // Every subscriber notes when each event id arrived.
    let mut followers = Vec::new();
    for _ in 0..subscribers {
        let mut client = connect().await;
        let mut stream = client
            .subscribe(SubscribeRequest {
                start: Some(Start::FromEnd(pbjson_types::Empty {})),
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
                if let Some(Kind::Event(event)) = message.kind {
                    arrivals.push((event.event.unwrap().event_id, Instant::now()));
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
        for (id, arrived) in follower.await.unwrap() {
            let (sent, acked) = times[&id];
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

async fn catch_up<F, Fut>(connect: &F, total: u64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = LedgerClient<Channel>>,
{
    let mut client = connect().await;
    let batch = 1_000;
    let written = Instant::now();
    let mut writers = Vec::new();
    // Four concurrent writers of 1,000-event appends, to fill the log quickly.
    for w in 0..4u64 {
        let mut client = client.clone();
        writers.push(tokio::spawn(async move {
            for _ in (w * batch..total).step_by(4 * batch as usize) {
                let events = (0..batch)
                    .map(|_| events::event(10, events::visit(&["c1"])))
                    .collect();
                client
                    .append(AppendRequest {
                        account_id: "bench".into(),
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
        "catch-up: wrote {head} events in {:.1} s; reading them from position 0",
        written.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut stream = client
        .subscribe(SubscribeRequest {
            start: Some(Start::FromStart(pbjson_types::Empty {})),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = 0u64;
    while let Some(message) = stream.message().await.unwrap() {
        match message.kind {
            Some(Kind::Event(_)) => events += 1,
            Some(Kind::CaughtUp(_)) => break,
            _ => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "  {events} events in {elapsed:.2} s: {:.0} events/s",
        events as f64 / elapsed
    );
}
