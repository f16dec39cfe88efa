//! The writer thread: every append goes through it, in groups that share one fsync.
//!
//! Appends arrive on a channel. The thread blocks for one, takes every other append already
//! waiting (up to [`MAX_GROUP`]; when the log is busy, a short group waits a moment for more,
//! see `gathering`), and decides each in arrival order against the committed log
//! plus what the group has planned so far: first the idempotency rule, then the expected
//! revision. The records of the appends that pass are appended to the record files with one
//! write and made durable with one `fdatasync`; their index entries then go into the index's
//! memtable (see `index`: recovery rebuilds it from the frames past the last index run). Only
//! then does the committed head move and do the appends get their answers. A request
//! therefore never waits for more than the fsync of the group it joined and the one before
//! it, and the disk sees one fsync per group, not per request.
//!
//! Being the only writer is what makes the checks race-free: nothing changes the tree between a
//! group's checks and its write.
//!
//! Each step of a group commit and of the clean close is reported to the log's crash hook
//! ([`Shared::reached`], see `crash`), where tests stop the writer as a crash would.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use super::crash::Step;
use super::gathering::{Gathering, GATHER_STEP};
use super::index::Entry;
use super::read;
use super::records::{push_frame, Part};
use super::Shared;
use crate::clock;
use crate::domain::{AccountId, ChainHash, EventId, ProposedEvent, Timestamp};
use crate::store::codec::{seal_serialized, Place, SerializedEvent};
use crate::store::idempotency::{find_retry_with, RecordedId};
use crate::store::memory::empty_batch;
use crate::store::{io_reason, AppendOutcome, ExpectedRevision, LogHead, StoreError};

/// The most appends one group commits. Bounds the batch (and the memory it holds) under a
/// flood of requests; the rest wait for the next group.
pub(crate) const MAX_GROUP: usize = 1024;

/// How much zeroed space the writer prepares past the records at a time (see
/// [`RecordFiles::prepare`](super::records::RecordFiles::prepare)): one write of zeros and one
/// `fdatasync` every couple of thousand appends of ordinary events; larger chunks stall the
/// writer longer (docs/decisions/0009-prepared-space-past-the-records.md), and preparing on a
/// thread of its own does not help, since the zeros cost the device the same whoever writes
/// them (docs/decisions/0011-no-background-preparer.md).
pub(crate) const PREPARE_CHUNK: u64 = 1024 * 1024;
/// The writer prepares the next chunk once less than this is left past the records. A group
/// larger than what is left simply grows the file, as every group did before.
pub(crate) const PREPARE_LOW: u64 = 512 * 1024;

/// What a group writes.
pub(crate) struct Group {
    /// The byte offset in the records file where the group's frames start.
    pub at: u64,
    /// The frames of the group's records.
    pub frames: Vec<u8>,
    /// The position of the group's first record.
    pub first_position: u64,
    /// The offsets file's entries for the group's records.
    pub offsets: Vec<u8>,
}

/// How a group reaches the disk. A parameter of the writer so that tests can make it fail.
pub(crate) type WriteGroup = Box<dyn FnMut(&Shared, Group) -> Result<(), StoreError> + Send>;

/// A failed write to the record files.
fn write_error(error: std::io::Error) -> StoreError {
    StoreError::Unavailable(io_reason("cannot write the log's records", &error))
}

/// What a failed write's error says, without the prefix its status repeats.
fn cause(error: &StoreError) -> String {
    match error {
        StoreError::Unavailable(reason) | StoreError::Corrupt(reason) => reason.clone(),
        other => other.to_string(),
    }
}

/// The real [`WriteGroup`]: the group's frames and offsets in one write each and one
/// `fdatasync` of the records file for all of it. The writer indexes the group only after this
/// returns, so that no index entry ever points at a frame that might not survive a crash.
pub(crate) fn write_and_sync(shared: &Shared, group: Group) -> Result<(), StoreError> {
    let files = &shared.files;
    files
        .write_frames(group.at, &group.frames)
        .map_err(write_error)?;
    shared.reached(Step::FramesWritten)?;
    files
        .write_offsets(group.first_position, &group.offsets)
        .map_err(write_error)?;
    shared.reached(Step::OffsetsWritten)?;
    files.sync_records().map_err(write_error)?;
    shared.reached(Step::RecordsSynced)
}

