//! The server's log: `tracing` events to stderr, filtered by `RUST_LOG` (`info` when unset).
//!
//! Every RPC has a span (tonic's `trace_fn` in `server`, and one per handler), at DEBUG: with
//! the fmt subscriber an enabled span formats and stores its fields when it opens and again
//! when a field is recorded, whether or not anything is logged inside it, and at INFO those two
//! spans per request cost the binary 6 to 8% of its appends at 64 clients (measured with
//! `relledger bench --workload append1 --clients 64` against `relledger serve` at `RUST_LOG=info`
//! and `warn`). tower-http's request spans default to DEBUG for the same reason.
//! `RUST_LOG=relledger=debug` shows them.

use std::io::IsTerminal;

/// Sends the process's `tracing` output to stderr, as `relledger serve` logs. Does nothing if
/// the process already has a subscriber (a bench that runs the server in its own process).
pub fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
