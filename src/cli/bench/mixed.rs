//! The mixed workload, for soaks: every client goes round a cycle of ten calls (four
//! one-event appends to its own accounts, two `GetRelationship`, one `ReadStream` of an
//! account's last 20 events, one page of 100 events of `ReadAll`, one `ListRelationships`
//! page and one `GetPortfolio`) as fast as the answers come, while `--subscribers` live
//! subscriptions follow the run's accounts from the end. A refusal for being over a limit is
//! counted and waited out as its RetryInfo says. Every `--report-every` seconds a line gives
//! each kind's rate and the server's resident memory ([`intervals`](super::intervals)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{watch, Barrier};
use tonic::Streaming;
use tonic_types::StatusExt as _;

use super::intervals::{resident_mib, Counters, Interval, Reporter, KINDS};
use super::report::{self, latency_rows, Latency};
use super::{one_visit, BenchArgs, Budget, ClientChannel, Progress, Setup, Tally};
use crate::api::proto::ledger_client::LedgerClient;
use crate::api::proto::relationships_client::RelationshipsClient;
use crate::api::proto::{self, subscribe_response::Kind};

/// One client's cycle, as indices into [`KINDS`]: appends spread between the reads.
const CYCLE: [usize; 10] = [0, 3, 0, 1, 0, 2, 3, 0, 4, 5];

/// How long subscriptions may still take, after the last append, to receive what they miss.
const GRACE: Duration = Duration::from_secs(10);

/// One kind of call over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct KindTotal {
    pub kind: String,
    pub ok: u64,
    pub errors: u64,
    /// Successful calls per second.
    pub per_sec: f64,
    pub latency_ms: Latency,
}

/// The mixed workload's report.
#[derive(Debug, Clone, Serialize)]
pub struct MixedReport {
    pub kinds: Vec<KindTotal>,
    pub subscribers: usize,
    /// Events the subscriptions received, all together.
    pub deliveries: u64,
    /// (appended event, subscription) pairs not received within the grace period.
    pub missing_deliveries: u64,
    /// Whose resident memory is reported: `pid N` (`--server-pid`), or this process when it
    /// started the server itself (and then the load generator's memory is counted too).
    pub rss_of: Option<String>,
    pub rss_start_mib: Option<f64>,
    pub rss_end_mib: Option<f64>,
    pub intervals: Vec<Interval>,
}

impl MixedReport {
    /// The report's rows of the text table.
    pub(super) fn rows(&self, rows: &mut Vec<(String, String)>) {
        for kind in &self.kinds {
            rows.push((
                kind.kind.clone(),
                format!(
                    "{} ok ({:.1}/s), {} errors",
                    kind.ok, kind.per_sec, kind.errors
                ),
            ));
            latency_rows(rows, &kind.kind, &kind.latency_ms);
        }
        rows.push((
            "subscriptions".into(),
            format!(
                "{}: {} events delivered ({} missing)",
                self.subscribers, self.deliveries, self.missing_deliveries
            ),
        ));
        if let Some(of) = &self.rss_of {
            let mib = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.1} MiB"));
            rows.push((
                "resident memory".into(),
                format!(
                    "{of}: {} at start, {} at end",
                    mib(self.rss_start_mib),
                    mib(self.rss_end_mib)
                ),
            ));
        }
        for interval in &self.intervals {
            rows.push(("interval".into(), interval.line()));
        }
    }
}

/// Runs the measured phase. `rss_pid` is the process whose memory is reported, with its label.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run(
    args: &BenchArgs,
    url: &str,
    run_id: &str,
    setup: &Setup,
    channels: &[ClientChannel],
    budget: &Arc<Budget>,
    progress: &Progress,
    rss: Option<(u32, String)>,
) -> anyhow::Result<(Tally, MixedReport)> {
    let subscribers = usize::try_from(args.subscribers).context("--subscribers is too large")?;
    let (target_tx, target_rx) = watch::channel::<Option<u64>>(None);
    let counters = Arc::new(Counters::new());
    let mut followers = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let stream = subscribe(args, url, &format!("bench-{run_id}-")).await?;
        followers.push(tokio::spawn(follow(
            stream,
            target_rx.clone(),
            Arc::clone(&counters),
        )));
    }

    let rss_pid = rss.as_ref().map(|(pid, _)| *pid);
    let rss_start_mib = rss_pid.and_then(resident_mib);
    let reporter = Reporter::start(
        Arc::clone(&counters),
        Duration::from_secs_f64(args.report_every.max(0.1)),
        rss_pid,
    );
    let started = Instant::now();
    let clients = channels.len();
    let barrier = Arc::new(Barrier::new(clients));
    let mut tasks = Vec::with_capacity(clients);
    for (index, channel) in channels.iter().enumerate() {
        tasks.push(tokio::spawn(client(
            index,
            channel.clone(),
            setup.accounts_of(index, clients),
            Arc::clone(budget),
            Arc::clone(&counters),
            Arc::clone(&progress.done),
            Arc::clone(&barrier),
        )));
    }
    let mut tally = Tally::new();
    let mut by_kind: Vec<Histogram<u64>> = KINDS.iter().map(|_| report::histogram()).collect();
    for task in tasks {
        let (client_tally, client_kinds) = task.await.context("a client task failed")?;
        tally.merge(client_tally);
        for (total, h) in by_kind.iter_mut().zip(&client_kinds) {
            total.add(h).expect("same bounds");
        }
    }
    let secs = started.elapsed().as_secs_f64().max(f64::EPSILON);
    let intervals = reporter.finish().await?;
    let rss_end_mib = rss_pid.and_then(resident_mib);

    let appended = counters.ok[0].load(Ordering::Relaxed);
    let _ = target_tx.send(Some(appended));
    let mut deliveries = 0u64;
    let mut missing = 0u64;
    for follower in followers {
        let received = follower.await.context("a subscription task failed")?;
        deliveries += received;
        missing += appended.saturating_sub(received);
    }
    let kinds = KINDS
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            let ok = counters.ok[k].load(Ordering::Relaxed);
            KindTotal {
                kind: kind.to_string(),
                ok,
                errors: counters.errors[k].load(Ordering::Relaxed),
                per_sec: ok as f64 / secs,
                latency_ms: Latency::of(&by_kind[k]),
            }
        })
        .collect();
    Ok((
        tally,
        MixedReport {
            kinds,
            subscribers,
            deliveries,
            missing_deliveries: missing,
            rss_of: rss.map(|(_, label)| label),
            rss_start_mib,
            rss_end_mib,
            intervals,
        },
    ))
}

