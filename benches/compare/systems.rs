//! The systems compared, behind one interface: open once, then hand out N clients (one stream
//! and one connection each; in the "relledger, 8 connections" row, one stream each and eight
//! connections among them) per concurrency.

mod floor;
mod h2_client;
mod nats;
mod postgres;
mod server;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ::relledger::api::proto::{self, proposed_event::Payload};
use async_trait::async_trait;

use super::run::{Appender, Cell, Plan};

/// The rows of the table, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Relledger,
    RelledgerH2,
    RelledgerShared,
    Postgres,
    NatsAlways,
    NatsDefault,
    SledFloor,
    SledFdatasyncFloor,
    FsyncFloor,
    /// Plain publishes to a stream of three copies on a three-node cluster.
    NatsCluster,
    /// relledger with its log on that cluster, through one replica.
    RelledgerCluster,
    /// The same through two replicas, the clients spread over both.
    RelledgerClusterPair,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Relledger,
        Kind::RelledgerH2,
        Kind::RelledgerShared,
        Kind::Postgres,
        Kind::NatsAlways,
        Kind::NatsDefault,
        Kind::NatsCluster,
        Kind::RelledgerCluster,
        Kind::RelledgerClusterPair,
        Kind::SledFloor,
        Kind::SledFdatasyncFloor,
        Kind::FsyncFloor,
    ];

    /// The name `COMPARE_ONLY` takes.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Relledger => "relledger",
            Kind::RelledgerH2 => "relledger-h2",
            Kind::RelledgerShared => "relledger-shared",
            Kind::Postgres => "postgres",
            Kind::NatsAlways => "nats-always",
            Kind::NatsDefault => "nats-default",
            Kind::SledFloor => "sled",
            Kind::SledFdatasyncFloor => "sled-fdatasync",
            Kind::FsyncFloor => "fsync",
            Kind::NatsCluster => "nats-r3",
            Kind::RelledgerCluster => "relledger-r3",
            Kind::RelledgerClusterPair => "relledger-r3-pair",
        }
    }

    /// The name in the table and the chart.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Relledger => "relledger (gRPC, sled)",
            Kind::RelledgerH2 => "relledger, h2 clients",
            Kind::RelledgerShared => "relledger, 8 connections",
            Kind::Postgres => "PostgreSQL",
            Kind::NatsAlways => "JetStream, sync always",
            Kind::NatsDefault => "JetStream, default sync",
            Kind::SledFloor => "floor: sled alone",
            Kind::SledFdatasyncFloor => "floor: sled + fdatasync",
            Kind::FsyncFloor => "floor: write+fdatasync",
            Kind::NatsCluster => "JetStream R3 cluster",
            Kind::RelledgerCluster => "relledger on R3, 1 replica",
            Kind::RelledgerClusterPair => "relledger on R3, 2 replicas",
        }
    }
}

/// One system, opened.
#[async_trait]
pub trait System: Send + Sync {
    /// What was opened: version, settings that matter for durability.
    fn detail(&self) -> String;
    /// `n` clients, each with its own connection and its own new stream; `round` makes the
    /// stream names unique to this concurrency.
    async fn clients(&mut self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>>;
    /// Request round trips to the server that touch no disk, from `clients` clients at once
    /// (relledger only).
    async fn round_trip(&self, _plan: &Plan, _clients: usize) -> anyhow::Result<Cell> {
        anyhow::bail!("measured for relledger only")
    }
    /// Starts following how far the system's projections are behind its log (relledger only:
    /// its live projector and the change feed it feeds), until [`LagWatch::finish`].
    async fn watch_lag(&self) -> Option<anyhow::Result<LagWatch>> {
        None
    }
    /// Subscribers reading the whole log from its start until they are caught up, again and
    /// again over `plan`, spread over the first `replicas` replicas (relledger on a cluster
    /// only): events delivered a second, in all.
    async fn catch_up_reads(
        &self,
        _plan: &Plan,
        _subscribers: usize,
        _replicas: usize,
    ) -> anyhow::Result<Reads> {
        anyhow::bail!("measured for relledger on a cluster only")
    }
    /// Stops what `open` started.
    async fn close(self: Box<Self>) {}
}

/// What subscribers catching up read.
#[derive(Debug, Clone)]
pub struct Reads {
    /// The events in the log each read.
    pub log_events: u64,
    /// Events delivered over the measured window, all subscribers together.
    pub events: u64,
    /// Those a second.
    pub throughput: f64,
}

/// A follower of the relationship change feed's heartbeats (every 100 ms), each of which says
/// how many records the projector, and so the feed, is behind the log's head.
pub struct LagWatch {
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) samples: tokio::task::JoinHandle<anyhow::Result<Vec<u64>>>,
}

/// How far the projections were behind the log while a cell ran.
#[derive(Debug)]
pub struct Lag {
    /// Heartbeats received.
    pub samples: usize,
    /// The most records behind, and the 99th percentile.
    pub max_records: u64,
    pub p99_records: u64,
}

