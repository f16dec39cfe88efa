//! [`MemoryLog`]: the log held in memory, the reference model of the [`Log`] contract.
//!
//! It is written to be obviously correct rather than fast: one mutex over the records and two
//! indexes, every append decided and applied under it. The durable backends are tested against
//! it (`tests/integration/log_model.rs`), and it serves tests and demos that need no disk.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::chain::{verify_chain, ChainBreak};
use super::codec::{content_digest, encode_record, seal, Place};
use super::idempotency::{find_retry_with, RecordedId};
use super::page::{paged, paged_pages, Fetched, Scan};
use super::{
    AppendOutcome, Direction, ExpectedRevision, Log, LogHead, ReadAllFilter, StoreError,
    StoredRecords,
};
use crate::clock;
use crate::domain::{AccountId, ChainHash, EventId, ProposedEvent, RecordedEvent};

/// An event log in memory. Clones share the same log (it is an `Arc` inside); everything is
/// lost when the last clone, and the last read stream, is dropped.
#[derive(Debug, Clone)]
pub struct MemoryLog {
    /// Shared with read streams, which must outlive the borrow they were created from.
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The records and their indexes. A std mutex is enough: it is never held across an await.
    state: Mutex<State>,
    /// The committed head, published after every append (for [`MemoryLog::watch_head`]).
    head: watch::Sender<LogHead>,
}

#[derive(Debug, Default)]
struct State {
    /// The log: `records[p].position == p`.
    records: Vec<RecordedEvent>,
    /// Each stream's positions, indexed by revision.
    streams: BTreeMap<AccountId, Vec<u64>>,
    /// Every recorded id: its position and content digest.
    ids: BTreeMap<EventId, (u64, [u8; 32])>,
}

impl State {
    fn recorded_id(&self, id: &EventId) -> Option<RecordedId> {
        let (position, digest) = *self.ids.get(id)?;
        let record = &self.records[position as usize];
        Some(RecordedId {
            position,
            account: record.account_id.clone(),
            revision: record.revision,
            digest,
        })
    }

    fn stream_revision(&self, account: &AccountId) -> Option<u64> {
        self.streams
            .get(account)
            .map(|positions| positions.len() as u64 - 1)
    }

    fn head(&self) -> LogHead {
        LogHead {
            next_position: self.records.len() as u64,
            last_hash: self.records.last().map_or(ChainHash::GENESIS, |r| r.hash),
        }
    }
}

impl Default for MemoryLog {
    fn default() -> Self {
        MemoryLog::new()
    }
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        let shared = Shared {
            state: Mutex::new(State::default()),
            head: watch::Sender::new(LogHead::EMPTY),
        };
        MemoryLog {
            shared: Arc::new(shared),
        }
    }

    /// Follows the committed head: the receiver sees a new value after every append.
    pub fn watch_head(&self) -> watch::Receiver<LogHead> {
        self.shared.head.subscribe()
    }

    /// Verifies the whole hash chain; returns the number of records.
    pub fn verify(&self) -> Result<u64, ChainBreak> {
        let records = self.shared.lock().records.clone();
        verify_chain(records, ChainHash::GENESIS)
    }
}

