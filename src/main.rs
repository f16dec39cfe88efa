//! The `relledger` command: `serve` runs the ledger; `append` and `read` are thin clients so a
//! person can try it from a shell.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use relledger::audit::AuditConfig;
use relledger::config::{Config, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_REQUEST_BYTES};
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
}

#[derive(Args)]
struct ServeArgs {
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
    relledger::logging::log_to_stderr();
    take_file_size_signal();
    let mut config = Config::new(args.data_dir);
    config.policy.currency = args.currency;
    config.policy.max_batch_events = args.max_batch_events;
    config.max_event_bytes = args.max_event_bytes;
    config.max_request_bytes = args.max_request_bytes;
    config.cache_bytes = args.cache_mb.max(1) * 1024 * 1024;
    config.audit = AuditConfig {
        sign_every_records: args.checkpoint_every_records.max(1),
        sign_every: std::time::Duration::from_secs(args.checkpoint_every_secs.max(1)),
    };
    let server = OpenServer::open(config)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    let address = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the bound address from it (useful with
    // port 0). Everything else is tracing output on stderr.
    println!("relledger listening on {address}");
    server.run(listener, shutdown_signal()).await?;
    Ok(())
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
