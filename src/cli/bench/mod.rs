//! `relledger bench`: a load generator. N concurrent gRPC clients (one connection each) drive a
//! running server, or one this command starts on 127.0.0.1:0 with a temp data dir, with one of
//! the workloads of [`Workload`], for a duration or a number of requests; it reports throughput
//! and latency percentiles (HdrHistogram) as a text table or as JSON.

mod clients;
mod fairness;
mod flood;
mod intervals;
mod mixed;
mod progress;
mod report;
mod subscribe;

use clients::{last_revision, one_visit, visit, Client, Setup};
use progress::Progress;

pub use fairness::FairnessReport;
pub use flood::{FloodReport, FloodRetry};
pub use intervals::Interval;
pub use mixed::MixedReport;

pub use clients::account_opening;
pub use report::{HotAccount, Latency, Report};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::net::TcpListener;
use tokio::sync::Barrier;

use super::client::{ClientChannel, Credentials};
use super::{code_name, print_json_line};
use crate::api::proto::ledger_client::LedgerClient;
use crate::api::proto::relationships_client::RelationshipsClient;
use crate::auth::Authenticator;
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
    /// Two principals: `--token`'s clients append at a steady rate, alone and then beside
    /// `--flood-token`'s clients flooding appends past their limit; steady's latency in both.
    Fairness,
    /// Appends, stream and global reads, relationship queries and live subscriptions mixed,
    /// with a report line every `--report-every` seconds: for soaks.
    Mixed,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Append1 => "append1",
            Workload::Append10 => "append10",
            Workload::Contention => "contention",
            Workload::Read => "read",
            Workload::Subscribe => "subscribe",
            Workload::Fairness => "fairness",
            Workload::Mixed => "mixed",
        }
    }
}

/// Drives a ledger server with concurrent clients and reports throughput and latency.
///
/// Without `--server` it starts a server in this process on 127.0.0.1 (a free port) with a temp
/// data dir that is removed afterwards, which lets every caller in unless `--auth-file` is
/// given. The clients send `--token` when it is given. It stops after `--requests` calls or `--duration`
/// seconds (10 s when neither is given), whichever comes first.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// A running server's gRPC endpoint, for example `http://127.0.0.1:50051`; without it the
    /// command starts its own.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// How the clients prove who they are and check the server: `--token`, and for an
    /// `https://` server `--ca-cert` (and `--client-cert`, `--client-key` under mTLS).
    #[command(flatten)]
    pub credentials: Credentials,
    /// The auth file of the self-started server (from `relledger token create`); without it
    /// that server lets every caller in. A server given by `--server` has its own.
    #[arg(long, value_name = "FILE", conflicts_with = "server")]
    pub auth_file: Option<PathBuf>,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = Workload::Append1)]
    pub workload: Workload,
    /// Concurrent gRPC clients, each on its own connection.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub clients: u64,
    /// Stop after this many seconds (fairness: the length of each phase).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many calls (all clients together; fairness: steady's appends in each
    /// phase).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Accounts the appends and reads are spread over (at least one per client).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub accounts: u64,
    /// Contention: the hot accounts all clients append to.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub hot_accounts: u64,
    /// Subscribe and mixed: subscribers following from the end.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub subscribers: u64,
    /// Subscribe: the subscribers' `max_batch`: 0 for one event per message, 1 to 256 for
    /// batches (live, a batch holds what one commit made visible).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub max_batch: u32,
    /// Subscribe and fairness: appends per second, all clients together (fairness: steady's).
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Fairness: the flood principal's token; without it the flood sends `--token` as steady
    /// does, and so shares steady's limits.
    #[arg(long, value_name = "TOKEN")]
    pub flood_token: Option<String>,
    /// Fairness: the flood's clients, each on its own connection.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub flood_clients: u64,
    /// Fairness: what a flood client does on RESOURCE_EXHAUSTED.
    #[arg(long, value_enum, default_value_t = FloodRetry::Immediate)]
    pub flood_retry: FloodRetry,
    /// Fairness: rounds of an unloaded then a loaded phase, each `--duration` seconds.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    /// Mixed: seconds between report lines.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub report_every: f64,
    /// Mixed: the server process whose resident memory is reported (a self-started server's
    /// is this process's).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
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
    // Whose memory the mixed workload reports: the server's when its pid is given, else this
    // process's when it runs the server itself.
    let pid = |pid: u32| (pid, format!("pid {pid}"));
    match &args.server {
        Some(url) => run_against(args, url.clone(), url.clone(), args.server_pid.map(pid)).await,
        None => {
            let dir = tempfile::tempdir().context("cannot create a temp data dir")?;
            let mut config = Config::new(dir.path());
            if let Some(path) = &args.auth_file {
                config.auth = Some(Arc::new(Authenticator::open(path)?));
            }
            let server = crate::server::OpenServer::open(config)?;
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("cannot listen on 127.0.0.1")?;
            let address = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(server.run(listener, async {
                let _ = stopped.await;
            }));
            let rss = args.server_pid.map(pid).or_else(|| {
                let label = "this process (the server and the load generator)";
                Some((std::process::id(), label.to_string()))
            });
            let url = format!("http://{address}");
            let result = run_against(args, url, "self-started".into(), rss).await;
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

async fn run_against(
    args: &BenchArgs,
    url: String,
    label: String,
    rss: Option<(u32, String)>,
) -> anyhow::Result<Report> {
    let clients = usize::try_from(args.clients).context("--clients is too large")?;
    let mut channels = Vec::with_capacity(clients);
    for _ in 0..clients {
        channels.push(connect(args, &url).await?);
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
    // Fairness runs two phases of `--duration` per round.
    let rounds = u32::try_from(args.rounds).unwrap_or(u32::MAX);
    let progress = match args.workload {
        Workload::Fairness => Progress::start(None, duration * 2 * rounds),
        _ => Progress::start(args.requests, duration),
    };
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
        Workload::Fairness => {
            let (tally, fairness) =
                fairness::run(args, &url, run_id, &setup, &channels, duration, &progress).await?;
            subscribe::Outcome {
                fairness: Some(fairness),
                ..subscribe::Outcome::of(tally)
            }
        }
        Workload::Mixed => {
            let (tally, mixed) = mixed::run(
                args, &url, run_id, &setup, &channels, &budget, &progress, rss,
            )
            .await?;
            subscribe::Outcome {
                mixed: Some(mixed),
                ..subscribe::Outcome::of(tally)
            }
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
            subscribe::Outcome::of(tally)
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
        fairness: outcome.fairness,
        mixed: outcome.mixed,
    };
    if let Some(deliveries) = outcome.deliveries {
        report.subscribers = Some(deliveries.subscribers);
        report.deliveries = Some(deliveries.latency.len());
        report.missing_deliveries = Some(deliveries.missing);
        report.delivery_latency_ms = Some(Latency::of(&deliveries.latency));
    }
    Ok(report)
}

/// Connects one client channel to `url`, with the credentials of `args`.
async fn connect(args: &BenchArgs, url: &str) -> anyhow::Result<ClientChannel> {
    args.credentials.connect(url).await
}
