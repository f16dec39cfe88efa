//! [`FileLog`]: the durable log: an append-only record file, indexed in run files beside it.
//!
//! # Layout on disk
//!
//! A data dir holds `LOCK`, an exclusive `fs2` lock held for the life of the log so that two
//! processes never write one log (see `lock`); `log/`, the records in an append-only file of
//! checksummed frames and the offset of each position's frame (see `records`), and under
//! `log/index/` the stream and event-id indexes as immutable sorted runs (see `index`); and
//! `sled/`, the small stores' database (`store::sled`), whose default tree holds the format
//! version (see `open`); the log never reads the stores' trees.
//!
//! # Writing
//!
//! A dedicated thread, `relledger-writer`, does every write (see `writer`): appends queue on a
//! channel and are committed in groups, one write and one fsync of the record file per group,
//! then the group's index entries into the index's memtable. An append is answered only after its
//! group is synced; if a write fails, every append of the group gets `Unavailable` and the log
//! refuses all later appends until it is reopened. Opening re-indexes what the index missed
//! (see `recovery`).
//!
//! # Reading
//!
//! Readers see the committed head only ([`FileLog::watch_head`]): records written but not yet
//! synced are invisible. Reads fetch pages of records as the consumer polls, from a range fixed
//! when the read starts: a page of the global log is read inline when the page cache holds it,
//! and on tokio's blocking pool when it would wait for the disk (as stream reads always are).
//!
//! # Lifetime
//!
//! `FileLog` is a cheap handle (an `Arc` inside); clones share one log. Dropping the last
//! handle closes the append queue, waits for the writer to answer what was queued (each group
//! is already flushed) and stops it; this blocks the dropping thread for at most one group
//! commit ([`FileLog::close`] says so at the call site). Read streams keep the database (and
//! the dir lock) open until they are dropped.

mod crash;
mod gathering;
mod index;
mod lock;
mod manifest;
mod open;
mod read;
mod records;
mod recovery;
mod restore;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

/// The log's index as the writer drives it, for `bench/index-engines` only (see its docs).
#[doc(hidden)]
pub use index::comparison as index_comparison;
pub use index::index_path;
pub(crate) use lock::DirLock;
pub use lock::LOCK_FILE;
pub use manifest::MANIFEST_FILE;
pub use open::OpenError;
pub use records::{
    encode_frame, log_path, Part, FRAME_HEADER, LOG_DIR, MAX_BODY, OFFSETS_FILE, OFFSET_BYTES,
    RECORDS_FILE,
};
pub use restore::{restore, RestoreError};

use self::records::RecordFiles;
use self::writer::AppendCommand;
use super::blocking;
use super::chain::{ChainBreak, ChainVerifier};
use super::codec::{decode_record_at, SerializedEvent};
use super::page::{paged, paged_pages, Scan};
use super::sled::{
    Database, OrderedProgress, SledCheckpoints, SledSignedCheckpoints, SledSnapshots,
};
use super::{
    AppendOutcome, Direction, ExpectedRevision, Log, LogHead, ReadAllFilter, StoreError,
    StoredRecords,
};
use crate::domain::{AccountId, ChainHash, ProposedEvent, RecordedEvent, Timestamp};

/// sled's page cache limit unless configured: sled's own default, 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1024 * 1024 * 1024;

/// How a log is opened ([`FileLog::open_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// sled's page cache limit, about: bounds the small stores' share of the server's memory
    /// (mostly the projector's tree); the records and their indexes are outside it.
    pub cache_bytes: u64,
    /// How many records' index entries the index keeps in memory before it writes them as a
    /// run: bounds that memory (about 100 bytes a record) and how many records an open after a
    /// crash re-reads. Small values make many small runs (tests use them to exercise merging).
    pub index_memtable_records: u64,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            index_memtable_records: index::FLUSH_RECORDS,
        }
    }
}

/// The durable event log. See the module docs for its layout, writing and lifetime.
#[derive(Clone)]
pub struct FileLog {
    inner: Arc<Inner>,
}

