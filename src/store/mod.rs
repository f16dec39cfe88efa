//! Storage of the event log behind the [`Log`] trait.
//!
//! Everything above this module (the ledger service, the API, the audit layer) sees only the
//! trait and the small stores' traits beside it (subscription positions, snapshots, signed
//! checkpoints), so the embedded backend (`file`), the in-memory model (`memory`) and the log
//! on NATS JetStream (`jetstream`, each replica applying the stream to a `file` log of its
//! own) are interchangeable. The trait owns the log's invariants:
//!
//! - an append is all or none, checked against the expected revision atomically;
//! - positions are 0-based, gapless and increase in commit order; revisions likewise per stream;
//! - event ids are unique forever: a retry of an append returns the original outcome with
//!   `duplicate = true`, and an id reused for other content or in another account is refused;
//! - every record is chained by hash to the one before it (see [`codec`]);
//! - readers see only committed (durable) records.

pub mod chain;
pub mod checkpoints;
pub mod codec;
pub mod file;
mod idempotency;
pub mod jetstream;
pub mod memory;
mod page;
pub mod signed;
pub mod sled;
pub mod snapshots;

pub use self::file::{FileLog, LogOptions, OpenError};
pub use self::sled::{SledCheckpoints, SledSignedCheckpoints, SledSnapshots};
pub use chain::{verify_chain, ChainBreak, ChainVerifier};
pub use checkpoints::{AckedPosition, CheckpointStore, MemoryCheckpoints};
pub use memory::MemoryLog;
pub use signed::{
    MemorySignedCheckpoints, SignedCheckpoint, SignedCheckpointIter, SignedCheckpointStore,
};
pub use snapshots::{MemorySnapshots, SnapshotPosition, SnapshotStore, StoredRow};

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::domain::{
    AccountId, AccountScope, ChainHash, EventId, EventType, ProposedEvent, RecordedEvent,
};

/// How many positions (or revisions) one page of a read covers in both backends: the most
/// records a page of [`Log::read_all_pages`] holds.
pub const READ_PAGE_LEN: u64 = 256;

/// The optimistic concurrency check of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// No check.
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last revision must be exactly this.
    Exact(u64),
}

impl ExpectedRevision {
    /// Whether a stream whose last revision is `actual` (`None`: no stream) satisfies the check.
    pub fn admits(self, actual: Option<u64>) -> bool {
        match self {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => actual.is_none(),
            ExpectedRevision::StreamExists => actual.is_some(),
            ExpectedRevision::Exact(rev) => actual == Some(rev),
        }
    }
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedRevision::Any => f.write_str("any"),
            ExpectedRevision::NoStream => f.write_str("no stream"),
            ExpectedRevision::StreamExists => f.write_str("an existing stream"),
            ExpectedRevision::Exact(rev) => write!(f, "revision {rev}"),
        }
    }
}

/// Which way a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Older to newer.
    #[default]
    Forwards,
    /// Newer to older.
    Backwards,
}

/// Where an append's events landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Revision of the first event.
    pub first_revision: u64,
    /// Revision of the last event.
    pub last_revision: u64,
    /// Position of the first event.
    pub first_position: u64,
    /// Position of the last event.
    pub last_position: u64,
    /// True when the whole batch had been appended before and nothing was written now.
    pub duplicate: bool,
}

impl AppendOutcome {
    /// The outcome of writing `count` (at least one) events from `first_revision` of the
    /// stream and `first_position` of the log.
    pub fn written(first_revision: u64, first_position: u64, count: u64) -> Self {
        AppendOutcome {
            first_revision,
            last_revision: first_revision + count - 1,
            first_position,
            last_position: first_position + count - 1,
            duplicate: false,
        }
    }
}

/// Which records a global read returns. Empty sets mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadAllFilter {
    /// Only these accounts.
    pub account_ids: BTreeSet<AccountId>,
    /// Only these event types.
    pub event_types: BTreeSet<EventType>,
    /// Only accounts inside the caller's scope.
    pub scope: AccountScope,
}