/// One append on its way to the writer.
pub(crate) struct AppendCommand {
    pub account: AccountId,
    pub expected: ExpectedRevision,
    /// Serialized by the requester, so that the writer's one thread does not (see
    /// [`SerializedEvent`]).
    pub events: Vec<SerializedEvent>,
    /// The principal that appends, recorded with each record.
    pub recorded_by: Option<String>,
    /// When the append was recorded, decided elsewhere: a replica applying an append that a
    /// replicated log ordered records the time the log gave it (no earlier than the record
    /// before it), so that every replica seals the same bytes. `None`: the writer's clock.
    pub recorded_at: Option<Timestamp>,
    /// Where the answer goes; the append is still written if the requester has gone away.
    pub reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// The state the writer thread owns.
pub(crate) struct Writer {
    /// The tree, and the data dir lock that must outlive every write.
    pub shared: Arc<Shared>,
    /// Appends to commit; closed when the last `FileLog` handle is dropped.
    pub commands: mpsc::UnboundedReceiver<AppendCommand>,
    /// Publishes the committed head to readers, after each group's flush.
    pub head_tx: watch::Sender<LogHead>,
    /// The committed head: everything before it is flushed.
    pub head: LogHead,
    /// The newest `recorded_at`: a group never records an earlier one, so `recorded_at` never
    /// decreases along positions even when the system clock steps back.
    pub last_recorded_at: Timestamp,
    /// The last committed revision of each stream seen so far (`None`: no stream), so that the
    /// expected-revision check costs no read after the first append to a stream.
    pub stream_heads: HashMap<AccountId, Option<u64>>,
    /// Set, with the reason, when a group's write failed: what reached the disk is unknown, so
    /// no later append is accepted until the server restarts and recovers from what is really
    /// there. A watch, so that the server can report itself unhealthy on it (see
    /// [`FileLog::watch_refusal`](super::FileLog::watch_refusal)).
    pub refusal: watch::Sender<Option<String>>,
    /// Writes a group: [`write_and_sync`] outside tests.
    pub write: WriteGroup,
    /// The byte length of the committed frames.
    pub bytes: u64,
    /// Where the space prepared past the records ends (see [`Writer::prepare_ahead`]).
    pub prepared: u64,
    /// After a failure to prepare space, the records' length at which it is tried again.
    pub prepare_again_at: u64,
    /// Whether a short group waits for more appends (see `gathering`).
    pub gathering: Gathering,
}

/// What a group has planned so far, on top of the committed log.
struct Plan {
    /// The index entries of the planned records.
    index: Vec<Entry>,
    /// The frames of the planned records, and their offsets.
    frames: Vec<u8>,
    offsets: Vec<u8>,
    /// The records planned, for the log and its head.
    records: u64,
    next_position: u64,
    /// The byte length of the records file once the planned frames are written.
    bytes: u64,
    last_hash: ChainHash,
    recorded_at: Timestamp,
    /// The ids the group has planned to record.
    ids: HashMap<EventId, RecordedId>,
    /// The last revision of each stream the group has appended to.
    heads: HashMap<AccountId, u64>,
}

impl Writer {
    /// Runs until every `FileLog` handle is gone and every queued append is answered. Returns
    /// the final committed head, or `None` when a failed write poisoned the log (what is on disk
    /// is then unknown, and the next open must treat the log as crashed).
    pub(crate) fn run(mut self) -> Option<LogHead> {
        while let Some(first) = self.commands.blocking_recv() {
            let mut group = vec![first];
            self.take_waiting(&mut group);
            // Measured, not counted in steps: on busy cores a sleep can end late.
            let held = Instant::now();
            while self.gathering.should_wait(group.len(), held.elapsed()) {
                std::thread::sleep(GATHER_STEP);
                self.take_waiting(&mut group);
            }
            self.gathering.committed(group.len());
            self.commit_group(group);
        }
        tracing::debug!(
            next_position = self.head.next_position,
            "the log writer has stopped"
        );
        if self.refusal.borrow().is_some() {
            return None;
        }
        // A clean close writes the rest of the index as a run, so the next open re-reads
        // nothing (and a record changed while the log was closed is the audit's to find).
        // Stopped at a step here, the writer dies with the log open: no clean close is
        // recorded, and the next open recovers.
        let shared = &self.shared;
        let synced = shared.files.sync_offsets();
        if synced.is_ok() {
            shared.reached(Step::OffsetsSynced).ok()?;
        }
        match synced.and_then(|()| shared.index.flush(self.bytes)) {
            Ok(()) => shared.reached(Step::RunWritten).ok()?,
            Err(error) => {
                tracing::warn!(%error, "could not write the index at close; the next open re-reads the records past its last run");
            }
        }
        Some(self.head)
    }