/// What a read needs, and what must stay open while anything reads or writes.
pub(crate) struct Shared {
    /// The records themselves (see `records`).
    files: RecordFiles,
    /// The stream and event-id indexes of the records (see `index`).
    index: index::Index,
    /// The byte length of the committed frames in `records`, published by the writer before
    /// the head that covers them: where a read of the last committed records ends.
    committed_bytes: AtomicU64,
    /// Where a test stops the write path as a crash would (see `crash`); `None` otherwise.
    crashes: crash::Crashes,
    /// The small stores' database (its default tree holds the format version), and with it the
    /// data dir's lock. Declared last, so that the lock is released after the files and the
    /// index are closed.
    database: Arc<Database>,
}

/// One open log, shared by the handles.
struct Inner {
    /// The database, shared with the writer and the read streams.
    shared: Arc<Shared>,
    /// The writer's queue; taken (closed) on drop to stop the writer.
    commands: Option<mpsc::UnboundedSender<AppendCommand>>,
    /// The committed head, as the writer publishes it.
    head: watch::Receiver<LogHead>,
    /// Why the writer refuses appends, once a failed write made it (see
    /// [`FileLog::watch_refusal`]).
    refusal: watch::Receiver<Option<String>>,
    /// The writer thread, joined on drop; it returns the final head unless a write failed.
    writer: Option<JoinHandle<Option<LogHead>>>,
    /// The data dir, for messages.
    dir: PathBuf,
}

impl Shared {
    /// The byte length of the committed frames (at least as far as the head a reader saw).
    pub(crate) fn committed_bytes(&self) -> u64 {
        self.committed_bytes.load(Ordering::Acquire)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.commands.take());
        let Some(writer) = self.writer.take() else {
            return;
        };
        match writer.join() {
            Ok(Some(head)) => {
                // A clean close: record the head so the next open can tell a sound log from one
                // that lost or changed records while closed (see `manifest`).
                let closed = self
                    .shared
                    .database
                    .flush()
                    .and_then(|_| self.shared.reached(crash::Step::ManifestWriting))
                    .map_err(std::io::Error::other)
                    .and_then(|_| manifest::Manifest::closed(head).write(&self.dir));
                if let Err(error) = closed {
                    tracing::warn!(dir = %self.dir.display(), %error, "could not record the clean close; the next open treats the log as crashed");
                }
            }
            Ok(None) => {
                tracing::warn!(dir = %self.dir.display(), "closing a log that failed a write; the next open treats it as crashed")
            }
            Err(_) => tracing::error!(dir = %self.dir.display(), "the log writer thread panicked"),
        }
    }
}

impl std::fmt::Debug for FileLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLog")
            .field("dir", &self.inner.dir)
            .field("head", &self.head())
            .finish()
    }
}

impl FileLog {
    /// Opens the log in `dir`, creating the dir and an empty log if there is none. Takes the
    /// dir's lock first, then checks the format version and the last record (its hash, its
    /// link and its index entries); the full chain is checked by [`FileLog::verify`].
    pub fn open(dir: &Path) -> Result<FileLog, OpenError> {
        FileLog::open_with(dir, LogOptions::default())
    }

