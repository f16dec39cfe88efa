//! `relledger export`: a range of the log as a self-verifying bundle, from a stopped server's
//! data dir or from a running server (`Audit.SignCheckpoint`, then `Audit.Replay`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::client::{ClientChannel, Credentials};
use anyhow::Context as _;

use super::{progress, refused};
use crate::api::audit_service::signed_checkpoint_from_proto;
use crate::api::proto;
use crate::api::proto::audit_client::AuditClient;
use crate::audit::bundle::{BundleSummary, BundleWriter, RecordLine};
use crate::audit::offline::export_data_dir;
use crate::domain::ChainHash;

/// Writes positions `--from` to `--to` (default: the whole log) as an NDJSON bundle: a header,
/// one line per record with its canonical bytes and hashes, and the signed checkpoints over
/// them. The last record is signed first if no checkpoint covers it yet.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data_dir", "server"])))]
pub struct ExportArgs {
    /// Export from this data dir (the server must be stopped).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Export from the running server at this URL, such as `http://127.0.0.1:50051`.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// With `--server`: the token and certificates to connect with.
    #[command(flatten)]
    pub credentials: Credentials,
    /// The bundle file to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// The first position, inclusive.
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub from: u64,
    /// The last position, inclusive. Default: the head.
    #[arg(long, value_name = "Q")]
    pub to: Option<u64>,
}

/// Runs `relledger export`. A failed export removes the partial file.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let output = args.output.clone();
    let file =
        File::create(&output).with_context(|| format!("cannot create {}", output.display()))?;
    let out = BufWriter::new(file);
    let exported = match (&args.data_dir, &args.server) {
        (Some(dir), _) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                let bar = progress::bar(0, "exported");
                let summary = export_data_dir(&dir, out, args.from, args.to, &mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                });
                bar.finish_and_clear();
                summary
            })
            .await?
        }
        (None, Some(server)) => {
            let channel = args.credentials.connect(server).await?;
            export_from_server(channel, out, args.from, args.to).await
        }
        (None, None) => Err(anyhow::anyhow!("give --data-dir or --server")),
    };
    match exported {
        Ok(summary) => {
            report(&summary, &output);
            Ok(())
        }
        Err(error) => {
            let _ = std::fs::remove_file(&output);
            Err(error)
        }
    }
}

fn report(summary: &BundleSummary, output: &Path) {
    eprintln!(
        "exported {} records and {} signed checkpoints to {}",
        summary.records,
        summary.checkpoints.len(),
        output.display()
    );
}

async fn export_from_server(
    channel: ClientChannel,
    out: impl Write,
    from: u64,
    to: Option<u64>,
) -> anyhow::Result<BundleSummary> {
    let mut client = AuditClient::new(channel);
    let head = client
        .get_chain_head(proto::GetChainHeadRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    let Some(head_position) = head.head_position else {
        let writer = BundleWriter::start(out, 0, 0, ChainHash::GENESIS, crate::clock::now())?;
        return writer.finish();
    };
    let wanted = to.unwrap_or(head_position);
    // Sign the end of the range, so that every record of the bundle is covered. Signing on
    // demand is an administrator's; an auditor's export of "everything" ends instead at the
    // newest checkpoint the server signed on its own.
    let signed = client
        .sign_checkpoint(proto::SignCheckpointRequest {
            position: Some(wanted),
        })
        .await;
    let to = match (signed, &head.latest_checkpoint) {
        (Ok(_), _) => wanted,
        (Err(status), Some(latest))
            if status.code() == tonic::Code::PermissionDenied && to.is_none() =>
        {
            eprintln!(
                "note: {}; exporting up to the newest signed checkpoint, position {} of {head_position}",
                status.message(),
                latest.position
            );
            latest.position
        }
        (Err(status), _) => return Err(refused(status)),
    };
    let mut items = client
        .replay(proto::ReplayRequest {
            from_position: from,
            to_position: Some(to),
        })
        .await
        .map_err(refused)?
        .into_inner();
    let total = (to + 1).saturating_sub(from);
    let bar = progress::bar(total, "exported");
    let mut writer: Option<BundleWriter<_>> = None;
    let mut out = Some(out);
    while let Some(item) = items.message().await.map_err(refused)? {
        match item.item {
            Some(proto::replay_response::Item::Record(record)) => {
                let line = record_line(record)?;
                let writer = match &mut writer {
                    Some(writer) => writer,
                    None => {
                        let prev = hex::decode(&line.prev_hash)?;
                        let prev = ChainHash(prev.try_into().map_err(|_| {
                            anyhow::anyhow!("the server sent a prev_hash that is not 32 bytes")
                        })?);
                        let start = BundleWriter::start(
                            out.take().expect("the output is taken once"),
                            from,
                            total,
                            prev,
                            crate::clock::now(),
                        )?;
                        writer.insert(start)
                    }
                };
                writer.record(line)?;
                bar.set_position(writer.records());
            }
            Some(proto::replay_response::Item::Checkpoint(checkpoint)) => {
                let checkpoint = signed_checkpoint_from_proto(&checkpoint, "checkpoint")?;
                writer
                    .as_mut()
                    .context("the server sent a checkpoint before any record")?
                    .checkpoint(&checkpoint)?;
            }
            None => anyhow::bail!("the server sent an empty replay item"),
        }
    }
    bar.finish_and_clear();
    writer.context("the server replayed no record")?.finish()
}

/// The bundle line of a replayed record.
fn record_line(record: proto::ReplayedRecord) -> anyhow::Result<RecordLine> {
    let event = record
        .event
        .context("the server sent a record without its event")?;
    let recorded_at = event
        .recorded_at
        .context("the server sent a record without recorded_at")?;
    Ok(RecordLine {
        position: event.position,
        account_id: event.account_id,
        revision: event.revision,
        recorded_at: recorded_at.seconds * 1_000_000_000 + i64::from(recorded_at.nanos),
        prev_hash: hex::encode(&event.prev_hash),
        hash: hex::encode(&event.hash),
        canonical: String::from_utf8(record.canonical)
            .context("the server sent canonical bytes that are not UTF-8")?,
    })
}
