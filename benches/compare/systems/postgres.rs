//! PostgreSQL as a typical Postgres event store: one `events` table with UNIQUE (stream,
//! version); an append is one statement, its own transaction, that inserts the next version
//! only if the stream's last version is the expected one (the unique constraint catches two
//! writers that passed the check together). `synchronous_commit = on`: the commit returns once
//! its WAL is flushed. One statement is one round trip, the cheapest form of the check; a
//! BEGIN / SELECT / INSERT / COMMIT store pays three more.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio_postgres::{Client, NoTls, Statement};

use super::super::run::Appender;
use super::System;

const SCHEMA: &str = "
    DROP TABLE IF EXISTS events;
    CREATE TABLE events (
        position bigserial PRIMARY KEY,
        stream   text   NOT NULL,
        version  bigint NOT NULL,
        data     bytea  NOT NULL,
        UNIQUE (stream, version)
    );";

const APPEND: &str = "
    INSERT INTO events (stream, version, data)
    SELECT $1::text, $2::bigint, $3::bytea
    WHERE COALESCE((SELECT max(version) FROM events WHERE stream = $1::text), -1) = $2::bigint - 1";

pub struct Postgres {
    config: String,
    detail: String,
}

impl Postgres {
    pub async fn open(config: &str) -> anyhow::Result<Postgres> {
        let client = connect(config).await?;
        client
            .batch_execute(SCHEMA)
            .await
            .context("cannot create the events table")?;
        let show = |name: &'static str| {
            let client = &client;
            async move {
                let row = client.query_one(&format!("SHOW {name}"), &[]).await?;
                anyhow::Ok(row.get::<_, String>(0))
            }
        };
        let (version, fsync, sync_method) = (
            show("server_version").await?,
            show("fsync").await?,
            show("wal_sync_method").await?,
        );
        anyhow::ensure!(
            fsync == "on",
            "the server runs with fsync = {fsync}: its commits are not durable"
        );
        Ok(Postgres {
            config: config.to_string(),
            detail: format!(
                "PostgreSQL {version}, fsync on, wal_sync_method {sync_method}, synchronous_commit on"
            ),
        })
    }
}

async fn connect(config: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(config, NoTls),
    )
    .await
    .context("no answer from PostgreSQL in 10 s")?
    .with_context(|| format!("cannot connect to PostgreSQL ({config})"))?;
    // The connection does the IO; it ends when the client is dropped.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection: {e}");
        }
    });
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .context("cannot set synchronous_commit")?;
    Ok(client)
}

#[async_trait]
impl System for Postgres {
    fn detail(&self) -> String {
        self.detail.clone()
    }

    async fn clients(&mut self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>> {
        let mut clients: Vec<Box<dyn Appender>> = Vec::with_capacity(n);
        for i in 0..n {
            let client = connect(&self.config).await?;
            let append = client.prepare(APPEND).await?;
            clients.push(Box::new(Writer {
                client,
                append,
                stream: format!("compare-{round}-{i}"),
                next_version: 0,
            }));
        }
        Ok(clients)
    }
}

struct Writer {
    client: Client,
    append: Statement,
    stream: String,
    next_version: i64,
}

#[async_trait]
impl Appender for Writer {
    async fn append(&mut self) -> anyhow::Result<()> {
        let data = super::payload();
        let inserted = self
            .client
            .execute(&self.append, &[&self.stream, &self.next_version, &data])
            .await
            .with_context(|| format!("append to {}", self.stream))?;
        anyhow::ensure!(
            inserted == 1,
            "the version check refused version {} of {}",
            self.next_version,
            self.stream
        );
        self.next_version += 1;
        Ok(())
    }
}
