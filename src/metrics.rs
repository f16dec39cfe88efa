//! Prometheus metrics (`--metrics-listen`): what the server measures, recorded through the
//! `metrics` crate's macros wherever it happens, and rendered in Prometheus' text format by
//! `metrics-exporter-prometheus` when scraped.
//!
//! `metrics` and its Prometheus exporter rather than the `prometheus` crate: the macros cost
//! an atomic operation and nothing at all while no recorder is installed (every server in a
//! test process, or one started without `--metrics-listen`), so the instrumented paths need
//! no switch of their own; and the names and labels live here, in one place.
//!
//! The endpoint is served here rather than by the exporter's own listener, so that it binds
//! before the server logs its address (port 0 included) and stops with the server.

use std::convert::Infallible;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// RPCs answered, by `service`, `method` and gRPC status `code` (`OK`, `ABORTED`, ...).
pub const RPC_REQUESTS: &str = "relledger_rpc_requests_total";
/// An RPC's time from its request to its status (a stream's: to its end), by `service` and
/// `method`; `method="Append"` is the append latency.
pub const RPC_DURATION: &str = "relledger_rpc_duration_seconds";
/// Appends committed by one group (one write and one fdatasync).
pub const GROUP_APPENDS: &str = "relledger_log_group_appends";
/// One group's write and fdatasync of the records file.
pub const FSYNC_DURATION: &str = "relledger_log_fsync_seconds";
/// The position the next record will take: the number of records in the log.
pub const HEAD_POSITION: &str = "relledger_log_head_position";
/// The bytes of the log's records file that hold records.
pub const LOG_BYTES: &str = "relledger_log_bytes";
/// Subscriptions (`Subscribe`) open now.
pub const SUBSCRIPTIONS: &str = "relledger_subscriptions_connected";
/// Relationship change feeds (`SubscribeRelationshipChanges`) open now.
pub const CHANGE_FEEDS: &str = "relledger_change_feeds_connected";
/// The process' resident memory.
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// Records between the log's head and the projector's progress (sampled at each scrape).
pub const PROJECTOR_LAG: &str = "relledger_projector_lag_records";
/// A named subscription's records past its acknowledged position, by `subscription`
/// (sampled at each scrape).
pub const SUBSCRIPTION_LAG_RECORDS: &str = "relledger_subscription_lag_records";
/// How much older its first unacknowledged record is than the log's newest, by
/// `subscription` (sampled at each scrape).
pub const SUBSCRIPTION_LAG_SECONDS: &str = "relledger_subscription_lag_seconds";
/// The contacts' data keys held (destroyed ones not counted; sampled at each scrape).
pub const DATA_KEYS: &str = "relledger_data_keys";
/// When the newest signed checkpoint was signed, in seconds since the Unix epoch.
pub const CHECKPOINT_SIGNED: &str = "relledger_checkpoint_last_signed_timestamp_seconds";
/// The position the newest signed checkpoint signs.
pub const CHECKPOINT_POSITION: &str = "relledger_checkpoint_last_signed_position";

/// Records a checkpoint just signed, or found as the newest at start.
pub fn checkpoint_signed(checkpoint: &crate::store::signed::SignedCheckpoint) {
    metrics::gauge!(CHECKPOINT_SIGNED).set(checkpoint.signed_at.unix_nanos() as f64 / 1e9);
    metrics::gauge!(CHECKPOINT_POSITION).set(checkpoint.position as f64);
}

/// Histogram buckets for times, in seconds: 100 µs to 10 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];
/// Histogram buckets for a group's appends: 1 to the writer's most (1,024).
const GROUP_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// What a sampler is asked through: a request carries where to say it is done.
pub type SampleRequests = tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<()>>;

/// The samplers of the servers in this process (see [`sample_on_scrape`]).
static SAMPLERS: Mutex<Vec<tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>>> =
    Mutex::new(Vec::new());

/// How long a scrape waits for the samplers before it renders what it has.
const SAMPLE_PATIENCE: Duration = Duration::from_secs(2);

