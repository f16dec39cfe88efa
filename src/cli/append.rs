//! `relledger append`: appends JSON-lines events to one account, atomically.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{connect, parse_event_lines, print_json_line, refused, ClientArgs};
use crate::api::convert::expected_revision_to_proto;
use crate::api::proto;
use crate::store::ExpectedRevision;

/// Appends events to one account's stream.
///
/// The input holds one `ProposedEvent` per line in the proto3 JSON mapping (camelCase or the
/// proto's snake_case field names), for example
/// `{"eventId":"…","occurredAt":"2026-11-01T09:30:00Z","actor":"li.wei","visit":{"contactIds":["c-zhang"],"purpose":"deliver the test report"}}`.
/// Blank lines are skipped. A line without `eventId` gets a random one and a line without
/// `occurredAt` the current time: such a line is not idempotent, so running the command again
/// appends it again. All lines go in one request: all are appended, or none.
#[derive(Debug, Clone, clap::Args)]
pub struct AppendArgs {
    /// The server, and how to reach it.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The account whose stream the events are appended to.
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// The concurrency check: `any`, `no-stream`, `stream-exists`, or the stream's exact last
    /// revision.
    #[arg(long, value_name = "any|no-stream|stream-exists|N", default_value = "any", value_parser = parse_expected)]
    pub expected: ExpectedRevision,
    /// The JSON-lines file to read; standard input when not given.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// Runs `relledger append`: reads and parses the whole input first (a bad line sends nothing),
/// appends every event in one request, and prints the `AppendResponse` as one JSON line. A
/// refused append is printed to stderr as `error: <CODE>: <message>` and returned as a
/// [`super::RpcError`].
pub async fn append(args: AppendArgs) -> anyhow::Result<()> {
    let input = read_input(args.file.clone()).await?;
    append_to(args, &input, &mut std::io::stdout()).await
}

/// [`append`] with the input given and the response written to `out`.
pub(super) async fn append_to(
    args: AppendArgs,
    input: &str,
    out: &mut (impl std::io::Write + Send),
) -> anyhow::Result<()> {
    let events = parse_event_lines(input)?;
    if events.is_empty() {
        anyhow::bail!("nothing to append: the input has no events");
    }
    let request = proto::AppendRequest {
        account_id: args.account,
        expected_revision: Some(expected_revision_to_proto(args.expected)),
        events,
    };
    let mut client = connect(&args.client).await?;
    let response = client.append(request).await.map_err(refused)?.into_inner();
    print_json_line(out, &response)?;
    Ok(())
}

/// The whole input: the file at `path`, or standard input. Read on a blocking thread so the
/// runtime's workers stay free.
async fn read_input(path: Option<PathBuf>) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || match path {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display())),
        None => std::io::read_to_string(std::io::stdin()).context("cannot read standard input"),
    })
    .await
    .context("the input reader failed")?
}

/// Parses `--expected`.
pub fn parse_expected(value: &str) -> Result<ExpectedRevision, String> {
    match value {
        "any" => Ok(ExpectedRevision::Any),
        "no-stream" => Ok(ExpectedRevision::NoStream),
        "stream-exists" => Ok(ExpectedRevision::StreamExists),
        revision => revision.parse().map(ExpectedRevision::Exact).map_err(|_| {
            format!("expected any, no-stream, stream-exists or a revision number, got {value:?}")
        }),
    }
}