    /// [`FileLog::open`], with sled's page cache (the small stores') limited to about
    /// `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<FileLog, OpenError> {
        FileLog::open_with(
            dir,
            LogOptions {
                cache_bytes,
                ..LogOptions::default()
            },
        )
    }

    /// [`FileLog::open`] with `options`.
    pub fn open_with(dir: &Path, options: LogOptions) -> Result<FileLog, OpenError> {
        open::open(dir, Box::new(writer::write_and_sync), options)
    }

    /// Follows the committed head: the receiver sees a new value after every group commit.
    pub fn watch_head(&self) -> watch::Receiver<LogHead> {
        self.inner.head.clone()
    }

    /// Follows whether the log accepts appends: `None` while it does, and the reason once a
    /// failed write (a full disk, an I/O error) made the writer refuse every later append until
    /// the log is reopened, since what reached the disk is unknown until recovery reads it.
    /// Reads go on meanwhile. The server reports itself unhealthy on it, so that an
    /// orchestrator restarts it.
    pub fn watch_refusal(&self) -> watch::Receiver<Option<String>> {
        self.inner.refusal.clone()
    }

    /// Follows whether the small stores' database takes writes: `None` while it does, and the
    /// reason once a write to it failed (a full disk), after which sled refuses every write
    /// (acknowledgements, signed checkpoints, the projector's pages) until it is reopened, even
    /// once the disk has room. The log's appends and every read go on. The server reports
    /// itself unhealthy on it, so that an orchestrator restarts it.
    pub fn watch_small_stores(&self) -> watch::Receiver<Option<String>> {
        self.inner.shared.database.watch_failure()
    }

    /// Verifies the hash chain of every committed record; returns how many there are. Reads
    /// the whole log, blocking: call it from a blocking thread in async code.
    pub fn verify(&self) -> Result<u64, ChainBreak> {
        let end = self.head().next_position;
        let mut verifier = ChainVerifier::new(ChainHash::GENESIS);
        for entry in self.stored_records(0, end) {
            let position = verifier.count();
            let (at, value) = entry.map_err(|e| ChainBreak {
                position,
                reason: e.to_string(),
            })?;
            let record = decode_record_at(at, &value).map_err(|e| ChainBreak {
                position: at,
                reason: e.to_string(),
            })?;
            verifier.push(&record)?;
        }
        if verifier.count() != end {
            return Err(ChainBreak {
                position: verifier.count(),
                reason: "the record is missing".to_string(),
            });
        }
        Ok(verifier.count())
    }

    /// Flushes the database. Every acknowledged append is already durable; this is for a
    /// shutdown that wants sled's own bookkeeping (the projector's and subscriptions' trees) on disk too.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let database = Arc::clone(&self.inner.shared.database);
        blocking(move || database.flush()).await
    }

    /// Drops this handle. When it is the last one (read streams aside), waits for the writer to
    /// answer every queued append and stop, then closes the database; this blocks for at most
    /// one group commit. Dropping the handle does the same; `close` says it at the call site.
    pub fn close(self) {
        drop(self);
    }

    /// Completes once the database is closed and the data dir unlocked: after every handle,
    /// read stream and tree of this log is dropped. A server awaits it before it reports that
    /// it stopped, so that whoever opens the dir next finds it free.
    pub fn released(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.inner.shared.database.released()
    }

    /// The projector's checkpoint, in a tree of its own of this database (see
    /// `store::snapshots`).
    pub fn snapshots(&self) -> Result<SledSnapshots, StoreError> {
        SledSnapshots::open(Arc::clone(&self.inner.shared.database))
    }

    /// The acknowledged positions of named subscriptions, kept in this log's database (in a
    /// tree of their own, so the log's keys and recovery are untouched).
    pub fn checkpoints(&self) -> Result<SledCheckpoints, StoreError> {
        SledCheckpoints::open(Arc::clone(&self.inner.shared.database))
    }

    /// The signed checkpoints of the log's hash chain, kept in this log's database (in a tree
    /// of their own, like the subscription positions).
    pub fn signed_checkpoints(&self) -> Result<SledSignedCheckpoints, StoreError> {
        SledSignedCheckpoints::open(Arc::clone(&self.inner.shared.database))
    }

    /// Queues an append that a replicated log put in order (`store::jetstream`): decided as
    /// any append is (idempotency, then the expected revision), in queue order, and recorded
    /// at `recorded_at` or the record before it, whichever is later, never at the local
    /// clock. So every replica that queues the same appends in the same order seals the same
    /// records. Returns at once with the receiver of the answer, so that a replica applying
    /// a run of appends has the writer commit them in one group.
    pub(crate) fn queue_ordered(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<String>,
        recorded_at: Timestamp,
    ) -> Result<oneshot::Receiver<Result<AppendOutcome, StoreError>>, StoreError> {
        self.queue(account, expected, events, recorded_by, Some(recorded_at))
    }

    /// Hands an append to the writer; its answer arrives on the receiver.
    fn queue(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<String>,
        recorded_at: Option<Timestamp>,
    ) -> Result<oneshot::Receiver<Result<AppendOutcome, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let command = AppendCommand {
            account: account.clone(),
            expected,
            // Here, on the requester's task, not on the writer's one thread.
            events: events.into_iter().map(SerializedEvent::new).collect(),
            recorded_by,
            recorded_at,
            reply,
        };
        let queue = self.inner.commands.as_ref().ok_or_else(writer_stopped)?;
        queue.send(command).map_err(|_| writer_stopped())?;
        Ok(answer)
    }

    /// Where a replica's applying of a replicated log stands (`store::jetstream`), in a tree
    /// of its own of this database.
    pub(crate) fn ordered_progress(&self) -> Result<OrderedProgress, StoreError> {
        OrderedProgress::open(Arc::clone(&self.inner.shared.database))
    }

    fn committed_end(&self) -> u64 {
        self.inner.head.borrow().next_position
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Unavailable("the log writer has stopped".to_string())
}

