//! `relledger bench`: a load generator. N concurrent gRPC clients (one connection each) drive a
//! running server, or one this command starts on 127.0.0.1:0 with a temp data dir, with one of
//! the workloads of [`Workload`], for a duration or a number of requests; it reports throughput
//! and latency percentiles (HdrHistogram) as a text table or as JSON.

mod clients;
mod report;

use clients::{last_revision, visit, Client, Setup};

pub use clients::account_opening;
pub use report::{HotAccount, Latency, Report};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::net::TcpListener;
use tokio::sync::Barrier;
use tonic::transport::{Channel, Endpoint};

use super::{code_name, print_json_line};
use crate::api::proto::ledger_client::LedgerClient;
use crate::api::proto::relationships_client::RelationshipsClient;
use crate::config::Config;

/// The events an account is opened with: `AccountOpened` and one contact.
const OPENING_EVENTS: u64 = 2;

/// What the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Durable appends of one event, each client to its own accounts.
    Append1,
    /// Durable appends of batches of 10 events, each client to its own accounts.
    Append10,
    /// Appends with an `exact` expected revision to a few hot accounts shared by all clients;
    /// an ABORTED conflict is counted, the revision read back and the append retried.
    Contention,
    /// `GetRelationship` of existing accounts.
    Read,
    /// Appends at a steady rate while subscribers follow from the end; latency from the
    /// append's acknowledgement to the event's delivery.
    Subscribe,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Append1 => "append1",
            Workload::Append10 => "append10",
            Workload::Contention => "contention",
            Workload::Read => "read",
            Workload::Subscribe => "subscribe",
        }
    }
}

/// Drives a ledger server with concurrent clients and reports throughput and latency.
///
/// Without `--server` it starts a server in this process on 127.0.0.1 (a free port) with a temp
/// data dir that is removed afterwards. It stops after `--requests` calls or `--duration`
/// seconds (10 s when neither is given), whichever comes first.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// A running server's gRPC endpoint, for example `http://127.0.0.1:50051`; without it the
    /// command starts its own.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = Workload::Append1)]
    pub workload: Workload,
    /// Concurrent gRPC clients, each on its own connection.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub clients: u64,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many calls (all clients together).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Accounts the appends and reads are spread over (at least one per client).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub accounts: u64,
    /// Contention: the hot accounts all clients append to.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub hot_accounts: u64,
    /// Subscribe: subscribers following from the end.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub subscribers: u64,
    /// Subscribe: the subscribers' `max_batch`: 0 for one event per message, 1 to 256 for
    /// batches (live, a batch holds what one commit made visible).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub max_batch: u32,
    /// Subscribe: appends per second, all clients together.
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Print the report as one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `relledger bench` and prints its report on stdout.
pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let report = run(&args).await?;
    let mut out = std::io::stdout();
    if args.json {
        print_json_line(&mut out, &report)?;
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Runs the benchmark and returns its report.
pub async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    match &args.server {
        Some(url) => run_against(args, url.clone(), url.clone()).await,
        None => {
            let dir = tempfile::tempdir().context("cannot create a temp data dir")?;
            let server = crate::server::OpenServer::open(Config::new(dir.path()))?;
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("cannot listen on 127.0.0.1")?;
            let address = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(server.run(listener, async {
                let _ = stopped.await;
            }));
            let result =
                run_against(args, format!("http://{address}"), "self-started".into()).await;
            let _ = stop.send(());
            task.await.context("the server task failed")??;
            result
        }
    }
}

/// The budget shared by the clients: a number of calls, a deadline, or both.
struct Budget {
    issued: AtomicU64,
    limit: Option<u64>,
    deadline: Instant,
}

impl Budget {
    /// Takes one call from the budget; false once it is spent.
    fn take(&self) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        match self.limit {
            Some(limit) => self.issued.fetch_add(1, Ordering::Relaxed) < limit,
            None => {
                self.issued.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    }
}

/// What one client counted.
struct Tally {
    latency: Histogram<u64>,
    ok: u64,
    conflicts: u64,
    events: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: report::histogram(),
            ok: 0,
            conflicts: 0,
            events: 0,
            errors: BTreeMap::new(),
        }
    }

    fn error(&mut self, status: &tonic::Status) {
        *self
            .errors
            .entry(code_name(status.code()).to_string())
            .or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.latency.add(&other.latency).expect("same bounds");
        self.ok += other.ok;
        self.conflicts += other.conflicts;
        self.events += other.events;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
    }
}

