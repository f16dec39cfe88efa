//! relledger: a real server in this process on 127.0.0.1:0, sled in a temp dir (fsync per
//! group commit, as in production), driven over gRPC with one connection per client, or (the
//! "shared" row) with the clients taking turns over a few connections, each carrying several
//! clients' requests at once as HTTP/2 streams: how one service with many concurrent callers
//! uses a gRPC channel.

use std::path::Path;

use anyhow::Context as _;
use async_trait::async_trait;
use relledger::api::convert::expected_revision_to_proto;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{self, proposed_event::Payload, AppendRequest};
use relledger::cli::bench::account_opening;
use relledger::config::Config;
use relledger::store::ExpectedRevision;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use super::super::run::{measure, Appender, Cell, Plan};
use super::h2_client::H2Client;
use super::{LagWatch, System};

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
    url: String,
    clients: Clients,
    /// Ends the server's graceful shutdown.
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), relledger::ServeError>>>,
    /// Removed when the bench ends, after the server has closed its log.
    _dir: tempfile::TempDir,
}

impl Relledger {
    pub async fn open(data_dir: &Path, clients: Clients) -> anyhow::Result<Relledger> {
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
        let server = tokio::spawn(relledger::serve(listener, config, async {
            let _ = stopped.await;
        }));
        Ok(Relledger {
            url,
            clients,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        })
    }

    /// `n` clients of the minimal h2 client, each opening its account first.
    async fn h2_clients(&self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>> {
        let mut clients: Vec<Box<dyn Appender>> = Vec::with_capacity(n);
        for i in 0..n {
            let mut client = H2Client::connect(&self.url).await?;
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

        let channel = Endpoint::from_shared(self.url.clone())?.connect().await?;
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
        let channel = Endpoint::from_shared(self.url.clone())?
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", self.url))?;
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
        format!(
            "relledger {} in this process at {}, {connections}; acknowledges after one write \
             and one fdatasync of its record file per group (like the \"write+fdatasync\" \
             floor), then indexes the group without a flush",
            env!("CARGO_PKG_VERSION"),
            self.url
        )
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
                None => self.connect().await?,
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

    async fn watch_lag(&self) -> Option<anyhow::Result<LagWatch>> {
        Some(self.follow_lag().await)
    }

    async fn close(mut self: Box<Self>) {
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
