//! The `relledger` command: `serve` runs the ledger; `append` and `read` are thin clients so a
//! person can try it from a shell.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use relledger::audit::AuditConfig;
use relledger::auth::Authenticator;
use relledger::config::{Config, TlsConfig, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_REQUEST_BYTES};
use relledger::domain::Policy;
use relledger::server::OpenServer;

/// The allocator: see the note on `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An event-sourced relationship ledger for key-account sales.
#[derive(Parser)]
#[command(name = "relledger", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ledger server.
    Serve(ServeArgs),
    /// Append events (JSON, one per line) to an account, atomically.
    Append(relledger::cli::AppendArgs),
    /// Read an account's stream, or the global log, as JSON lines.
    Read(relledger::cli::ReadArgs),
    /// Export a range of the log as a self-verifying bundle (NDJSON).
    Export(relledger::cli::ExportArgs),
    /// Check an export bundle offline; exits non-zero naming the first bad line.
    VerifyExport(relledger::cli::VerifyExportArgs),
    /// Restore an export bundle into an empty data dir.
    Import(relledger::cli::ImportArgs),
    /// Print the public key the server signs checkpoints with.
    Key(relledger::cli::KeyArgs),
    /// Print an account's relationship as of a global position, as JSON.
    AsOf(relledger::cli::AsOfArgs),
    /// Forget a contact: destroy their data key, so their personal fields read as erased.
    Forget(relledger::cli::ForgetArgs),
    /// Verify the whole hash chain of a stopped server's data dir.
    Verify(relledger::cli::VerifyArgs),
    /// Recompute every account's live projection from position 0 (server stopped).
    Rebuild(relledger::cli::RebuildArgs),
    /// Drive a server with concurrent clients; report throughput and latency percentiles.
    Bench(relledger::cli::BenchArgs),
    /// Make or revoke bearer tokens in an auth file.
    #[command(subcommand)]
    Token(relledger::cli::TokenCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Export the RPCs' spans as OpenTelemetry traces to this OTLP/gRPC endpoint (for example
    /// `http://127.0.0.1:4317`), continuing the W3C `traceparent` a request carries. Off by
    /// default.
    #[arg(long, value_name = "URL", env = "RELLEDGER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (for example `127.0.0.1:9464`);
    /// port 0 picks a free port. Off by default.
    #[arg(long, value_name = "ADDR", env = "RELLEDGER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, env = "RELLEDGER_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// The directory of the embedded log; created if missing.
    #[arg(long, env = "RELLEDGER_DATA_DIR", default_value = "./relledger-data")]
    data_dir: PathBuf,
    /// The ledger's one currency (ISO 4217); amounts in any other are refused.
    #[arg(long, env = "RELLEDGER_CURRENCY", default_value = "CNY")]
    currency: String,
    /// The most events one append may carry.
    #[arg(long, env = "RELLEDGER_MAX_BATCH_EVENTS", default_value_t = Policy::default().max_batch_events)]
    max_batch_events: usize,
    /// The largest encoded event, in bytes.
    #[arg(long, env = "RELLEDGER_MAX_EVENT_BYTES", default_value_t = DEFAULT_MAX_EVENT_BYTES)]
    max_event_bytes: usize,
    /// The largest gRPC request, in bytes.
    #[arg(long, env = "RELLEDGER_MAX_REQUEST_BYTES", default_value_t = DEFAULT_MAX_REQUEST_BYTES)]
    max_request_bytes: usize,
    /// Sign the chain head once this many records are unsigned.
    #[arg(long, env = "RELLEDGER_CHECKPOINT_EVERY_RECORDS", default_value_t = AuditConfig::default().sign_every_records)]
    checkpoint_every_records: u64,
    /// Sign the chain head at this interval (seconds) when it has moved.
    #[arg(long, env = "RELLEDGER_CHECKPOINT_EVERY_SECS", default_value_t = AuditConfig::default().sign_every.as_secs())]
    checkpoint_every_secs: u64,
    /// The limit of sled's page cache, in MiB. sled holds only the small stores (subscription
    /// positions, signed checkpoints, the projector's checkpoint and change log); the log's
    /// record file and index runs are outside it.
    #[arg(long, env = "RELLEDGER_CACHE_MB", default_value_t = relledger::store::file::DEFAULT_CACHE_BYTES / (1024 * 1024))]
    cache_mb: u64,
    /// The most events and items of evidence the account states kept in memory may hold, in
    /// all accounts (a few hundred bytes each). Under sustained appends to long streams, a
    /// budget that holds every stream being appended to keeps the projector from reading
    /// them back from the log.
    #[arg(long, env = "RELLEDGER_STATE_CACHE_EVENTS", default_value_t = relledger::read::states::DEFAULT_BUDGET)]
    state_cache_events: usize,
    /// The log on a NATS JetStream cluster instead of the embedded log alone: the servers'
    /// URLs, comma-separated (`nats://127.0.0.1:4222,nats://127.0.0.1:4223`). The data dir
    /// then holds this replica's copy. Needs nats-server 2.10 or later.
    #[arg(long, value_name = "URLS", env = "RELLEDGER_STORE")]
    store: Option<String>,
    /// With `--store`: how many NATS servers hold each message of the stream (1, 3 or 5),
    /// when this replica creates it.
    #[arg(long, env = "RELLEDGER_STORE_REPLICAS", default_value_t = 1)]
    store_replicas: usize,
    /// With `--store`: the JetStream stream of the ledger's log (its companions are
    /// `<name>_SUBSCRIPTIONS` and `<name>_KEYS`). Ledgers with different names share a cluster
    /// without seeing each other's data; every replica of one ledger gives the same name.
    #[arg(long, value_name = "NAME", env = "RELLEDGER_STORE_STREAM", default_value = relledger::store::jetstream::DEFAULT_STREAM)]
    store_stream: String,
    /// With `--store`: a CA (PEM) the NATS servers' certificates may chain to, besides those
    /// the system trusts; TLS is then required of every server.
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_STORE_CA",
        requires = "store"
    )]
    store_ca: Option<PathBuf>,
    /// With `--store`: the certificate chain (PEM) this replica presents to NATS servers that
    /// verify their clients.
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_STORE_CERT",
        requires_all = ["store", "store_key"]
    )]
    store_cert: Option<PathBuf>,
    /// The private key (PEM) of `--store-cert`.
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_STORE_KEY",
        requires = "store_cert"
    )]
    store_key: Option<PathBuf>,
    /// The principals, their token hashes, roles and account scopes (`relledger token create`
    /// writes it). Without it every caller may do everything, which is allowed only on a
    /// loopback address. Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE", env = "RELLEDGER_AUTH_FILE")]
    auth_file: Option<PathBuf>,
    /// The server's TLS certificate chain (PEM).
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_TLS_CERT",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_TLS_KEY",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Require a client certificate that chains to this CA (PEM) on every connection (mTLS).
    #[arg(
        long,
        value_name = "FILE",
        env = "RELLEDGER_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    tls_client_ca: Option<PathBuf>,
    /// Serve on a non-loopback address without TLS or without an auth file. Anyone who can
    /// reach the port may then read, write or erase, or see the traffic.
    #[arg(long, env = "RELLEDGER_INSECURE")]
    insecure: bool,
}