    /// Adds the appends waiting on the channel to `group`, up to [`MAX_GROUP`].
    fn take_waiting(&mut self, group: &mut Vec<AppendCommand>) {
        while group.len() < MAX_GROUP {
            match self.commands.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
    }

    fn commit_group(&mut self, group: Vec<AppendCommand>) {
        let refused = self.refusal.borrow().clone();
        if let Some(reason) = refused {
            for command in group {
                let _ = command
                    .reply
                    .send(Err(StoreError::Unavailable(reason.clone())));
            }
            return;
        }
        let mut plan = Plan {
            index: Vec::new(),
            frames: Vec::new(),
            offsets: Vec::new(),
            records: 0,
            next_position: self.head.next_position,
            bytes: self.bytes,
            last_hash: self.head.last_hash,
            // An ordered append's time is its own (see `AppendCommand::recorded_at`).
            recorded_at: match group.first().and_then(|c| c.recorded_at) {
                Some(_) => self.last_recorded_at,
                None => self.last_recorded_at.max(clock::now()),
            },
            ids: HashMap::new(),
            heads: HashMap::new(),
        };
        let answers: Vec<_> = group
            .into_iter()
            .map(|c| {
                let answer = self.plan_append(
                    &mut plan,
                    &c.account,
                    c.expected,
                    c.events,
                    (c.recorded_by.as_deref(), c.recorded_at),
                );
                (c.reply, answer)
            })
            .collect();

        let committed = plan.records > 0;
        if committed {
            let group = Group {
                at: self.bytes,
                frames: plan.frames,
                first_position: self.head.next_position,
                offsets: plan.offsets,
            };
            let writing = std::time::Instant::now();
            let written = (self.write)(&self.shared, group);
            metrics::histogram!(crate::metrics::FSYNC_DURATION)
                .record(writing.elapsed().as_secs_f64());
            let written = written.and_then(|()| {
                // Indexed before the head moves: a reader that sees the head finds the entries.
                self.shared.index.add(&plan.index);
                self.shared.reached(Step::Indexed)
            });
            if let Err(error) = written {
                self.refuse(&error);
                let failed = format!(
                    "the write failed ({}), so the append is not acknowledged; \
                     retry it once the server has restarted",
                    cause(&error)
                );
                for (reply, _) in answers {
                    let _ = reply.send(Err(StoreError::Unavailable(failed.clone())));
                }
                return;
            }
            self.head = LogHead {
                next_position: plan.next_position,
                last_hash: plan.last_hash,
            };
            self.bytes = plan.bytes;
            // Before the head: a reader that sees the head finds the frames' end at least this far.
            self.shared
                .committed_bytes
                .store(plan.bytes, Ordering::Release);
            self.last_recorded_at = plan.recorded_at;
            self.stream_heads
                .extend(plan.heads.into_iter().map(|(a, r)| (a, Some(r))));
            self.head_tx.send_replace(self.head);
            metrics::histogram!(crate::metrics::GROUP_APPENDS).record(answers.len() as f64);
            metrics::gauge!(crate::metrics::HEAD_POSITION).set(self.head.next_position as f64);
            metrics::gauge!(crate::metrics::LOG_BYTES).set(self.bytes as f64);
            tracing::trace!(
                appends = answers.len(),
                records = plan.records,
                next_position = self.head.next_position,
                "committed a group"
            );
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
        if !committed {
            return;
        }
        if let Err(error) = self.shared.reached(Step::Answered) {
            self.refuse(&error);
            return;
        }
        if self.shared.index.is_full() {
            self.flush_index();
        }
        self.prepare_ahead();
    }

    /// Refuses every later append after `error`, a failed write: what reached the disk is
    /// unknown until a recovery reads it, so only a restart takes appends again.
    fn refuse(&mut self, error: &StoreError) {
        tracing::error!(%error, "a write to the log failed; refusing further appends");
        let reason = format!(
            "appends are refused after a failed write ({}); restart the server",
            cause(error)
        );
        self.refusal.send_replace(Some(reason));
    }

    /// Keeps zeroed space prepared past the records, so that a group commit's `fdatasync`
    /// writes the group's data and not also the file's new length (see
    /// [`RecordFiles::prepare`](super::records::RecordFiles::prepare)). Done after a group's
    /// answers went out: the appends waiting in the next group wait for it instead, about a
    /// write and an `fdatasync` of [`PREPARE_CHUNK`] every couple of thousand appends. A failure (a
    /// full disk) costs nothing written: groups grow the file as they would without it, and
    /// it is tried again [`PREPARE_CHUNK`] bytes of records later.
    fn prepare_ahead(&mut self) {
        if self.prepared.saturating_sub(self.bytes) >= PREPARE_LOW
            || self.bytes < self.prepare_again_at
        {
            return;
        }
        let from = self.prepared.max(self.bytes);
        match self.shared.files.prepare(from, from + PREPARE_CHUNK) {
            Ok(()) => {
                self.prepared = from + PREPARE_CHUNK;
                if let Err(error) = self.shared.reached(Step::SpacePrepared) {
                    self.refuse(&error);
                }
            }
            Err(error) => {
                self.prepare_again_at = self.bytes + PREPARE_CHUNK;
                tracing::warn!(%error, "could not prepare space past the log's records; appends go on, growing the file");
            }
        }
    }

    /// Hands the index's full memtable to the index thread, which writes it as a run, once the
    /// offsets file is durable up to its end (a run must never cover offsets a crash could
    /// lose). Done after the answers went out, and costs the writer one `fdatasync` of the
    /// offsets, not the run's writing. A failed sync leaves the memtable as it is (the next
    /// group retries) and costs nothing acknowledged: the records are durable, and the index
    /// is rebuilt from them at the next open.
    fn flush_index(&mut self) {
        match self.shared.files.sync_offsets() {
            Ok(()) => {
                if let Err(error) = self.shared.reached(Step::OffsetsSynced) {
                    self.refuse(&error);
                    return;
                }
                self.shared.index.freeze(self.bytes)
            }
            Err(error) => {
                tracing::error!(%error, "could not sync the offsets file to write the index; retrying after the next group");
            }
        }
    }

    /// Decides one append of the group and, if it passes, adds its records to the plan.
    fn plan_append(
        &mut self,
        plan: &mut Plan,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<SerializedEvent>,
        (recorded_by, recorded_at): (Option<&str>, Option<Timestamp>),
    ) -> Result<AppendOutcome, StoreError> {
        let committed_end = self.head.next_position;
        let shared = &self.shared;
        let retry = find_retry_with(account, &events, |id| match plan.ids.get(id) {
            Some(planned) => Ok(Some(planned.clone())),
            None => read::recorded_id(shared, id, committed_end),
        })?;
        if let Some(outcome) = retry {
            return Ok(outcome);
        }
        let actual = match plan.heads.get(account) {
            Some(revision) => Some(*revision),
            None => self.committed_revision(account)?,
        };
        if !expected.admits(actual) {
            return Err(StoreError::WrongExpectedRevision { expected, actual });
        }
        if events.is_empty() {
            return Err(empty_batch());
        }

        // Only an append that writes moves the time on: which appends share a group differs
        // from one replica to the next, what each writes does not.
        if let Some(at) = recorded_at {
            plan.recorded_at = plan.recorded_at.max(at);
        }
        let first_revision = actual.map_or(0, |r| r + 1);
        let first_position = plan.next_position;
        let parts = events.len();
        let count = parts as u64;
        for (offset, event) in (0u64..).zip(events) {
            let (position, revision) = (first_position + offset, first_revision + offset);
            let digest = event.digest();
            let event_id = std::borrow::Borrow::<ProposedEvent>::borrow(&event).event_id;
            let place = Place {
                position,
                account,
                revision,
                recorded_by,
            };
            let (record, value) = seal_serialized(place, plan.recorded_at, event, plan.last_hash);
            // The append's last frame says so: recovery keeps an append only if it is whole.
            let part = Part::of(offset as usize, parts);
            push_frame(
                &value,
                part,
                &mut plan.bytes,
                &mut plan.frames,
                &mut plan.offsets,
            );
            plan.index.push(Entry {
                position,
                account: account.clone(),
                revision,
                id: event_id,
            });
            plan.ids.insert(
                event_id,
                RecordedId {
                    position,
                    account: account.clone(),
                    revision,
                    digest,
                },
            );
            plan.last_hash = record.hash;
        }
        plan.records += count;
        plan.next_position += count;
        plan.heads
            .insert(account.clone(), first_revision + count - 1);
        Ok(AppendOutcome::written(
            first_revision,
            first_position,
            count,
        ))
    }

    /// The committed last revision of `account`, from the cache or, the first time, the tree.
    fn committed_revision(&mut self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        if let Some(revision) = self.stream_heads.get(account) {
            return Ok(*revision);
        }
        let revision = self
            .shared
            .index
            .last_revision(account, self.head.next_position)?;
        self.stream_heads.insert(account.clone(), revision);
        Ok(revision)
    }
}
