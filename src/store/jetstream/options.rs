//! What `--store` and its companion flags say: the servers, the stream, its replicas and TLS,
//! and why opening the replicated log can fail.

use std::path::PathBuf;

use crate::store::StoreError;

/// The oldest nats-server this backend runs on: 2.10 is the first whose file store can sync
/// every write (`sync_interval: always`), and the first that refuses the settings it does
/// not know rather than ignoring them.
pub const MIN_SERVER_VERSION: (u64, u64, u64) = (2, 10, 0);
/// The stream's name unless configured.
pub const DEFAULT_STREAM: &str = "RELLEDGER";

/// Where the log is and how it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamOptions {
    /// The servers of the cluster, `nats://host:port` each.
    pub urls: Vec<String>,
    /// The stream's name.
    pub stream: String,
    /// How many servers hold each message (JetStream's R1, R3 or R5).
    pub replicas: usize,
    /// TLS to the servers, beyond what they ask for themselves.
    pub tls: NatsTls,
}

/// TLS to the NATS servers (`--store-ca`, `--store-cert`, `--store-key`). A server that
/// requires TLS gets it whatever is set here, its certificate checked against the CAs the
/// system trusts; `tls://` URLs require it of every server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// A CA (PEM) the servers' certificates may chain to, besides the system's; set, TLS is
    /// required.
    pub ca: Option<PathBuf>,
    /// The certificate chain and key (PEM) this replica presents, for servers that verify
    /// their clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl JetStreamOptions {
    /// The options for `spec`, the servers comma-separated: `nats://a:4222,nats://b:4222`
    /// (`tls://` to require TLS).
    pub fn parse(spec: &str) -> Result<JetStreamOptions, JetStreamError> {
        let urls: Vec<String> = spec
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        let scheme = |u: &String| u.starts_with("nats://") || u.starts_with("tls://");
        if urls.is_empty() || !urls.iter().all(scheme) {
            return Err(JetStreamError::Options(format!(
                "{spec:?} is not a list of nats:// or tls:// URLs"
            )));
        }
        Ok(JetStreamOptions {
            urls,
            stream: DEFAULT_STREAM.to_string(),
            replicas: 1,
            tls: NatsTls::default(),
        })
    }

    /// Names the log's stream (`--store-stream`): letters, digits, `_` and `-`, at most 32, so
    /// that it is one token of a subject and its companions' names
    /// (`<stream>_SUBSCRIPTIONS`, `<stream>_KEYS`) stay within JetStream's limits.
    pub fn set_stream(&mut self, name: &str) -> Result<(), JetStreamError> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(JetStreamError::StreamName(format!(
                "{name:?} is not 1 to 32 of A-Z a-z 0-9 _ -"
            )));
        }
        self.stream = name.to_string();
        Ok(())
    }

    /// The subjects' prefix of one of the ledger's streams (`events`, `subscriptions`,
    /// `keys`): `relledger.v1.<stream>.<what>`. The log's stream name is in every subject, so
    /// that several ledgers, each with its own stream, can share one cluster: JetStream
    /// refuses two streams whose subjects overlap.
    pub fn subjects(&self, what: &str) -> String {
        format!("relledger.v1.{}.{what}", self.stream)
    }
}

/// Why the replicated log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum JetStreamError {
    /// The options do not name servers.
    #[error("invalid --store: {0}")]
    Options(String),
    /// The stream's name cannot be one.
    #[error("invalid --store-stream: {0}")]
    StreamName(String),
    /// No server answered.
    #[error("cannot connect to NATS at {urls}: {reason}")]
    Connect { urls: String, reason: String },
    /// The server is older than the oldest supported.
    #[error("nats-server {found} is too old: relledger needs {}.{}.{} or later (sync_interval: always, and settings refused rather than ignored)", MIN_SERVER_VERSION.0, MIN_SERVER_VERSION.1, MIN_SERVER_VERSION.2)]
    TooOld { found: String },
    /// The stream could not be created or read.
    #[error("cannot open the JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    /// The replica's own log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses a server older than [`MIN_SERVER_VERSION`].
pub(super) fn check_version(version: &str) -> Result<(), JetStreamError> {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    let found = (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    );
    match found {
        (Some(a), Some(b), Some(c)) if (a, b, c) >= MIN_SERVER_VERSION => Ok(()),
        _ => Err(JetStreamError::TooOld {
            found: version.to_string(),
        }),
    }
}
