//! relledger: a real server in this process on 127.0.0.1:0, sled in a temp dir (fsync per
//! group commit, as in production), driven over gRPC with one connection per client, or (the
//! "shared" row) with the clients taking turns over a few connections, each carrying several
//! clients' requests at once as HTTP/2 streams: how one service with many concurrent callers
//! uses a gRPC channel.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use async_trait::async_trait;
use relledger::api::convert::expected_revision_to_proto;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{self, proposed_event::Payload, AppendRequest};
use relledger::cli::bench::account_opening;
use relledger::config::Config;
use relledger::store::jetstream::JetStreamOptions;
use relledger::store::ExpectedRevision;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Barrier};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use super::super::run::{measure, Appender, Cell, Plan};
use super::h2_client::H2Client;
use super::{LagWatch, Reads, System};

/// How the clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    /// tonic clients, one connection each.
    Tonic,
    /// tonic clients sharing this many connections.
    TonicShared(usize),
    /// The minimal h2 client ([`H2Client`]), one connection each.
    H2,
}

pub struct Relledger {
    /// Every replica's address; client `i` talks to replica `i % len`.
    urls: Vec<String>,
    clients: Clients,
    /// The log on a JetStream cluster: its description; `None`: the embedded log.
    cluster: Option<String>,
    replicas: Vec<Replica>,
}

/// One relledger server in this process.
struct Replica {
    /// Ends the server's graceful shutdown.
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), relledger::ServeError>>>,
    /// Removed when the bench ends, after the server has closed its log.
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts a server on 127.0.0.1:0 with its data in a new dir under `data_dir`, its log on
    /// `store` when given; its address.
    async fn start(
        data_dir: &Path,
        store: Option<JetStreamOptions>,
    ) -> anyhow::Result<(Replica, String)> {
        let dir = tempfile::Builder::new()
            .prefix("compare-relledger-")
            .tempdir_in(data_dir)
            .context("cannot make a temp data dir")?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let mut config = Config::new(dir.path());
        if let Some(events) = std::env::var("COMPARE_STATE_CACHE_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.state_cache_events = events;
        }
        config.store = store;
        // As `relledger serve --metrics-listen` runs: the recorder installed (no endpoint is
        // needed to pay for recording), the lags sampled at each scrape.
        if std::env::var("COMPARE_METRICS").is_ok_and(|v| v == "1") {
            relledger::metrics::install()?;
            config.metrics = true;
        }
        let server = tokio::spawn(relledger::serve(listener, config, async {
            let _ = stopped.await;
        }));
        let replica = Replica {
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        };
        Ok((replica, url))
    }

    /// Why the server stopped, once it has; "still running" if it has not.
    async fn stopped_because(&mut self) -> String {
        match self.server.take_if(|s| s.is_finished()) {
            Some(server) => match server.await {
                Ok(Ok(())) => "it stopped".into(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("its task failed: {e}"),
            },
            None => "still running".into(),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("the relledger server stopped with an error: {e}"),
                Err(e) => eprintln!("the relledger server task failed: {e}"),
            }
        }
    }
}

impl Relledger {
    /// One server on the embedded log.
    pub async fn open(data_dir: &Path, clients: Clients) -> anyhow::Result<Relledger> {
        let (replica, url) = Replica::start(data_dir, None).await?;
        Ok(Relledger {
            urls: vec![url],
            clients,
            cluster: None,
            replicas: vec![replica],
        })
    }

