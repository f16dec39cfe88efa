//! Thin client subcommands, so that a person can try the ledger from a shell.
//!
//! - [`append`]: JSON lines in (one `ProposedEvent` each, proto3 JSON mapping), one atomic
//!   `Append` out, the `AppendResponse` printed as a JSON line;
//! - [`read`]: `ReadStream` or `ReadAll`, each `RecordedEvent` printed as a JSON line as it
//!   arrives;
//! - [`lines`]: the pure parsing of the JSON-lines input;
//! - [`bench`]: a load generator: concurrent gRPC clients, throughput and latency percentiles;
//! - [`rebuild`]: the operator command that recomputes the live projections of a stopped
//!   server's data dir (it opens the log itself; the others are gRPC clients).
//!
//!
//! For auditors (see the README's "For auditors"):
//!
//! - [`export`], [`verify_export`], [`import`]: a range of the log as a self-verifying bundle
//!   (from a stopped server's data dir, or from a running server), its offline check, and its
//!   restore into an empty data dir;
//! - [`key`]: the public key a data dir's server signs checkpoints with;
//! - [`verify`]: the whole chain of a stopped server's data dir, checked offline;
//! - [`as_of`]: one account's relationship as of a global position;
//! - [`forget`]: erase a contact's personal data (`Ledger.ForgetContact`);
//! - [`token`]: make and revoke the bearer tokens of the auth file;
//! - [`client`]: the connection flags (server, token, certificates) of every client command;
//! - `progress`: their progress bars.
//!
//! The commands speak the wire contract as any other client would, so they use the generated
//! client and the proto3 JSON mapping directly; they know nothing of the server's internals.

pub mod append;
pub mod as_of;
pub mod bench;
pub mod client;
pub mod export;
pub mod forget;
pub mod import;
pub mod key;
pub mod lines;
mod progress;
pub mod read;
pub mod rebuild;
pub mod token;
pub mod verify;
pub mod verify_export;

pub use append::{append, AppendArgs};
pub use as_of::{as_of, AsOfArgs};
pub use bench::{bench, BenchArgs};
pub use client::{ClientArgs, ClientChannel, Credentials, DEFAULT_SERVER};
pub use export::{export, ExportArgs};
pub use forget::{forget, ForgetArgs};
pub use import::{import, ImportArgs};
pub use key::{key, KeyArgs};
pub use lines::{parse_event_lines, LineError};
pub use read::{read, ReadArgs};
pub use rebuild::{rebuild, RebuildArgs};
pub use token::{token, TokenCommand};
pub use verify::{verify, VerifyArgs};
pub use verify_export::{verify_export, VerifyExportArgs};

use anyhow::Context as _;

use crate::api::proto::ledger_client::LedgerClient;

/// A call the server refused. The commands print it to stderr as `error: <CODE>: <message>`
/// before returning it, so a caller that finds this error has nothing left to print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code_name(*code))]
pub struct RpcError {
    /// The gRPC status code.
    pub code: tonic::Code,
    /// The server's message, which names the offending field for INVALID_ARGUMENT.
    pub message: String,
}

impl From<tonic::Status> for RpcError {
    fn from(status: tonic::Status) -> Self {
        RpcError {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}

/// Connects to the ledger as `client` says.
async fn connect(client: &ClientArgs) -> anyhow::Result<LedgerClient<ClientChannel>> {
    Ok(LedgerClient::new(client.connect().await?))
}

/// Prints a refused call to stderr and turns it into the error the command returns.
fn refused(status: tonic::Status) -> anyhow::Error {
    let error = RpcError::from(status);
    eprintln!("error: {error}");
    error.into()
}

/// Writes one JSON line to `out`. A closed pipe (`relledger read | head`) is not an error for a
/// command whose reader has seen enough: it returns `Ok(false)` and the command stops quietly.
fn print_json_line(
    out: &mut impl std::io::Write,
    message: &impl serde::Serialize,
) -> anyhow::Result<bool> {
    let line = serde_json::to_string(message).context("cannot encode the response as JSON")?;
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

pub use crate::api::status::code_name;

#[cfg(test)]
mod tests;