fn main() -> ExitCode {
    relledger::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Append(args) => relledger::cli::append(args).await,
            Command::Read(args) => relledger::cli::read(args).await,
            Command::Export(args) => relledger::cli::export(args).await,
            Command::VerifyExport(args) => relledger::cli::verify_export(args).await,
            Command::Import(args) => relledger::cli::import(args).await,
            Command::Key(args) => relledger::cli::key(args).await,
            Command::AsOf(args) => relledger::cli::as_of(args).await,
            Command::Forget(args) => relledger::cli::forget(args).await,
            Command::Verify(args) => relledger::cli::verify(args).await,
            Command::Rebuild(args) => relledger::cli::rebuild(args).await,
            Command::Bench(args) => relledger::cli::bench(args).await,
            Command::Token(command) => relledger::cli::token(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The client subcommands print a refused call themselves, with its status code.
            if err.downcast_ref::<relledger::cli::RpcError>().is_none() {
                eprintln!("error: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let logging = relledger::logging::init(args.otlp_endpoint.as_deref())?;
    let served = serve_logged(args).await;
    logging.shutdown();
    served
}

async fn serve_logged(args: ServeArgs) -> anyhow::Result<()> {
    take_file_size_signal();
    refuse_insecure(&args)?;
    let mut config = Config::new(args.data_dir.clone());
    config.policy.currency = args.currency.clone();
    config.policy.max_batch_events = args.max_batch_events;
    config.max_event_bytes = args.max_event_bytes;
    config.max_request_bytes = args.max_request_bytes;
    config.cache_bytes = args.cache_mb.max(1) * 1024 * 1024;
    config.state_cache_events = args.state_cache_events;
    config.metrics = args.metrics_listen.is_some();
    if let Some(store) = &args.store {
        let mut options = relledger::store::jetstream::JetStreamOptions::parse(store)?;
        options.replicas = args.store_replicas.max(1);
        options.set_stream(&args.store_stream)?;
        options.tls.ca = args.store_ca.clone();
        options.tls.client = args.store_cert.clone().zip(args.store_key.clone());
        config.store = Some(options);
    }
    config.audit = AuditConfig {
        sign_every_records: args.checkpoint_every_records.max(1),
        sign_every: std::time::Duration::from_secs(args.checkpoint_every_secs.max(1)),
    };
    if let Some(path) = &args.auth_file {
        let auth = Arc::new(Authenticator::open(path)?);
        reload_on_hangup(Arc::clone(&auth));
        config.auth = Some(auth);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        };
        config.tls = Some(TlsConfig {
            certificate_pem: read(cert)?,
            key_pem: read(key)?,
            client_ca_pem: args.tls_client_ca.as_ref().map(read).transpose()?,
        });
    }
    let server = OpenServer::open(config)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    let address = listener.local_addr()?;
    // The metrics endpoint binds before the server says it is listening, so that both
    // addresses are known (port 0 included) when it does.
    let metrics = match args.metrics_listen {
        Some(at) => {
            let listener = TcpListener::bind(at)
                .await
                .map_err(|err| anyhow::anyhow!("cannot listen on {at} for metrics: {err}"))?;
            let address = listener.local_addr()?;
            let handle = relledger::metrics::install()?;
            tokio::spawn(relledger::metrics::serve(listener, handle));
            Some(address)
        }
        None => None,
    };
    // The first line on stdout: scripts and tests read the bound address from it (useful with
    // port 0); with `--metrics-listen`, the metrics endpoint's on the second. Everything else
    // is tracing output on stderr. A reader that stops after the first line is no error.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "relledger listening on {address}");
        if let Some(metrics) = metrics {
            let _ = writeln!(out, "relledger metrics on http://{metrics}/metrics");
        }
        let _ = out.flush();
    }
    server.run(listener, shutdown_signal()).await?;
    Ok(())
}

/// Refuses to serve on an address other machines can reach without both TLS and an auth
/// file, unless `--insecure` says so; then warns.
fn refuse_insecure(args: &ServeArgs) -> anyhow::Result<()> {
    let secured = args.tls_cert.is_some() && args.auth_file.is_some();
    if args.listen.ip().is_loopback() || secured {
        return Ok(());
    }
    if !args.insecure {
        anyhow::bail!(
            "refusing to serve on {} without TLS and an auth file: give --tls-cert, --tls-key and --auth-file (see the README's \"Running it for real\"), or --insecure to serve anyway",
            args.listen
        );
    }
    tracing::warn!(
        listen = %args.listen,
        tls = args.tls_cert.is_some(),
        auth_file = args.auth_file.is_some(),
        "serving INSECURELY on a non-loopback address (--insecure): without TLS anyone on the network sees the traffic, without an auth file anyone who reaches the port may read, write and erase"
    );
    Ok(())
}

/// Reads the auth file again on every SIGHUP. A file that does not check changes nothing and
/// says why; the principals in force stay.
fn reload_on_hangup(auth: Arc<Authenticator>) {
    #[cfg(unix)]
    {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; the auth file is read only at start");
                return;
            }
        };
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match auth.reload() {
                    Ok(()) => tracing::info!(path = %auth.path().display(), "auth file reloaded"),
                    Err(err) => {
                        tracing::error!(error = %err, "auth file not reloaded; the principals in force stay")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = auth;
}

/// Makes a write past the file-size limit (`ulimit -f`) fail as a write to a full disk does
/// (`EFBIG` as `ENOSPC`) instead of killing the process with SIGXFSZ: the log then refuses
/// appends, reports itself unhealthy and goes on serving reads, as after any failed write.
/// PostgreSQL ignores the signal for the same reason. A handler, once registered, stays for the
/// life of the process; what it receives is never read.
fn take_file_size_signal() {
    #[cfg(unix)]
    {
        let kind =
            tokio::signal::unix::SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw());
        if let Err(err) = tokio::signal::unix::signal(kind) {
            tracing::warn!(error = %err, "cannot take SIGXFSZ; a write past the file-size limit stops the server");
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