    /// `replicas` servers with their log on the JetStream cluster at `urls` (comma-separated),
    /// in the stream `stream` with three copies of each message; tonic clients, one connection
    /// each, spread over the replicas in turn. Each server is ready (its log open, caught up
    /// with the stream) before this returns.
    pub async fn open_on_cluster(
        data_dir: &Path,
        urls: &str,
        stream: &str,
        replicas: usize,
    ) -> anyhow::Result<Relledger> {
        let mut options = JetStreamOptions::parse(urls)?;
        options.stream = stream.to_string();
        options.replicas = 3;
        let mut started = Vec::new();
        let mut addresses = Vec::new();
        for _ in 0..replicas {
            let (replica, url) = Replica::start(data_dir, Some(options.clone())).await?;
            started.push(replica);
            addresses.push(url);
        }
        let mut relledger = Relledger {
            urls: addresses,
            clients: Clients::Tonic,
            cluster: Some(format!(
                "{replicas} replica{} in this process, its log the stream {stream} (R3) on the \
                 cluster at {urls}",
                if replicas == 1 { "" } else { "s" }
            )),
            replicas: started,
        };
        // The servers open their logs in the background (JetStream's leaders may still be
        // being elected) and answer nothing before: an answered request says a server is up.
        for (i, url) in relledger.urls.clone().iter().enumerate() {
            let answered = match relledger.connect_to(url).await {
                Ok(ledger) => Rejected { ledger }.append().await,
                Err(e) => Err(e),
            };
            if let Err(e) = answered {
                let why = relledger.replicas[i].stopped_because().await;
                anyhow::bail!("the replica at {url} did not start: {why}; a request said: {e:#}");
            }
        }
        Ok(relledger)
    }

    /// `n` clients of the minimal h2 client, each opening its account first.
    async fn h2_clients(&self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>> {
        let mut clients: Vec<Box<dyn Appender>> = Vec::with_capacity(n);
        for i in 0..n {
            let mut client = H2Client::connect(self.url()).await?;
            let account = format!("compare-{round}-{i}");
            let opened: proto::AppendResponse = client
                .unary(APPEND, &open_account(&account))
                .await?
                .with_context(|| format!("cannot open the account {account}"))?;
            clients.push(Box::new(H2Appender {
                client,
                account,
                revision: opened.last_revision,
            }));
        }
        Ok(clients)
    }

    /// Follows the change feed's heartbeats, noting how far behind the log each says the
    /// projector is.
    async fn follow_lag(&self) -> anyhow::Result<LagWatch> {
        use relledger::api::proto::relationships_client::RelationshipsClient;
        use relledger::api::proto::subscribe_relationship_changes_request::Start;
        use relledger::api::proto::subscribe_relationship_changes_response::Kind;
        use relledger::api::proto::SubscribeRelationshipChangesRequest;

        let channel = Endpoint::from_shared(self.url().to_string())?
            .connect()
            .await?;
        let mut feed = RelationshipsClient::new(channel)
            .subscribe_relationship_changes(SubscribeRelationshipChangesRequest {
                start: Some(Start::FromEnd(pbjson_types::Empty {})),
                heartbeat_interval: Some(pbjson_types::Duration {
                    seconds: 0,
                    nanos: 100_000_000,
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let samples = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => return Ok(samples),
                    message = feed.message() => {
                        let Some(message) = message? else { return Ok(samples) };
                        if let Some(Kind::Heartbeat(beat)) = message.kind {
                            samples.push(beat.log_next_position.saturating_sub(beat.next_position));
                        }
                    }
                }
            }
        });
        Ok(LagWatch { stop, samples })
    }

    async fn connect(&self) -> anyhow::Result<LedgerClient<Channel>> {
        self.connect_to(self.url()).await
    }

    /// The first replica's address: the only one, but on a cluster.
    fn url(&self) -> &str {
        &self.urls[0]
    }

    async fn connect_to(&self, url: &str) -> anyhow::Result<LedgerClient<Channel>> {
        let channel = Endpoint::from_shared(url.to_string())?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        Ok(LedgerClient::new(channel))
    }
}

#[async_trait]
impl System for Relledger {
    fn detail(&self) -> String {
        // Said here because the table compares it with engines that fsync, and with floors
        // that each do part of what the server does.
        let connections = match self.clients {
            Clients::Tonic => "tonic clients, one connection per client".to_string(),
            Clients::TonicShared(n) => {
                format!("tonic clients sharing {n} connections (HTTP/2 streams)")
            }
            Clients::H2 => "minimal gRPC clients on h2, one connection per client".to_string(),
        };
        match &self.cluster {
            None => format!(
                "relledger {} in this process at {}, {connections}; acknowledges after one \
                 write and one fdatasync of its record file per group (like the \
                 \"write+fdatasync\" floor), then indexes the group without a flush",
                env!("CARGO_PKG_VERSION"),
                self.url()
            ),
            Some(cluster) => format!(
                "relledger {}, {cluster}, {connections}, spread over the replicas; acknowledges \
                 once the stream has stored the append (on every node's disk: sync_interval \
                 always) and the replica taking it has decided it and written it to its own \
                 copy (one fdatasync per group)",
                env!("CARGO_PKG_VERSION"),
            ),
        }
    }