impl ReadAllFilter {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &RecordedEvent) -> bool {
        self.scope.covers(&record.account_id)
            && (self.account_ids.is_empty() || self.account_ids.contains(&record.account_id))
            && (self.event_types.is_empty()
                || self
                    .event_types
                    .contains(&record.event.payload.event_type()))
    }
}

/// The committed end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    /// The position the next record will take; the number of committed records.
    pub next_position: u64,
    /// The hash of the last committed record ([`ChainHash::GENESIS`] when the log is empty).
    pub last_hash: ChainHash,
}

impl LogHead {
    /// The head of an empty log.
    pub const EMPTY: LogHead = LogHead {
        next_position: 0,
        last_hash: ChainHash::GENESIS,
    };
}

/// Why an id was refused as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdConflict {
    /// The id is recorded in another account's stream.
    OtherAccount(AccountId),
    /// The id is recorded in this account with different content.
    DifferentContent,
    /// Some ids of the batch are recorded and some are not, or not in the same order: it is not
    /// a retry of one earlier append.
    PartialRetry,
}

impl fmt::Display for IdConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdConflict::OtherAccount(account) => write!(f, "it is already used in account {account}"),
            IdConflict::DifferentContent => f.write_str("it is already used for different content"),
            IdConflict::PartialRetry => f.write_str(
                "it is already recorded, but the batch is not a retry of the append that recorded it",
            ),
        }
    }
}

/// What can go wrong in the log or the small stores beside it. The variant docs say which gRPC
/// status each becomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The expected revision did not hold (`ABORTED`).
    #[error("wrong expected revision: expected {expected}, but the stream is at {}", actual.map_or("no stream".to_string(), |r| format!("revision {r}")))]
    WrongExpectedRevision {
        /// What the append expected.
        expected: ExpectedRevision,
        /// The stream's actual last revision (`None`: no stream).
        actual: Option<u64>,
    },
    /// An event id was already used differently (`ALREADY_EXISTS`).
    #[error("event id {event_id} cannot be appended: {conflict}")]
    EventIdConflict {
        /// The id.
        event_id: EventId,
        /// How it conflicts.
        conflict: IdConflict,
    },
    /// The stored data does not decode or does not agree with itself (`DATA_LOSS`).
    #[error("the log is corrupt: {0}")]
    Corrupt(String),
    /// The backend failed to read or write (`UNAVAILABLE`). After a failed write the log refuses
    /// further appends, because it cannot know what reached the disk. The reason says which
    /// store failed: the small stores (subscription positions, signed checkpoints) fail with
    /// this too, and an operator must not read their failure as the log's.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

/// The stored values of committed records with their positions, in position order (see
/// [`Log::stored_records`]).
pub type StoredRecords =
    Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + Send + 'static>;

