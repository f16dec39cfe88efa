//! `relledger read`: prints one account's stream, or the global log, as JSON lines.

use super::{connect, print_json_line, refused, ClientArgs};
use crate::api::proto;

/// Reads one account's stream (`--account`) or the global log, printing each `RecordedEvent`
/// as one JSON line (proto3 JSON mapping; hashes in base64) as soon as it arrives.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// The server, and how to reach it.
    #[command(flatten)]
    pub client: ClientArgs,
    /// The account whose stream to read; without it, the global log is read.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// The first revision (with `--account`) or global position to return, inclusive. Default:
    /// the start, or the end with `--backwards`.
    #[arg(long, value_name = "N")]
    pub from: Option<u64>,
    /// Read from newer to older events.
    #[arg(long)]
    pub backwards: bool,
    /// The most events to print; all when not given.
    #[arg(long, value_name = "N")]
    pub max_count: Option<u32>,
    /// Only events of this type, such as `visit` (repeatable; global log only).
    #[arg(long = "event-type", value_name = "TYPE", conflicts_with = "account")]
    pub event_types: Vec<String>,
}

/// Runs `relledger read`. A refused read (an unknown account is NOT_FOUND) or a stream that
/// fails midway is printed to stderr as `error: <CODE>: <message>` and returned as a
/// [`super::RpcError`]; the events before the failure have been printed.
pub async fn read(args: ReadArgs) -> anyhow::Result<()> {
    read_to(args, &mut std::io::stdout()).await
}

/// [`read`] with the events written to `out`.
pub(super) async fn read_to(
    args: ReadArgs,
    out: &mut (impl std::io::Write + Send),
) -> anyhow::Result<()> {
    let mut client = connect(&args.client).await?;
    let direction = if args.backwards {
        proto::Direction::Backwards
    } else {
        proto::Direction::Forwards
    };
    let max_count = args.max_count.unwrap_or(0);
    let response = match args.account {
        Some(account_id) => {
            let request = proto::ReadStreamRequest {
                account_id,
                from_revision: args.from,
                direction: direction.into(),
                max_count,
            };
            client.read_stream(request).await
        }
        None => {
            let request = proto::ReadAllRequest {
                from_position: args.from,
                direction: direction.into(),
                max_count,
                account_ids: Vec::new(),
                event_types: args.event_types,
            };
            client.read_all(request).await
        }
    };
    let mut events = response.map_err(refused)?.into_inner();
    while let Some(event) = events.message().await.map_err(refused)? {
        if !print_json_line(out, &event)? {
            break;
        }
    }
    Ok(())
}
