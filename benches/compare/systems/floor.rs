//! The floors, in this process with no network: relledger's batching without relledger. One
//! writer thread takes every append waiting (up to 1,024, as relledger's writer does), checks
//! each against its stream's last revision, writes the group and syncs it once, then answers.
//!
//! - sled alone: the group is one `sled::Batch` with relledger's three keys per event (the
//!   record by position, the stream index, the event id index), then `Db::flush`, as
//!   relledger's writer does. On Linux sled 0.34's flush ends in `sync_file_range`, not
//!   `fsync`: the pages reach the device, but neither the device's write cache nor the file's
//!   metadata is flushed;
//! - sled + fdatasync: the same, then `fdatasync` of sled's data file: what an acknowledgement
//!   "on disk" in the sense of PostgreSQL's commit or JetStream's `sync_interval: always` costs
//!   with sled;
//! - write + fdatasync: the group appended to one file (length-prefixed payloads), then
//!   `File::sync_data`, the least a durable append can cost on this disk.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::thread::JoinHandle;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::super::run::Appender;
use super::System;

/// The most appends one group holds, as in relledger's writer.
const MAX_GROUP: usize = 1024;

/// One append on its way to the writer thread.
struct Command {
    stream: String,
    /// The stream's last revision as the client knows it (`None`: no stream yet).
    expected: Option<u64>,
    payload: Vec<u8>,
    reply: oneshot::Sender<Result<u64, String>>,
}

/// One append of a group that passed its check.
struct Planned {
    position: u64,
    stream: String,
    revision: u64,
    payload: Vec<u8>,
}

/// Where a group goes, then one sync.
trait Sink: Send + 'static {
    fn write(&mut self, group: &[Planned]) -> std::io::Result<()>;
}

struct SledSink {
    db: sled::Db,
    /// sled's data file, opened again to be fdatasynced after each flush; `None`: flush only.
    data_file: Option<File>,
}

impl Sink for SledSink {
    fn write(&mut self, group: &[Planned]) -> std::io::Result<()> {
        let mut batch = sled::Batch::default();
        for p in group {
            let mut record = vec![b'l'];
            record.extend_from_slice(&p.position.to_be_bytes());
            batch.insert(record, p.payload.as_slice());
            let mut stream = vec![b's'];
            stream.extend_from_slice(p.stream.as_bytes());
            stream.push(0);
            stream.extend_from_slice(&p.revision.to_be_bytes());
            batch.insert(stream, &p.position.to_be_bytes()[..]);
            let mut id = vec![b'i'];
            id.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            batch.insert(id, &p.position.to_be_bytes()[..]);
        }
        self.db.apply_batch(batch).map_err(std::io::Error::other)?;
        self.db.flush().map_err(std::io::Error::other)?;
        match &self.data_file {
            Some(file) => file.sync_data(),
            None => Ok(()),
        }
    }
}

struct FileSink(std::io::BufWriter<File>);

impl Sink for FileSink {
    fn write(&mut self, group: &[Planned]) -> std::io::Result<()> {
        for p in group {
            self.0.write_all(&(p.payload.len() as u32).to_le_bytes())?;
            self.0.write_all(&p.payload)?;
        }
        self.0.flush()?;
        self.0.get_ref().sync_data()
    }
}