impl LagWatch {
    /// Stops following, and says how far behind the projections were.
    pub async fn finish(self) -> anyhow::Result<Lag> {
        let _ = self.stop.send(());
        let mut records = self.samples.await??;
        anyhow::ensure!(!records.is_empty(), "no heartbeat arrived");
        records.sort_unstable();
        let p99 = ((records.len() - 1) as f64 * 0.99).round() as usize;
        Ok(Lag {
            samples: records.len(),
            max_records: records[records.len() - 1],
            p99_records: records[p99],
        })
    }
}

impl Lag {
    /// One line for the report; `rate` (appends a second) turns records into time.
    pub fn line(&self, rate: Option<f64>) -> String {
        let time = |records: u64| match rate {
            Some(rate) if rate > 0.0 => {
                format!(" (about {:.2} s of appends)", records as f64 / rate)
            }
            _ => String::new(),
        };
        format!(
            "projector and change feed behind the log: p99 {} records{}, max {} records{}, over \
             {} heartbeats",
            self.p99_records,
            time(self.p99_records),
            self.max_records,
            time(self.max_records),
            self.samples
        )
    }
}

/// How many connections the clients of the "relledger, 8 connections" row share.
const SHARED_CONNECTIONS: usize = 8;

/// Opens `kind`, or says why it is skipped.
pub async fn open(kind: Kind, data_dir: &Path) -> Result<Box<dyn System>, String> {
    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("{name} is not set (bench/compare.sh starts the server)"))
    };
    let opened: anyhow::Result<Box<dyn System>> = match kind {
        Kind::Relledger => server::Relledger::open(data_dir, server::Clients::Tonic)
            .await
            .map(|s| Box::new(s) as _),
        Kind::RelledgerH2 => server::Relledger::open(data_dir, server::Clients::H2)
            .await
            .map(|s| Box::new(s) as _),
        Kind::RelledgerShared => {
            server::Relledger::open(data_dir, server::Clients::TonicShared(SHARED_CONNECTIONS))
                .await
                .map(|s| Box::new(s) as _)
        }
        Kind::Postgres => postgres::Postgres::open(&from_env("COMPARE_PG")?)
            .await
            .map(|s| Box::new(s) as _),
        Kind::NatsAlways => nats::Nats::open(
            &from_env("COMPARE_NATS_ALWAYS")?,
            "sync_interval: always",
            1,
        )
        .await
        .map(|s| Box::new(s) as _),
        Kind::NatsDefault => nats::Nats::open(
            &from_env("COMPARE_NATS_DEFAULT")?,
            "default sync_interval",
            1,
        )
        .await
        .map(|s| Box::new(s) as _),
        Kind::NatsCluster => nats::Nats::open(
            &from_env("COMPARE_NATS_CLUSTER")?,
            "sync_interval: always",
            3,
        )
        .await
        .map(|s| Box::new(s) as _),
        // Each in its own streams, so neither replays the other's appends.
        Kind::RelledgerCluster => server::Relledger::open_on_cluster(
            data_dir,
            &from_env("COMPARE_NATS_CLUSTER")?,
            "COMPARE_ONE",
            1,
        )
        .await
        .map(|s| Box::new(s) as _),
        Kind::RelledgerClusterPair => server::Relledger::open_on_cluster(
            data_dir,
            &from_env("COMPARE_NATS_CLUSTER")?,
            "COMPARE_TWO",
            2,
        )
        .await
        .map(|s| Box::new(s) as _),
        Kind::SledFloor => floor::Floor::open_sled(data_dir, false).map(|s| Box::new(s) as _),
        Kind::SledFdatasyncFloor => {
            floor::Floor::open_sled(data_dir, true).map(|s| Box::new(s) as _)
        }
        Kind::FsyncFloor => floor::Floor::open_file(data_dir).map(|s| Box::new(s) as _),
    };
    opened.map_err(|e| format!("{e:#}"))
}

/// The event every append writes: the `Visit` that `relledger bench` sends, with a fresh id,
/// occurring a minute ago.
pub fn event() -> proto::ProposedEvent {
    visit_event(uuid::Uuid::new_v4().to_string())
}

fn visit_event(event_id: String) -> proto::ProposedEvent {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    proto::ProposedEvent {
        event_id,
        occurred_at: Some(pbjson_types::Timestamp {
            seconds: now - 60,
            nanos: 0,
        }),
        actor: "bench".into(),
        metadata: Default::default(),
        payload: Some(Payload::Visit(proto::Visit {
            contact_ids: vec!["c1".into()],
            purpose: "deliver the test report".into(),
            summary: "asked about winter curing".into(),
            next_visit_on: None,
            next_visit_pretext: String::new(),
        })),
    }
}

/// The bytes the other systems store per append: the same event in its proto3 JSON form,
/// what a JSON event store would keep.
pub fn payload() -> Vec<u8> {
    serde_json::to_vec(&event()).expect("an event serializes")
}

/// The size of [`payload`], for the report.
pub fn payload_len() -> usize {
    payload().len()
}
