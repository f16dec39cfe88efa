//! Runs the gRPC server: opens the log, wires the services, serves until shutdown.

mod closing;
mod sampling;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::api::access::AccessLayer;
use crate::api::audit_service::AuditService;
use crate::api::ledger_service::LedgerService;
use crate::api::proto;
use crate::api::relationships_service::RelationshipsService;
use crate::api::rpc_metrics::RpcMetricsLayer;
use crate::audit::{Audit, AuditOpenError};
use crate::config::{Config, TlsConfig};
use crate::domain::projection::Params;
use crate::ledger::Ledger;
use crate::privacy::{FileKeyStore, Privacy, PrivacyError};
use crate::read::change_feed::ChangeFeeds;
use crate::read::projector::Projector;
use crate::store::file::{FileLog, OpenError};
use crate::store::jetstream::{JetStreamLog, JetStreamOptions};
use crate::store::{CheckpointStore, Log};
use crate::subscriptions::Subscriptions;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data dir could not be opened (locked by another server, corrupt, unreadable).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The gRPC transport failed.
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The named subscriptions' positions could not be opened in the data dir.
    #[error("cannot open the subscription positions: {0}")]
    Checkpoints(#[from] crate::store::StoreError),
    /// The signing key or the hash chain since the last signed checkpoint does not check.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditOpenError),
    /// The data keys of personal fields could not be read (`keys/` in the data dir).
    #[error("cannot open the key store: {0}")]
    Keys(#[from] PrivacyError),
    /// The TLS certificate or key could not be used.
    #[error("cannot use the TLS certificate and key: {0}")]
    Tls(tonic::transport::Error),
    /// The log on NATS JetStream could not be opened.
    #[error(transparent)]
    JetStream(#[from] crate::store::jetstream::JetStreamError),
    /// The reflection service could not be built from the embedded descriptors.
    #[error("server reflection failed to start: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Serves the ledger on `listener` until `shutdown` completes, then drains in-flight requests
/// and closes the log. Every acknowledged append is on disk before its answer is sent, so a
/// shutdown loses nothing.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    OpenServer::open(config)?.run(listener, shutdown).await
}

/// A server whose log is open and locked but which does not serve yet. Opening first lets the
/// binary refuse a locked or corrupt data dir before it announces an address.
pub struct OpenServer {
    /// The durable log, shared by the services; closed when serving ends.
    log: Arc<FileLog>,
    /// The settings the services run with.
    config: Config,
    /// Verifiable history: checked at open, then signing checkpoints while the server runs.
    audit: Arc<Audit>,
    /// Where the log is decided and the data keys are kept.
    backend: Backend,
}

/// The embedded log with its data keys in `keys/`, or the log on JetStream, whose data keys
/// are there too (shared by every replica), opened when serving starts.
enum Backend {
    /// Seals and opens personal fields with the data keys in `keys/`, beside the log but
    /// never in it, so that destroying one erases what it sealed.
    Embedded(Arc<Privacy>),
    /// `--store`: the log on JetStream, `log` being this replica's copy.
    JetStream(JetStreamOptions),
}

impl OpenServer {
    /// Opens (creating if needed) and locks the data dir of `config`.
    pub fn open(config: Config) -> Result<OpenServer, ServeError> {
        let log = Arc::new(FileLog::open_with_cache(
            &config.data_dir,
            config.cache_bytes,
        )?);
        // The audit sees only the store's traits; this is where the backend is chosen. Its
        // log handle is its own clone, so shutdown closes the server's handle as before.
        let signed = log.signed_checkpoints().map_err(AuditOpenError::from)?;
        let audit = Audit::open(
            Arc::new((*log).clone()),
            Arc::new(signed),
            &config.data_dir,
            config.audit.clone(),
        )?;
        // Opened after the log, so the data dir's lock covers the keys too.
        let backend = match &config.store {
            None => {
                let keys = FileKeyStore::open(&config.data_dir.join(KEYS_DIR))?;
                Backend::Embedded(Arc::new(Privacy::new(Arc::new(keys))))
            }
            Some(options) => Backend::JetStream(options.clone()),
        };
        Ok(OpenServer {
            log,
            config,
            audit: Arc::new(audit),
            backend,
        })
    }

    /// Serves on `listener` until `shutdown` completes; see [`serve`].
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let OpenServer {
            log,
            config,
            audit,
            backend,
        } = self;
        // The log the services read and append through: the embedded one, or the stream on
        // JetStream applied to it (the embedded log is then this replica's copy, which every
        // read is answered from, and the small stores stay beside it).
        // Named subscriptions' positions go with the log: beside it in the data dir, or on
        // JetStream, where every replica reads and acknowledges the same ones.
        // The data keys likewise: in the data dir, or on JetStream, so that forgetting a
        // contact through one replica destroys its key for all.
        let (shared, positions, privacy): (Arc<dyn Log>, Arc<dyn CheckpointStore>, _) =
            match backend {
                Backend::Embedded(privacy) => (log.clone(), Arc::new(log.checkpoints()?), privacy),
                Backend::JetStream(options) => {
                    let replicated = JetStreamLog::open((*log).clone(), &options).await?;
                    let positions = Arc::new(replicated.positions().await?);
                    let keys = Arc::new(replicated.keys().await?);
                    (
                        Arc::new(replicated),
                        positions,
                        Arc::new(Privacy::new(keys)),
                    )
                }
            };
        let ledger = Arc::new(Ledger::with_privacy(
            shared.clone(),
            config.policy.clone(),
            Arc::clone(&privacy),
        ));
        // Subscriptions would otherwise stream for ever and hold up the graceful shutdown, so
        // they end (UNAVAILABLE: the client resumes elsewhere or later) when it begins.
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            stopping_tx.send_replace(true);
        };
        // The live projector runs beside the services, off the append path, until shutdown.
        let projector = Arc::new(
            Projector::open(
                shared.clone(),
                Arc::new(log.snapshots()?),
                Params::default(),
            )
            .await?
            .with_state_budget(config.state_cache_events),
        );
        // Both keep account histories and states: they share the caches, so each record is
        // decoded once and each state advanced once. Lists and the portfolio "now" are
        // answered from the rows the projector keeps.
        let relationships = Arc::new(projector.relationships().with_rows(projector.live_rows()));
        let projecting = tokio::spawn({
            let (projector, head, mut stopping) =
                (Arc::clone(&projector), log.watch_head(), stopping.clone());
            async move {
                let stop = async move {
                    let _ = stopping.wait_for(|stopping| *stopping).await;
                };
                projector.run(head, stop).await;
            }
        });
        // Signs the chain head at intervals, and checks the whole chain once, until shutdown.
        let auditing = tokio::spawn(Arc::clone(&audit).run(stopping.clone()));
        let changes = Arc::new(ChangeFeeds::new(
            shared.clone(),
            Arc::clone(&projector),
            stopping.clone(),
        ));
        // A stream whose client does not read cannot end by itself, and would hold up the
        // graceful shutdown for ever: after the grace, the remaining connections are closed.
        let (close_tx, close) = tokio::sync::watch::channel(false);
        let closing = tokio::spawn(closing::close_after(
            stopping.clone(),
            config.shutdown_grace,
            close_tx,
        ));
        let subscriptions = Arc::new(Subscriptions::new(
            shared.clone(),
            positions,
            stopping.clone(),
        ));
        let sampling = config.metrics.then(|| {
            tokio::spawn(sampling::sample(
                shared.clone(),
                Arc::clone(&projector),
                Arc::clone(&subscriptions),
                Arc::clone(&privacy),
                crate::metrics::sample_on_scrape(),
                stopping,
            ))
        });

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<proto::ledger_server::LedgerServer<LedgerService>>()
            .await;
        health_reporter
            .set_serving::<proto::relationships_server::RelationshipsServer<RelationshipsService>>()
            .await;
        health_reporter
            .set_serving::<proto::audit_server::AuditServer<AuditService>>()
            .await;
        let refusing = tokio::spawn(report_refusal(log.watch_refusal(), health_reporter.clone()));
        let failing = tokio::spawn(report_small_stores_failure(
            log.watch_small_stores(),
            health_reporter.clone(),
        ));
        // Reflection v1, and v1alpha for the clients that speak only it (older grpcurl,
        // Postman, Python's grpcio-reflection): the same descriptors either way.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let reflection = reflection().build_v1()?;
        let ledger_service = proto::ledger_server::LedgerServer::new(LedgerService::new(
            ledger.clone(),
            subscriptions.clone(),
            Arc::clone(&changes),
            config.max_event_bytes,
        ))
        .max_decoding_message_size(config.max_request_bytes);
        let relationships_service = proto::relationships_server::RelationshipsServer::new(
            RelationshipsService::new(relationships.clone(), Arc::clone(&changes)),
        );
        let audit_service =
            proto::audit_server::AuditServer::new(AuditService::new(Arc::clone(&audit), privacy));

        let mut builder = Server::builder();
        if let Some(tls) = &config.tls {
            builder = builder
                .tls_config(server_tls(tls))
                .map_err(ServeError::Tls)?;
        }
        let served = builder
            // At DEBUG, as the handlers' spans are: see `logging`.
            .trace_fn(|request| {
                let span = tracing::debug_span!("rpc", path = %request.uri().path());
                // With traces exported: a child of the caller's trace, if it sent one.
                crate::logging::continue_trace(&span, request.headers());
                span
            })
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_ACCEPT_RESETS))
            .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
            // Every request is counted and timed (with `--metrics-listen`), refused ones too;
            // every request to a relledger service is authenticated and checked first.
            .layer(
                tower::ServiceBuilder::new()
                    .layer(RpcMetricsLayer)
                    .layer(AccessLayer::new(config.auth.clone())),
            )
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(ledger_service)
            .add_service(relationships_service)
            .add_service(audit_service)
            .serve_with_incoming_shutdown(incoming(listener, close), shutdown)
            .await;
        closing.abort();
        if let Some(sampling) = sampling {
            sampling.abort();
        }
        refusing.abort();
        failing.abort();
        served?;

        if projecting.await.is_err() {
            tracing::error!("the projector task panicked");
        }
        if auditing.await.is_err() {
            tracing::error!("the audit task panicked");
        }
        drop(audit);
        drop(changes);
        drop(projector);
        drop(ledger);
        drop(relationships);
        drop(subscriptions);
        drop(shared);
        let released = log.released();
        match Arc::try_unwrap(log) {
            Ok(log) => log.close(),
            Err(_) => tracing::info!("waiting for the last reads to release the log"),
        }
        // Whoever opens the data dir next (a restart, a restore, an auditor's copy) must find
        // it unlocked, so the server has stopped only when the database is closed. A request
        // still finishing on the blocking pool holds it for a moment; the bound keeps a stuck
        // one from holding up the process's exit for ever.
        if tokio::time::timeout(RELEASE_GRACE, released).await.is_err() {
            tracing::warn!(
                grace = ?RELEASE_GRACE,
                "the log is still open after the shutdown grace; it closes when released"
            );
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Reports the Ledger service, and the server as a whole (the service name `""` that probes
/// ask by default), `NOT_SERVING` once the log refuses appends after a failed write (a full
/// disk, an I/O error): reads still work, but only a restart, whose recovery reads what really
/// reached the disk, can take appends again, so an orchestrator should restart the server.
async fn report_refusal(
    mut refusal: tokio::sync::watch::Receiver<Option<String>>,
    health: tonic_health::server::HealthReporter,
) {
    let reason = match refusal.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone(),
        // The log closed without refusing anything.
        Err(_) => return,
    };
    if let Some(reason) = reason {
        tracing::error!(%reason, "the log refuses appends; reporting the Ledger service NOT_SERVING");
        health
            .set_not_serving::<proto::ledger_server::LedgerServer<LedgerService>>()
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    }
}

/// Reports the server as a whole (`""`) `NOT_SERVING` once a write to the small stores' database
/// failed (a full disk): sled then refuses every write (acknowledgements, signed checkpoints,
/// the projector's pages) until it is reopened, even once the disk has room, so only a restart
/// brings them back. Appends and reads go on, so the Ledger service's own status stays.
async fn report_small_stores_failure(
    mut failure: tokio::sync::watch::Receiver<Option<String>>,
    health: tonic_health::server::HealthReporter,
) {
    let reason = match failure.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone(),
        // The log closed without a failed write to the database.
        Err(_) => return,
    };
    if let Some(reason) = reason {
        tracing::error!(%reason, "the small stores refuse writes until a restart; reporting the server NOT_SERVING");
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    }
}

