//! The server's configuration, with the defaults a newcomer gets from `relledger serve`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditConfig;
use crate::auth::Authenticator;
use crate::domain::Policy;
use crate::store::jetstream::JetStreamOptions;

/// The largest encoded event accepted by default: generous for notes and summaries, small
/// enough that a record never dominates a read page or a replication message.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;

/// The largest gRPC request accepted by default (tonic's own default): a full batch of large
/// events does not fit, by design; split such batches.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// How long a stopping server lets open streams end by themselves before it closes their
/// connections. Subscriptions end at once when shutdown begins, if their clients read; this
/// bounds the wait for those that do not (they resume from their last checkpoint).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything `serve` needs besides a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the embedded log lives. Created if missing; locked while the server runs.
    pub data_dir: PathBuf,
    /// The ledger's rules: currency, batch limit, clock skew.
    pub policy: Policy,
    /// The largest encoded size of one event, in bytes.
    pub max_event_bytes: usize,
    /// The largest gRPC request, in bytes.
    pub max_request_bytes: usize,
    /// When the server signs the chain head on its own.
    pub audit: AuditConfig,
    /// How long a stopping server waits for open streams to end before closing their
    /// connections.
    pub shutdown_grace: Duration,
    /// The limit of sled's page cache, in bytes. sled holds only the small stores (subscription
    /// positions, signed checkpoints, the projector's checkpoint and change log), not the log's
    /// records or indexes.
    pub cache_bytes: u64,
    /// The most events and items of evidence the account states kept in memory may hold
    /// (`read::states`): an account whose state fell out is read from the log again.
    pub state_cache_events: usize,
    /// Whether the server samples the gauges that are read rather than counted (projector and
    /// subscription lag) when a metrics endpoint (`--metrics-listen`, see `metrics`) is
    /// scraped.
    pub metrics: bool,
    /// The principals, their roles, scopes and limits; `None` lets every caller do everything,
    /// which `relledger serve` allows only on a loopback address unless told `--insecure`.
    pub auth: Option<Arc<Authenticator>>,
    /// The server's certificate and key, and the client CA under mTLS; `None` serves plain
    /// HTTP/2.
    pub tls: Option<TlsConfig>,
    /// The log on a NATS JetStream cluster (`--store nats://...`), applied to the embedded
    /// log in `data_dir` as this replica's copy; `None`: the embedded log alone.
    pub store: Option<JetStreamOptions>,
}

/// TLS for the server, as PEM text read at start.
#[derive(Clone)]
pub struct TlsConfig {
    /// The server's certificate chain.
    pub certificate_pem: Vec<u8>,
    /// The server's private key.
    pub key_pem: Vec<u8>,
    /// The CA that client certificates must chain to; `Some` requires a client certificate on
    /// every connection (mTLS).
    pub client_ca_pem: Option<Vec<u8>>,
}

/// Never prints the key.
impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("mtls", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults, with the log in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            policy: Policy::default(),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            audit: AuditConfig::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            cache_bytes: crate::store::file::DEFAULT_CACHE_BYTES,
            state_cache_events: crate::read::states::DEFAULT_BUDGET,
            metrics: false,
            auth: None,
            tls: None,
            store: None,
        }
    }
}