/// Registers a sampler of the gauges that are read rather than counted: before each scrape
/// renders, it is asked to set them and waited for, so a scrape shows them as they are then,
/// and nothing is sampled between scrapes.
pub fn sample_on_scrape() -> SampleRequests {
    let (requests, received) = tokio::sync::mpsc::channel(4);
    SAMPLERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(requests);
    received
}

/// Asks every live sampler to sample, and waits for them (each for at most
/// [`SAMPLE_PATIENCE`]).
async fn sample_all() {
    let samplers = {
        let mut samplers = SAMPLERS.lock().unwrap_or_else(PoisonError::into_inner);
        samplers.retain(|s| !s.is_closed());
        samplers.clone()
    };
    for sampler in samplers {
        let (done, sampled) = tokio::sync::oneshot::channel();
        if sampler.send(done).await.is_ok() {
            let _ = tokio::time::timeout(SAMPLE_PATIENCE, sampled).await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("the metrics recorder: {0}")]
    Recorder(String),
}

/// Installs the process' recorder (once; later calls get the same one) and describes every
/// metric; what renders them.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(GROUP_APPENDS.into()), &GROUP_BUCKETS))
        .map_err(|e| MetricsError::Recorder(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| MetricsError::Recorder(e.to_string()))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    describe_counter!(
        RPC_REQUESTS,
        "RPCs answered, by service, method and gRPC status code"
    );
    describe_histogram!(
        RPC_DURATION,
        Unit::Seconds,
        "an RPC's time from its request to its status (a stream's: to its end)"
    );
    describe_histogram!(
        GROUP_APPENDS,
        "appends committed by one group (one fdatasync)"
    );
    describe_histogram!(
        FSYNC_DURATION,
        Unit::Seconds,
        "one group's write and fdatasync of the records file"
    );
    describe_gauge!(HEAD_POSITION, "the number of records in the log");
    describe_gauge!(LOG_BYTES, Unit::Bytes, "the bytes of the log's records");
    describe_gauge!(SUBSCRIPTIONS, "subscriptions open now");
    describe_gauge!(CHANGE_FEEDS, "relationship change feeds open now");
    describe_gauge!(RESIDENT_MEMORY, Unit::Bytes, "the process' resident memory");
    describe_gauge!(
        PROJECTOR_LAG,
        "records between the log's head and the projector"
    );
    describe_gauge!(
        SUBSCRIPTION_LAG_RECORDS,
        "a named subscription's records past its acknowledged position"
    );
    describe_gauge!(
        SUBSCRIPTION_LAG_SECONDS,
        Unit::Seconds,
        "how much older a named subscription's first unacknowledged record is than the newest"
    );
    describe_gauge!(
        CHECKPOINT_SIGNED,
        Unit::Seconds,
        "when the newest signed checkpoint was signed (Unix time)"
    );
    describe_gauge!(DATA_KEYS, "the contacts' data keys held");
    describe_gauge!(
        CHECKPOINT_POSITION,
        "the position the newest signed checkpoint signs"
    );
}

/// Serves `GET /metrics` on `listener` (HTTP/1.1) until the task is dropped.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    // Histograms' and summaries' upkeep, which rendering also does: kept going between
    // scrapes so that memory does not grow with a long gap.
    let upkeep = handle.clone();
    let _upkeep = AbortOnDrop(tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    }));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a metrics connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let answer = hyper::service::service_fn(move |request| {
                let handle = handle.clone();
                async move { Ok::<_, Infallible>(answer(&request, &handle).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), answer)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "a metrics connection ended with an error");
            }
        });
    }
}

/// The answer to one request: the metrics for `GET /metrics`, 404 for any other path, 405 for
/// any other method.
async fn answer<B>(request: &Request<B>, handle: &PrometheusHandle) -> Response<Full<Bytes>> {
    let status = if request.uri().path() != "/metrics" {
        StatusCode::NOT_FOUND
    } else if request.method() != hyper::Method::GET {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        sample_all().await;
        if let Some(bytes) = resident_bytes() {
            metrics::gauge!(RESIDENT_MEMORY).set(bytes as f64);
        }
        let mut response = Response::new(Full::new(Bytes::from(handle.render())));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return response;
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The process' resident set, from `/proc/self/status` (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