impl Shared {
    /// The state. A panic while it was held cannot have left it half changed (an append
    /// changes it only after every check), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
    ) -> Result<AppendOutcome, StoreError> {
        let mut state = self.lock();
        if let Some(outcome) = find_retry_with(account, &events, |id| Ok(state.recorded_id(id)))? {
            return Ok(outcome);
        }
        let actual = state.stream_revision(account);
        if !expected.admits(actual) {
            return Err(StoreError::WrongExpectedRevision { expected, actual });
        }
        if events.is_empty() {
            return Err(empty_batch());
        }

        let first_revision = actual.map_or(0, |r| r + 1);
        let first_position = state.records.len() as u64;
        let recorded_at = state
            .records
            .last()
            .map_or(clock::now(), |last| last.recorded_at.max(clock::now()));
        let mut prev_hash = state.head().last_hash;
        let count = events.len() as u64;
        for (offset, event) in (0u64..).zip(events) {
            let (position, revision) = (first_position + offset, first_revision + offset);
            let digest = content_digest(&event);
            let place = Place {
                position,
                account,
                revision,
                recorded_by,
            };
            let (record, _) = seal(place, recorded_at, event, prev_hash);
            prev_hash = record.hash;
            state.ids.insert(record.event.event_id, (position, digest));
            state
                .streams
                .entry(account.clone())
                .or_default()
                .push(position);
            state.records.push(record);
        }
        let head = state.head();
        self.head.send_replace(head);
        Ok(AppendOutcome::written(
            first_revision,
            first_position,
            count,
        ))
    }

    fn fetch_all(
        &self,
        page: Range<u64>,
        direction: Direction,
        filter: &ReadAllFilter,
    ) -> Vec<RecordedEvent> {
        let state = self.lock();
        let slice = &state.records[page.start as usize..page.end as usize];
        let keep = |record: &&RecordedEvent| filter.matches(record);
        match direction {
            Direction::Forwards => slice.iter().filter(keep).cloned().collect(),
            Direction::Backwards => slice.iter().rev().filter(keep).cloned().collect(),
        }
    }

    fn fetch_stream(
        &self,
        account: &AccountId,
        page: Range<u64>,
        direction: Direction,
    ) -> Vec<RecordedEvent> {
        let state = self.lock();
        let positions = &state.streams[account][page.start as usize..page.end as usize];
        let record = |p: &u64| state.records[*p as usize].clone();
        match direction {
            Direction::Forwards => positions.iter().map(record).collect(),
            Direction::Backwards => positions.iter().rev().map(record).collect(),
        }
    }
}

/// The answer to an append with no events, which the trait excludes and callers refuse first.
/// No variant fits a caller's bug; `Unavailable` at least writes nothing and says why.
pub(crate) fn empty_batch() -> StoreError {
    StoreError::Unavailable("refused an append with no events".to_string())
}

#[async_trait]
impl Log for MemoryLog {
    async fn append_by(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
    ) -> Result<AppendOutcome, StoreError> {
        self.shared.append(account, expected, events, recorded_by)
    }

    async fn find_retry(
        &self,
        account: &AccountId,
        events: &[ProposedEvent],
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let state = self.shared.lock();
        find_retry_with(account, events, |id| Ok(state.recorded_id(id)))
    }

    async fn stream_revision(&self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        Ok(self.shared.lock().stream_revision(account))
    }

    async fn accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<AccountId>, StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let state = self.shared.lock();
        let from = after.map_or(Unbounded, Excluded);
        Ok(state
            .streams
            .range::<AccountId, _>((from, Unbounded))
            .take(limit)
            .map(|(account, _)| account.clone())
            .collect())
    }

    fn read_stream(
        &self,
        account: &AccountId,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        let end = self
            .shared
            .lock()
            .stream_revision(account)
            .map_or(0, |r| r + 1);
        let scan = Scan::new(from, direction, limit, end);
        let log = Arc::clone(&self.shared);
        let account = account.clone();
        paged(scan, move |page, direction| {
            let records = log.fetch_stream(&account, page, direction);
            async move { Fetched::new(records, Ok(())) }
        })
    }

    fn read_all_pages(
        &self,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        filter: ReadAllFilter,
    ) -> BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>> {
        let scan = Scan::new(from, direction, limit, self.head().next_position);
        let log = Arc::clone(&self.shared);
        paged_pages(scan, move |page, direction| {
            let records = log.fetch_all(page, direction, &filter);
            async move { Fetched::new(records, Ok(())) }
        })
    }

    // The stored value of a record here is its envelope, `encode_record`: the same bytes
    // `seal` returned when it was appended (the model keeps the decoded record instead).
    fn stored_records(&self, from: u64, to: u64) -> StoredRecords {
        /// Records encoded per lock, so a long read never holds the log for long.
        const CHUNK: u64 = 1024;
        let to = to.min(self.head().next_position);
        let log = Arc::clone(&self.shared);
        let mut next = from;
        let pages = std::iter::from_fn(move || {
            if next >= to {
                return None;
            }
            let page = next..to.min(next.saturating_add(CHUNK));
            next = page.end;
            let state = log.lock();
            let values: Vec<_> = state.records[page.start as usize..page.end as usize]
                .iter()
                .map(|record| Ok((record.position, encode_record(record))))
                .collect();
            Some(values)
        });
        Box::new(pages.flatten())
    }

    fn head(&self) -> LogHead {
        *self.shared.head.borrow()
    }

    fn watch_head(&self) -> watch::Receiver<LogHead> {
        MemoryLog::watch_head(self)
    }
}