    async fn clients(&mut self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>> {
        if self.clients == Clients::H2 {
            return self.h2_clients(round, n).await;
        }
        let shared = match self.clients {
            Clients::TonicShared(shared) => shared.min(n),
            _ => 0,
        };
        let mut clients: Vec<Box<dyn Appender>> = Vec::with_capacity(n);
        let mut channels = Vec::new();
        for _ in 0..shared {
            channels.push(self.connect().await?);
        }
        for i in 0..n {
            let mut ledger = match channels.get(i % channels.len().max(1)) {
                Some(shared) => shared.clone(),
                None => self.connect_to(&self.urls[i % self.urls.len()]).await?,
            };
            let account = format!("compare-{round}-{i}");
            let opened = ledger
                .append(open_account(&account))
                .await
                .with_context(|| format!("cannot open the account {account}"))?
                .into_inner();
            clients.push(Box::new(Client {
                ledger,
                account,
                revision: opened.last_revision,
            }));
        }
        Ok(clients)
    }

    async fn round_trip(&self, plan: &Plan, clients: usize) -> anyhow::Result<Cell> {
        let mut rejected: Vec<Box<dyn Appender>> = Vec::with_capacity(clients);
        for _ in 0..clients {
            rejected.push(Box::new(Rejected {
                ledger: self.connect().await?,
            }));
        }
        let latency = measure(rejected, plan).await?;
        Ok(Cell::of(&latency, plan.measured))
    }

    async fn catch_up_reads(
        &self,
        plan: &Plan,
        subscribers: usize,
        replicas: usize,
    ) -> anyhow::Result<Reads> {
        anyhow::ensure!(
            self.cluster.is_some() && replicas <= self.urls.len(),
            "measured for relledger on a cluster of at least {replicas} replicas"
        );
        let mut readers = Vec::with_capacity(subscribers);
        for i in 0..subscribers {
            readers.push(self.connect_to(&self.urls[i % replicas]).await?);
        }
        let barrier = Arc::new(Barrier::new(subscribers + 1));
        let mut tasks = Vec::with_capacity(subscribers);
        for ledger in readers {
            let barrier = Arc::clone(&barrier);
            let plan = *plan;
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let (counted_from, end) =
                    (start + plan.warmup, start + plan.warmup + plan.measured);
                let (mut counted, mut log_events) = (0, 0);
                while Instant::now() < end {
                    let (events, head) = read_to_head(ledger.clone(), end).await?;
                    log_events = log_events.max(head);
                    if Instant::now() > counted_from {
                        counted += events;
                    }
                }
                anyhow::Ok((counted, log_events))
            }));
        }
        barrier.wait().await;
        let (mut events, mut log_events) = (0, 0);
        for task in tasks {
            let (counted, head) = task.await.context("a subscriber task panicked")??;
            events += counted;
            log_events = log_events.max(head);
        }
        Ok(Reads {
            log_events,
            events,
            throughput: events as f64 / plan.measured.as_secs_f64(),
        })
    }

    async fn watch_lag(&self) -> Option<anyhow::Result<LagWatch>> {
        Some(self.follow_lag().await)
    }

    async fn close(mut self: Box<Self>) {
        for replica in &mut self.replicas {
            replica.stop().await;
        }
    }
}