pub struct Floor {
    detail: String,
    commands: Option<mpsc::UnboundedSender<Command>>,
    writer: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Floor {
    /// sled alone; with `fdatasync`, its data file is also fdatasynced after every flush.
    pub fn open_sled(data_dir: &Path, fdatasync: bool) -> anyhow::Result<Floor> {
        let dir = temp_dir(data_dir, "compare-sled-")?;
        let path = dir.path().join("sled");
        let db = sled::Config::new()
            .path(&path)
            .open()
            .context("cannot open sled")?;
        // sled 0.34 keeps its log and pages in the file `db` of its dir.
        let data_file = fdatasync
            .then(|| File::open(path.join("db")).context("cannot open sled's data file"))
            .transpose()?;
        let detail = if fdatasync {
            "sled 0.34 in this process, one batch, one flush and one fdatasync of its file per group"
        } else {
            "sled 0.34 in this process, one batch and one flush (sync_file_range) per group"
        };
        Ok(Floor::start(SledSink { db, data_file }, detail.into(), dir))
    }

    pub fn open_file(data_dir: &Path) -> anyhow::Result<Floor> {
        let dir = temp_dir(data_dir, "compare-fsync-")?;
        let file = File::create(dir.path().join("log")).context("cannot create the log file")?;
        Ok(Floor::start(
            FileSink(std::io::BufWriter::with_capacity(1 << 20, file)),
            "one file in this process, one write and one fdatasync per group".into(),
            dir,
        ))
    }

    fn start(sink: impl Sink, detail: String, dir: tempfile::TempDir) -> Floor {
        let (commands, receiver) = mpsc::unbounded_channel();
        let writer = std::thread::Builder::new()
            .name("compare-floor-writer".into())
            .spawn(move || write_groups(sink, receiver))
            .expect("cannot start the writer thread");
        Floor {
            detail,
            commands: Some(commands),
            writer: Some(writer),
            _dir: dir,
        }
    }
}

fn temp_dir(data_dir: &Path, prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(data_dir)
        .with_context(|| format!("cannot make a temp dir in {}", data_dir.display()))
}

/// The writer thread: groups, checks, one write and one sync per group, then the answers.
fn write_groups(mut sink: impl Sink, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut heads: HashMap<String, u64> = HashMap::new();
    let mut next_position = 0u64;
    while let Some(first) = commands.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match commands.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        let mut planned = Vec::with_capacity(group.len());
        let mut answers = Vec::with_capacity(group.len());
        for command in group {
            let actual = heads.get(&command.stream).copied();
            if actual != command.expected {
                let refused = format!(
                    "{}: expected revision {:?}, the stream is at {actual:?}",
                    command.stream, command.expected
                );
                answers.push((command.reply, Err(refused)));
                continue;
            }
            let revision = actual.map_or(0, |r| r + 1);
            heads.insert(command.stream.clone(), revision);
            planned.push(Planned {
                position: next_position,
                stream: command.stream,
                revision,
                payload: command.payload,
            });
            next_position += 1;
            answers.push((command.reply, Ok(revision)));
        }
        let written = if planned.is_empty() {
            Ok(())
        } else {
            sink.write(&planned)
        };
        if let Err(e) = written {
            // What reached the disk is unknown: refuse this group and stop, as relledger does.
            for (reply, _) in answers {
                let _ = reply.send(Err(format!("the write failed: {e}")));
            }
            return;
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }
}

#[async_trait]
impl System for Floor {
    fn detail(&self) -> String {
        self.detail.clone()
    }

    async fn clients(&mut self, round: usize, n: usize) -> anyhow::Result<Vec<Box<dyn Appender>>> {
        let commands = self
            .commands
            .as_ref()
            .context("the floor is closed")?
            .clone();
        Ok((0..n)
            .map(|i| {
                Box::new(Client {
                    commands: commands.clone(),
                    stream: format!("compare-{round}-{i}"),
                    revision: None,
                }) as Box<dyn Appender>
            })
            .collect())
    }

    async fn close(mut self: Box<Self>) {
        drop(self.commands.take());
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

struct Client {
    commands: mpsc::UnboundedSender<Command>,
    stream: String,
    revision: Option<u64>,
}

#[async_trait]
impl Appender for Client {
    async fn append(&mut self) -> anyhow::Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command {
                stream: self.stream.clone(),
                expected: self.revision,
                payload: super::payload(),
                reply,
            })
            .map_err(|_| anyhow::anyhow!("the writer thread has stopped"))?;
        let revision = answer
            .await
            .context("the writer thread has stopped")?
            .map_err(anyhow::Error::msg)?;
        self.revision = Some(revision);
        Ok(())
    }
}