/// The event log.
#[async_trait]
pub trait Log: Send + Sync + 'static {
    /// Appends `events` to `account`'s stream, all or none, if `expected` holds; returns once they
    /// are durable. A batch whose ids were all appended by one earlier append of the same content
    /// to the same account returns that append's outcome with `duplicate = true`, whatever
    /// `expected` says. `events` is not empty.
    async fn append(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_by(account, expected, events, None).await
    }

    /// [`Log::append`], recording `recorded_by` (the authenticated principal) with each
    /// record, inside what the hash chain covers. A retry is answered as `append` answers it,
    /// whoever sends it: the records keep who first appended them.
    async fn append_by(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
    ) -> Result<AppendOutcome, StoreError>;

    /// The idempotency check alone, without writing: `Ok(Some(outcome))` when the batch is a
    /// retry of an earlier append, `Ok(None)` when none of its ids is recorded, and
    /// `EventIdConflict` otherwise. Lets a caller answer a retry before validating the batch
    /// against the stream's current state, which a retry may no longer satisfy.
    async fn find_retry(
        &self,
        account: &AccountId,
        events: &[ProposedEvent],
    ) -> Result<Option<AppendOutcome>, StoreError>;

    /// The last committed revision of `account`'s stream; `None` when it has no events.
    async fn stream_revision(&self, account: &AccountId) -> Result<Option<u64>, StoreError>;

    /// Accounts with at least one committed event, in id order: those after `after` (all when
    /// `None`), at most `limit` of them. A caller walks every account a page at a time, so that
    /// a ledger of a million accounts is never listed in one answer.
    async fn accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<AccountId>, StoreError>;

    /// Streams `account`'s committed events from revision `from` (inclusive; `None`: the start
    /// forwards or the end backwards), at most `limit` of them (`None`: all). Reads lazily in
    /// pages, so a long stream is never held in memory whole.
    fn read_stream(
        &self,
        account: &AccountId,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;

    /// Streams the committed global log from position `from` (inclusive; `None`: the start
    /// forwards or the end backwards), keeping records that pass `filter`, at most `limit` of
    /// them (`None`: all). Reads lazily in pages.
    fn read_all(
        &self,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        filter: ReadAllFilter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        page::one_by_one(self.read_all_pages(from, direction, limit, filter))
    }

    /// [`Log::read_all`] a page at a time: each item holds the records one page read kept
    /// (at least one, in the read's order), so a consumer that takes whole pages (a
    /// subscription catching up) moves each page once instead of each record. The pages are
    /// the backend's: how many positions one covers is not part of the contract.
    fn read_all_pages(
        &self,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        filter: ReadAllFilter,
    ) -> BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>>;

    /// The stored values of the committed records at positions `from..to` (clamped to the
    /// committed head when the call is made), in order, each with its position: exactly the
    /// bytes the backend holds (an envelope of [`codec`]: [`codec::decode_record_at`] decodes
    /// them), for verification and export, which must judge what is stored rather than a
    /// re-encoding of it. A value that cannot be read ends the iteration with an error naming
    /// its position. Blocking: call it from a blocking thread in async code.
    fn stored_records(&self, from: u64, to: u64) -> StoredRecords;

    /// Waits until this process's copy of the log holds everything the log held when the call
    /// was made. The embedded log is its own copy: nothing to wait for. A replica of a shared
    /// log (`jetstream`) may be behind another replica's appends; a check that refused an
    /// append against what this process knows asks this before the refusal stands.
    async fn catch_up(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether [`Log::catch_up`] can change anything: only for a replica of a shared log.
    fn catch_up_needed(&self) -> bool {
        false
    }

    /// The log's next position, once this copy has caught up if `position` lies past it: a
    /// position another replica of a shared log wrote a moment ago is not past the end, and
    /// a caller must not refuse it as such.
    async fn head_covering(&self, position: u64) -> Result<u64, StoreError> {
        let next_position = self.head().next_position;
        if position < next_position || !self.catch_up_needed() {
            return Ok(next_position);
        }
        self.catch_up().await?;
        Ok(self.head().next_position)
    }

    /// The committed head of the log.
    fn head(&self) -> LogHead;

    /// Follows the committed head: the receiver sees a new value whenever committed records
    /// become readable. A subscriber that has read everything below the head waits on it, so
    /// it learns of new records without the writer ever waiting for it.
    fn watch_head(&self) -> tokio::sync::watch::Receiver<LogHead>;
}

/// The reason of a store error for an I/O `error` while doing `what`. A full disk is said in
/// plain words whatever carried the error: sled passes on the error it met as its debug text
/// (`Os { code: 28, .. }`), and an operator reading the status must see at once that the fix
/// is room on the disk.
pub(crate) fn io_reason(what: &str, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::StorageFull {
        format!("{what}: the disk is full (No space left on device)")
    } else {
        format!("{what}: {error}")
    }
}

/// Runs blocking storage work on tokio's blocking pool: every async method of the durable
/// backend's stores that reads or writes files goes through here.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("a storage task failed: {e}")))?
}