/// Subscribes from the log's start in batches and reads until caught up, or until `end`: the
/// events received and the log's head when the subscription caught up (0 if it did not).
/// Events read past the measured window's start count, including those of a read that began
/// before it (the window is long beside one read).
async fn read_to_head(
    mut ledger: LedgerClient<Channel>,
    end: Instant,
) -> anyhow::Result<(u64, u64)> {
    use relledger::api::proto::subscribe_request::Start;
    use relledger::api::proto::subscribe_response::Kind;
    use relledger::api::proto::SubscribeRequest;

    let mut stream = ledger
        .subscribe(SubscribeRequest {
            start: Some(Start::FromStart(pbjson_types::Empty {})),
            max_batch: 256,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut events = 0;
    while Instant::now() < end {
        let Some(message) = stream.message().await? else {
            anyhow::bail!("the subscription ended before it caught up")
        };
        match message.kind {
            Some(Kind::Events(batch)) => events += batch.events.len() as u64,
            Some(Kind::Event(_)) => events += 1,
            Some(Kind::CaughtUp(caught_up)) => return Ok((events, caught_up.next_position)),
            _ => {}
        }
    }
    Ok((events, 0))
}

/// The full name of the append method, for the h2 client.
const APPEND: &str = "/relledger.v1.Ledger/Append";

/// The append that opens `account`: a visit needs an open account and its contact. These two
/// events are not measured.
fn open_account(account: &str) -> AppendRequest {
    AppendRequest {
        account_id: account.to_string(),
        expected_revision: Some(expected_revision_to_proto(ExpectedRevision::NoStream)),
        events: account_opening(format!("Compare {account}"))
            .into_iter()
            .map(|payload: Payload| proto::ProposedEvent {
                payload: Some(payload),
                ..super::event()
            })
            .collect(),
    }
}

/// The append of one visit to `account` at `revision`.
fn visit(account: &str, revision: u64) -> AppendRequest {
    AppendRequest {
        account_id: account.to_string(),
        expected_revision: Some(expected_revision_to_proto(ExpectedRevision::Exact(
            revision,
        ))),
        events: vec![super::event()],
    }
}

/// Appends visits to its own account with an `exact` expected revision.
struct Client {
    ledger: LedgerClient<Channel>,
    account: String,
    revision: u64,
}

#[async_trait]
impl Appender for Client {
    async fn append(&mut self) -> anyhow::Result<()> {
        let answer = self
            .ledger
            .append(visit(&self.account, self.revision))
            .await
            .with_context(|| format!("append to {}", self.account))?;
        self.revision = next_revision(&self.account, self.revision, &answer.into_inner())?;
        Ok(())
    }
}

/// The stream's revision after one event was appended at `revision`: the answer must say
/// exactly the next one, or the append was not the one the client made.
fn next_revision(
    account: &str,
    revision: u64,
    answer: &proto::AppendResponse,
) -> anyhow::Result<u64> {
    anyhow::ensure!(
        answer.last_revision == revision + 1,
        "the append to {account} at revision {revision} was answered with revision {}",
        answer.last_revision
    );
    Ok(answer.last_revision)
}

/// [`Client`] on the minimal h2 client.
struct H2Appender {
    client: H2Client,
    account: String,
    revision: u64,
}

#[async_trait]
impl Appender for H2Appender {
    async fn append(&mut self) -> anyhow::Result<()> {
        let answer: proto::AppendResponse = self
            .client
            .unary(APPEND, &visit(&self.account, self.revision))
            .await?
            .with_context(|| format!("append to {}", self.account))?;
        self.revision = next_revision(&self.account, self.revision, &answer)?;
        Ok(())
    }
}

/// The same append with an empty account id: the server decodes it and answers
/// INVALID_ARGUMENT without touching the log, so its latency is one loopback gRPC round trip
/// through the same service.
struct Rejected {
    ledger: LedgerClient<Channel>,
}

#[async_trait]
impl Appender for Rejected {
    async fn append(&mut self) -> anyhow::Result<()> {
        let answer = self
            .ledger
            .append(AppendRequest {
                account_id: String::new(),
                expected_revision: Some(expected_revision_to_proto(ExpectedRevision::Exact(1))),
                events: vec![super::event()],
            })
            .await;
        match answer {
            Err(status) if status.code() == tonic::Code::InvalidArgument => Ok(()),
            Err(status) => anyhow::bail!("expected INVALID_ARGUMENT, got {status}"),
            Ok(_) => anyhow::bail!("an append with an empty account id was accepted"),
        }
    }
}