/// One client: the cycle of calls until the budget is spent. Returns its tally and its
/// latency by kind.
async fn client(
    index: usize,
    channel: ClientChannel,
    accounts: Vec<String>,
    budget: Arc<Budget>,
    counters: Arc<Counters>,
    done: Arc<AtomicU64>,
    barrier: Arc<Barrier>,
) -> (Tally, Vec<Histogram<u64>>) {
    let mut ledger = LedgerClient::new(channel.clone());
    let mut relationships = RelationshipsClient::new(channel);
    let mut tally = Tally::new();
    let mut by_kind: Vec<Histogram<u64>> = KINDS.iter().map(|_| report::histogram()).collect();
    // Where this client's next page of the global log starts; back to 0 at the end of the log.
    let mut cursor = 0u64;
    barrier.wait().await;
    let mut n = index;
    while budget.take() {
        let kind = CYCLE[n % CYCLE.len()];
        let account = accounts[(n / CYCLE.len()) % accounts.len()].clone();
        n += 1;
        let started = Instant::now();
        let result: Result<(), tonic::Status> = match kind {
            0 => ledger
                .append(one_visit(account))
                .await
                .map(|_| tally.events += 1),
            1 => {
                let request = proto::ReadStreamRequest {
                    account_id: account,
                    from_revision: None,
                    direction: proto::Direction::Backwards as i32,
                    max_count: 20,
                };
                match ledger.read_stream(request).await {
                    Ok(response) => drain(response.into_inner()).await.map(|_| ()),
                    Err(status) => Err(status),
                }
            }
            2 => {
                let request = proto::ReadAllRequest {
                    from_position: Some(cursor),
                    max_count: 100,
                    ..Default::default()
                };
                match ledger.read_all(request).await {
                    Ok(response) => drain(response.into_inner()).await.map(|(count, last)| {
                        cursor = match last {
                            Some(position) if count == 100 => position + 1,
                            _ => 0,
                        };
                    }),
                    Err(status) => Err(status),
                }
            }
            3 => relationships
                .get_relationship(proto::GetRelationshipRequest {
                    account_id: account,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            4 => relationships
                .list_relationships(proto::ListRelationshipsRequest {
                    page_size: 20,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            _ => relationships
                .get_portfolio(proto::GetPortfolioRequest::default())
                .await
                .map(|_| ()),
        };
        let elapsed = started.elapsed();
        report::record(&mut tally.latency, elapsed);
        report::record(&mut by_kind[kind], elapsed);
        counters.record(kind, result.is_ok(), elapsed);
        match result {
            Ok(()) => tally.ok += 1,
            Err(status) => {
                tally.error(&status);
                // Over a limit: wait as long as the server asks, as a well-behaved client does.
                if status.code() == tonic::Code::ResourceExhausted {
                    if let Some(delay) = status.get_details_retry_info().and_then(|r| r.retry_delay)
                    {
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    (tally, by_kind)
}

/// Reads a stream of events to its end: how many, and the global position of the last.
async fn drain(
    mut stream: Streaming<proto::RecordedEvent>,
) -> Result<(u64, Option<u64>), tonic::Status> {
    let mut count = 0;
    let mut last = None;
    while let Some(event) = stream.message().await? {
        count += 1;
        last = Some(event.position);
    }
    Ok((count, last))
}

/// A live subscription to the accounts named with `prefix`, from the end, once caught up.
async fn subscribe(
    args: &BenchArgs,
    url: &str,
    prefix: &str,
) -> anyhow::Result<Streaming<proto::SubscribeResponse>> {
    let request = proto::SubscribeRequest {
        account_id_prefix: prefix.to_string(),
        ..proto::SubscribeRequest::default()
    };
    super::subscribe::caught_up(args, url, request).await
}

/// Counts the events one subscription receives, until it has the target (the appends that
/// succeeded, known once the clients are done) or the grace period after that runs out.
async fn follow(
    mut stream: Streaming<proto::SubscribeResponse>,
    mut target: watch::Receiver<Option<u64>>,
    counters: Arc<Counters>,
) -> u64 {
    let mut received = 0u64;
    let mut give_up: Option<tokio::time::Instant> = None;
    loop {
        if let Some(target) = *target.borrow() {
            if received >= target {
                break;
            }
            give_up.get_or_insert_with(|| tokio::time::Instant::now() + GRACE);
        }
        let deadline = give_up.unwrap_or_else(|| tokio::time::Instant::now() + GRACE);
        tokio::select! {
            message = stream.message() => {
                let events = match message {
                    Ok(Some(message)) => match message.kind {
                        Some(Kind::Event(_)) => 1,
                        Some(Kind::Events(batch)) => batch.events.len() as u64,
                        _ => 0,
                    },
                    _ => break,
                };
                received += events;
                counters.delivered.fetch_add(events, Ordering::Relaxed);
            },
            changed = target.changed(), if give_up.is_none() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(deadline), if give_up.is_some() => break,
        }
    }
    received
}