async fn run_against(args: &BenchArgs, url: String, label: String) -> anyhow::Result<Report> {
    let clients = usize::try_from(args.clients).context("--clients is too large")?;
    let mut channels = Vec::with_capacity(clients);
    for _ in 0..clients {
        channels.push(connect(&url).await?);
    }
    // Names unique to this run, so runs against one server never share accounts.
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let seconds = match (args.duration, args.requests) {
        (Some(seconds), _) => seconds,
        (None, Some(_)) => 3600.0,
        (None, None) => 10.0,
    };
    anyhow::ensure!(
        seconds.is_finite() && seconds > 0.0,
        "--duration must be a positive number of seconds"
    );
    let duration = Duration::from_secs_f64(seconds);

    let setup = Setup::new(args, run_id, &channels).await?;
    let progress = Progress::start(args.requests, duration);
    let budget = Arc::new(Budget {
        issued: AtomicU64::new(0),
        limit: args.requests,
        deadline: Instant::now() + duration,
    });
    let started = Instant::now();
    let outcome = match args.workload {
        Workload::Subscribe => {
            subscribe::run(args, &url, &setup, &channels, &budget, &progress).await?
        }
        _ => {
            let barrier = Arc::new(Barrier::new(clients));
            let mut tasks = Vec::with_capacity(clients);
            for (index, channel) in channels.iter().enumerate() {
                let client = Client {
                    workload: args.workload,
                    index,
                    ledger: LedgerClient::new(channel.clone()),
                    relationships: RelationshipsClient::new(channel.clone()),
                    accounts: setup.accounts_of(index, clients),
                    budget: Arc::clone(&budget),
                    done: Arc::clone(&progress.done),
                    barrier: Arc::clone(&barrier),
                };
                tasks.push(tokio::spawn(client.run()));
            }
            let mut tally = Tally::new();
            for task in tasks {
                tally.merge(task.await.context("a client task failed")??);
            }
            subscribe::Outcome {
                tally,
                deliveries: None,
            }
        }
    };
    let elapsed = started.elapsed();
    progress.finish();

    let hot_accounts = if args.workload == Workload::Contention {
        let mut ledger = LedgerClient::new(channels[0].clone());
        let mut hot = Vec::new();
        for account in &setup.accounts {
            hot.push(HotAccount {
                account_id: account.clone(),
                final_revision: last_revision(&mut ledger, account).await?,
            });
        }
        Some(hot)
    } else {
        None
    };

    let tally = outcome.tally;
    let errors: u64 = tally.errors.values().sum();
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let mut report = Report {
        workload: args.workload.name().to_string(),
        server: label,
        clients,
        elapsed_secs: elapsed.as_secs_f64(),
        requests: tally.ok + tally.conflicts + errors,
        ok: tally.ok,
        conflicts: tally.conflicts,
        errors,
        error_codes: tally.errors,
        events: tally.events,
        throughput_per_sec: tally.ok as f64 / secs,
        events_per_sec: tally.events as f64 / secs,
        latency_ms: Latency::of(&tally.latency),
        subscribers: None,
        deliveries: None,
        missing_deliveries: None,
        delivery_latency_ms: None,
        opening_events_per_account: hot_accounts.as_ref().map(|_| OPENING_EVENTS),
        hot_accounts,
    };
    if let Some(deliveries) = outcome.deliveries {
        report.subscribers = Some(deliveries.subscribers);
        report.deliveries = Some(deliveries.latency.len());
        report.missing_deliveries = Some(deliveries.missing);
        report.delivery_latency_ms = Some(Latency::of(&deliveries.latency));
    }
    Ok(report)
}

/// Connects one client channel to `url`.
async fn connect(url: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(url.to_string())
        .with_context(|| format!("invalid server URL {url:?}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// The progress bar on stderr (hidden when stderr is not a terminal): calls done out of
/// `--requests`, or seconds out of `--duration`.
struct Progress {
    done: Arc<AtomicU64>,
    ticker: tokio::task::JoinHandle<()>,
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn start(requests: Option<u64>, duration: Duration) -> Progress {
        use std::io::IsTerminal;
        let done = Arc::new(AtomicU64::new(0));
        let (total, by_time) = match requests {
            Some(n) => (n, false),
            None => (duration.as_secs().max(1), true),
        };
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let template = if by_time {
                "{msg:>16} [{bar:40}] {pos}/{len} s"
            } else {
                "{msg:>16} [{bar:40}] {pos}/{len} requests ({eta})"
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let started = Instant::now();
        let ticker = {
            let done = Arc::clone(&done);
            let bar = bar.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                loop {
                    tick.tick().await;
                    let n = done.load(Ordering::Relaxed);
                    if by_time {
                        bar.set_position(started.elapsed().as_secs().min(total));
                    } else {
                        bar.set_position(n.min(total));
                    }
                    bar.set_message(format!("{n} calls"));
                }
            })
        };
        Progress { done, ticker, bar }
    }

    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

mod subscribe;