/// Makes a directory's entries (files created, renamed or removed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[async_trait]
impl Log for FileLog {
    async fn append_by(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
    ) -> Result<AppendOutcome, StoreError> {
        let answer = self.queue(
            account,
            expected,
            events,
            recorded_by.map(str::to_string),
            None,
        )?;
        answer.await.map_err(|_| writer_stopped())?
    }

    async fn find_retry(
        &self,
        account: &AccountId,
        events: &[ProposedEvent],
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let shared = Arc::clone(&self.inner.shared);
        let (account, events, end) = (account.clone(), events.to_vec(), self.committed_end());
        blocking(move || {
            super::idempotency::find_retry_with(&account, &events, |id| {
                read::recorded_id(&shared, id, end)
            })
        })
        .await
    }

    async fn stream_revision(&self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        let shared = Arc::clone(&self.inner.shared);
        let (account, end) = (account.clone(), self.committed_end());
        blocking(move || shared.index.last_revision(&account, end)).await
    }

    async fn accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<AccountId>, StoreError> {
        let shared = Arc::clone(&self.inner.shared);
        let (after, end) = (after.cloned(), self.committed_end());
        blocking(move || shared.index.accounts(after.as_ref(), limit, end)).await
    }

    fn read_stream(
        &self,
        account: &AccountId,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        let shared = Arc::clone(&self.inner.shared);
        let (account, end) = (account.clone(), self.committed_end());
        // The stream's committed length needs a read, so it is found on the first poll.
        let length = {
            let (shared, account) = (Arc::clone(&shared), account.clone());
            blocking(move || shared.index.last_revision(&account, end))
        };
        stream::once(length)
            .flat_map(move |revision| match revision {
                Ok(revision) => {
                    let length = revision.map_or(0, |r| r + 1);
                    let scan = Scan::new(from, direction, limit, length);
                    let (shared, account) = (Arc::clone(&shared), account.clone());
                    paged(scan, move |page, direction| {
                        let (shared, loaded) = (Arc::clone(&shared), account.clone());
                        let account = account.clone();
                        let range = page.clone();
                        read::fetch(
                            move || read::load_stream(&shared, &loaded, range, direction, end),
                            move |frames| read::decode_stream(frames, &account, page, direction),
                        )
                    })
                }
                Err(error) => stream::once(async { Err(error) }).boxed(),
            })
            .boxed()
    }

    fn read_all_pages(
        &self,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        filter: ReadAllFilter,
    ) -> BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>> {
        let shared = Arc::clone(&self.inner.shared);
        let filter = Arc::new(filter);
        let end = self.committed_end();
        let scan = Scan::new(from, direction, limit, end);
        paged_pages(scan, move |page, direction| {
            let (shared, filter) = (Arc::clone(&shared), Arc::clone(&filter));
            let range = page.clone();
            read::fetch_cached_first(
                move |wait| read::load_all(&shared, range.clone(), direction, end, wait),
                move |frames| read::decode_all(frames, &filter),
            )
        })
    }

    // Reads the record files a page of frames at a time; see the trait for the contract.
    fn stored_records(&self, from: u64, to: u64) -> StoredRecords {
        /// Records read per file read.
        const CHUNK: u64 = 1024;
        let end = self.committed_end();
        let to = to.min(end);
        let shared = Arc::clone(&self.inner.shared);
        let mut next = from;
        let mut failed = false;
        let pages = std::iter::from_fn(move || {
            if next >= to || failed {
                return None;
            }
            // The files (and the dir lock) stay open while the iterator lives.
            let page = next..to.min(next.saturating_add(CHUNK));
            next = page.end;
            let mut values = Vec::new();
            let bytes = shared.committed_bytes();
            let read = read::for_each_stored(
                &shared.files,
                bytes,
                page,
                Direction::Forwards,
                end,
                |at, value| {
                    values.push(Ok((at, value.to_vec())));
                    Ok(())
                },
            );
            if let Err(error) = read {
                failed = true;
                values.push(Err(error));
            }
            Some(values)
        });
        Box::new(pages.flatten())
    }

    fn head(&self) -> LogHead {
        *self.inner.head.borrow()
    }

    fn watch_head(&self) -> watch::Receiver<LogHead> {
        FileLog::watch_head(self)
    }
}

#[cfg(test)]
mod tests;
