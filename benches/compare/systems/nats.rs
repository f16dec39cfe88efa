//! NATS JetStream, single node: one file-storage stream over `compare.>`, one subject per
//! event stream, each publish carrying `Nats-Expected-Last-Subject-Sequence` (the subject's
//! sequence the client last saw acknowledged, 0 for none), one connection per client. Whether
//! an acknowledgement means "on disk" is the server's `sync_interval`, set by the script.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage, stream::StorageType};
use async_trait::async_trait;

use super::super::run::Appender;
use super::System;

const STREAM: &str = "COMPARE";

pub struct Nats {
    url: String,
    detail: String,
}

impl Nats {
    pub async fn open(url: &str, sync: &str) -> anyhow::Result<Nats> {
        let client = connect(url).await?;
        let version = client.server_info().version;
        let js = jetstream::new(client);
        // A stream left by an earlier run would hold its subjects' sequences.
        let _ = js.delete_stream(STREAM).await;
        js.create_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec!["compare.>".into()],
            storage: StorageType::File,
            num_replicas: 1,
            ..Default::default()
        })
        .await
        .context("cannot create the JetStream stream")?;
        Ok(Nats {
            url: url.to_string(),
            detail: format!(
                "nats-server {version}, file storage, {sync} (as configured by bench/compare.sh)"
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
            clients.push(Box::new(Publisher {
                js: jetstream::new(connect(&self.url).await?),
                subject: format!("compare.{round}.{i}"),
                last_sequence: 0,
            }));
        }
        Ok(clients)
    }
}

struct Publisher {
    js: jetstream::Context,
    subject: String,
    /// The stream sequence of this subject's last acknowledged message.
    last_sequence: u64,
}

#[async_trait]
impl Appender for Publisher {
    async fn append(&mut self) -> anyhow::Result<()> {
        let publish = PublishMessage::build()
            .payload(super::payload().into())
            .expected_last_subject_sequence(self.last_sequence);
        let ack = self
            .js
            .send_publish(self.subject.clone(), publish)
            .await
            .with_context(|| format!("publish to {}", self.subject))?
            .await
            .with_context(|| format!("publish to {}", self.subject))?;
        self.last_sequence = ack.sequence;
        Ok(())
    }
}