/// tonic's TLS settings of `tls`: the server's identity, and the client CA under mTLS.
fn server_tls(tls: &TlsConfig) -> ServerTlsConfig {
    let config =
        ServerTlsConfig::new().identity(Identity::from_pem(&tls.certificate_pem, &tls.key_pem));
    match &tls.client_ca_pem {
        Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
        None => config,
    }
}

/// The directory of the data keys in the data dir.
pub const KEYS_DIR: &str = "keys";

/// The most streams one HTTP/2 connection may have open at once. tonic leaves it unlimited
/// (hyper's own default is 200): each open stream holds a handler task and, for a
/// subscription, up to a page of records, so one connection could hold any number of them.
/// 1,024 leaves a client room for many subscriptions on one channel.
pub const MAX_CONCURRENT_STREAMS: u32 = 1024;

/// How many streams a client may open and cancel before the server has taken them up, on one
/// connection, before the server sends GOAWAY (ENHANCE_YOUR_CALM) and closes it: the defence
/// against "rapid reset" (CVE-2023-44487), where each stream costs the server a task and the
/// client one write. h2's own default, named here so that it does not change unnoticed.
pub const MAX_PENDING_ACCEPT_RESETS: usize = 20;

/// How many streams the server may reset itself because the client broke the protocol on them
/// (a WINDOW_UPDATE past the largest window, say), on one connection, before it sends GOAWAY (ENHANCE_YOUR_CALM)
/// and closes it: the defence against "MadeYouReset" (CVE-2025-8671). tonic passes "no limit"
/// to hyper unless told, which turns off h2's default of 1,024; that default is restored.
pub const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// How long a stopping server waits for the last holders of the log to release it.
const RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// The connections `listener` accepts, with `TCP_NODELAY` set: without it, a response larger
/// than one segment waits for the client's delayed ACK (about 40 ms on Linux) before its last
/// segment leaves, which made every `GetRelationship` take 44 ms. Each is closed when `close`
/// turns true (see [`closing`]).
fn incoming(
    listener: TcpListener,
    close: tokio::sync::watch::Receiver<bool>,
) -> impl futures::Stream<Item = std::io::Result<closing::Closable<tokio::net::TcpStream>>> {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(move |accepted| accepted.map(|io| closing::Closable::new(io, close.clone())))
}
