//! NATS JetStream, a single node or a cluster: one file-storage stream over `compare.>` (on a
//! cluster, every message on three nodes), one subject per event stream, each publish carrying
//! `Nats-Expected-Last-Subject-Sequence` (the subject's sequence the client last saw
//! acknowledged, 0 for none), one connection per client (on a cluster, to each node in turn).
//! Whether an acknowledgement means "on disk" is the servers' `sync_interval`, set by the
//! script.
//!
//! A clustered stream's leader checks the expected sequence before the message is replicated,
//! against its own view, and under load that view can lag its acknowledgements: a client
//! alone on its subject is sometimes refused "wrong last sequence". The publisher then asks the
//! leader for the subject's last message and, if it is still the client's own last one,
//! publishes again, as a real client (and relledger) must.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, StorageType};
use async_nats::jetstream::{self, message::PublishMessage};
use async_trait::async_trait;

use super::super::run::Appender;
use super::System;

const STREAM: &str = "COMPARE";
/// How many spurious "wrong last sequence" refusals one append survives.
const REFUSALS: usize = 10;

pub struct Nats {
    /// The servers; client `i` connects to server `i % len`.
    urls: Vec<String>,
    detail: String,
}

impl Nats {
    /// The stream on the servers at `urls` (comma-separated), with `replicas` copies of each
    /// message.
    pub async fn open(urls: &str, sync: &str, replicas: usize) -> anyhow::Result<Nats> {
        let urls: Vec<String> = urls.split(',').map(|u| u.trim().to_string()).collect();
        let client = connect(&urls[0]).await?;
        let version = client.server_info().version;
        let js = jetstream::new(client);
        // A stream left by an earlier run would hold its subjects' sequences.
        let _ = js.delete_stream(STREAM).await;
        js.create_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec!["compare.>".into()],
            storage: StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .context("cannot create the JetStream stream")?;
        let nodes = match urls.len() {
            1 => "single node".to_string(),
            n => format!("{n}-node cluster, R{replicas}, clients spread over the nodes"),
        };
        Ok(Nats {
            urls,
            detail: format!(
                "nats-server {version}, {nodes}, file storage, {sync} (as configured by \
                 bench/compare.sh)"
            ),
        })
    }
}

async fn connect(url: &str) -> anyhow::Result<async_nats::Client> {
    tokio::time::timeout(Duration::from_secs(10), async_nats::connect(url))
        .await
        .context("no answer from nats-server in 10 s")?
        .with_context(|| format!("cannot connect to {url}"))
}

#[async_trait]
impl System for Nats {
    fn detail(&self) -> String {
        self.detail.clone()
    }

    async fn clients(&mut self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>> {
        let mut clients: Vec<Box<dyn Appender>> = Vec::with_capacity(n);
        for i in 0..n {
            let js = jetstream::new(connect(&self.urls[i % self.urls.len()]).await?);
            clients.push(Box::new(Publisher {
                stream: js.get_stream_no_info(STREAM).await?,
                js,
                subject: format!("compare.{round}.{i}"),
                last_sequence: 0,
            }));
        }
        Ok(clients)
    }
}

struct Publisher {
    js: jetstream::Context,
    stream: jetstream::stream::Stream<()>,
    subject: String,
    /// The stream sequence of this subject's last acknowledged message.
    last_sequence: u64,
}

#[async_trait]
impl Appender for Publisher {
    async fn append(&mut self) -> anyhow::Result<()> {
        let payload: bytes::Bytes = super::payload().into();
        for _ in 0..REFUSALS {
            let publish = PublishMessage::build()
                .payload(payload.clone())
                .expected_last_subject_sequence(self.last_sequence);
            let acked = match self.js.send_publish(self.subject.clone(), publish).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(ack) => {
                    self.last_sequence = ack.sequence;
                    return Ok(());
                }
                Err(e) if relledger::store::jetstream::overtaken(&e) => {
                    let last = match self
                        .stream
                        .get_last_raw_message_by_subject(&self.subject)
                        .await
                    {
                        Ok(message) => message.sequence,
                        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => 0,
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("the last message on {}", self.subject))
                        }
                    };
                    anyhow::ensure!(
                        last == self.last_sequence,
                        "{} moved to {last} behind its only writer (at {})",
                        self.subject,
                        self.last_sequence
                    );
                }
                Err(e) => return Err(e).with_context(|| format!("publish to {}", self.subject)),
            }
        }
        anyhow::bail!(
            "publishing to {} was refused {REFUSALS} times with its last sequence unmoved",
            self.subject
        )
    }
}
