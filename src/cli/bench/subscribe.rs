//! The subscribe workload: one-event appends at a steady rate, spread over the clients, while
//! subscribers follow the account from the end; for every (event, subscriber), the time from
//! the writer receiving the append's acknowledgement to the subscriber receiving the event.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::sync::watch;
use tonic::Streaming;

use super::{connect, report, visit, BenchArgs, Budget, ClientChannel, Progress, Setup, Tally};
use super::{FairnessReport, MixedReport};
use crate::api::proto::ledger_client::LedgerClient;
use crate::api::proto::{subscribe_request::Start, subscribe_response::Kind};
use crate::api::proto::{AppendRequest, SubscribeRequest, SubscribeResponse};

/// How long subscribers may still take, after the last append, to receive what they miss.
const GRACE: Duration = Duration::from_secs(10);

/// What the measured phase of a workload counted.
pub(super) struct Outcome {
    pub(super) tally: Tally,
    pub(super) deliveries: Option<Deliveries>,
    pub(super) fairness: Option<FairnessReport>,
    pub(super) mixed: Option<MixedReport>,
}

impl Outcome {
    /// Just the calls' tally, for the workloads that report nothing more.
    pub(super) fn of(tally: Tally) -> Outcome {
        Outcome {
            tally,
            deliveries: None,
            fairness: None,
            mixed: None,
        }
    }
}

/// The subscribers' side of the subscribe workload.
pub(super) struct Deliveries {
    pub(super) subscribers: usize,
    /// Ack-to-delivery latency, one sample per delivery of an acknowledged append.
    pub(super) latency: Histogram<u64>,
    /// Deliveries of acknowledged appends that did not arrive within the grace period.
    pub(super) missing: u64,
}

pub(super) async fn run(
    args: &BenchArgs,
    url: &str,
    setup: &Setup,
    channels: &[ClientChannel],
    budget: &Arc<Budget>,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let account = setup.accounts[0].clone();
    let subscribers = usize::try_from(args.subscribers).context("--subscribers is too large")?;
    let (target_tx, target_rx) = watch::channel::<Option<u64>>(None);
    let mut followers = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let request = SubscribeRequest {
            account_ids: vec![account.clone()],
            ..SubscribeRequest::default()
        };
        let stream = caught_up(args, url, request).await?;
        followers.push(tokio::spawn(follow(stream, target_rx.clone())));
    }

    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut writers = Vec::new();
    let mut i = 0usize;
    while budget.take() {
        tick.tick().await;
        let mut ledger = LedgerClient::new(channels[i % channels.len()].clone());
        i += 1;
        let account = account.clone();
        let done = Arc::clone(&progress.done);
        // Each append on its own task, so a slow acknowledgement never delays the next tick.
        writers.push(tokio::spawn(async move {
            let event = visit();
            let id = event.event_id.clone();
            let sent = Instant::now();
            let result = ledger
                .append(AppendRequest {
                    account_id: account,
                    expected_revision: None,
                    events: vec![event],
                })
                .await;
            done.fetch_add(1, Ordering::Relaxed);
            (id, sent, Instant::now(), result.map(|_| ()))
        }));
    }
    let mut tally = Tally::new();
    let mut acked: HashMap<String, Instant> = HashMap::new();
    for writer in writers {
        let (id, sent, ack, result) = writer.await.context("a writer task failed")?;
        report::record(&mut tally.latency, ack.duration_since(sent));
        match result {
            Ok(()) => {
                tally.ok += 1;
                tally.events += 1;
                acked.insert(id, ack);
            }
            Err(status) => tally.error(&status),
        }
    }
    let _ = target_tx.send(Some(acked.len() as u64));

    let mut latency = report::histogram();
    let mut received = 0u64;
    for follower in followers {
        let arrivals = follower.await.context("a subscriber task failed")?;
        for (id, arrived) in arrivals {
            if let Some(ack) = acked.get(&id) {
                received += 1;
                // The head is published just before a group's appends are answered, so an
                // event can arrive before its ack: that counts as 0.
                report::record(&mut latency, arrived.saturating_duration_since(*ack));
            }
        }
    }
    let expected = acked.len() as u64 * subscribers as u64;
    Ok(Outcome {
        deliveries: Some(Deliveries {
            subscribers,
            latency,
            missing: expected.saturating_sub(received),
        }),
        ..Outcome::of(tally)
    })
}

/// Collects the events one subscriber receives, with their arrival times, until it has as many
/// as the target (known once the writers are done) or the grace period after that runs out.
/// A live subscription from the end with `request`'s filter (and `--max-batch`), once it has
/// caught up: the appends that follow are what it delivers from then on.
pub(super) async fn caught_up(
    args: &BenchArgs,
    url: &str,
    request: SubscribeRequest,
) -> anyhow::Result<Streaming<SubscribeResponse>> {
    let mut ledger = LedgerClient::new(connect(args, url).await?);
    let request = SubscribeRequest {
        start: Some(Start::FromEnd(pbjson_types::Empty {})),
        max_batch: args.max_batch,
        ..request
    };
    let mut stream = ledger
        .subscribe(request)
        .await
        .context("cannot subscribe")?
        .into_inner();
    loop {
        let message = stream
            .message()
            .await
            .context("the subscription failed")?
            .context("the subscription ended before catching up")?;
        if matches!(message.kind, Some(Kind::CaughtUp(_))) {
            return Ok(stream);
        }
    }
}

async fn follow(
    mut stream: Streaming<SubscribeResponse>,
    mut target: watch::Receiver<Option<u64>>,
) -> Vec<(String, Instant)> {
    let mut arrivals = Vec::new();
    let mut give_up: Option<tokio::time::Instant> = None;
    loop {
        if let Some(target) = *target.borrow() {
            if arrivals.len() as u64 >= target {
                break;
            }
            give_up.get_or_insert_with(|| tokio::time::Instant::now() + GRACE);
        }
        let deadline = give_up.unwrap_or_else(|| tokio::time::Instant::now() + GRACE);
        tokio::select! {
            message = stream.message() => match message {
                Ok(Some(message)) => match message.kind {
                    Some(Kind::Event(event)) => {
                        let id = event.event.map(|e| e.event_id).unwrap_or_default();
                        arrivals.push((id, Instant::now()));
                    }
                    Some(Kind::Events(batch)) => {
                        let now = Instant::now();
                        for event in batch.events {
                            let id = event.event.map(|e| e.event_id).unwrap_or_default();
                            arrivals.push((id, now));
                        }
                    }
                    _ => {}
                },
                _ => break,
            },
            changed = target.changed(), if give_up.is_none() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(deadline), if give_up.is_some() => break,
        }
    }
    arrivals
}
