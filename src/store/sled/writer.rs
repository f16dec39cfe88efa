//! The writer thread: every append goes through it, in groups that share one fsync.
//!
//! Appends arrive on a channel. The thread blocks for one, takes every other append already
//! waiting (up to [`MAX_GROUP`]), and decides each in arrival order against the log as written
//! so far plus what the group has planned: first the idempotency rule, then the expected
//! revision. The records of the appends that pass go into one `sled::Batch`, applied
//! atomically and written to the database file once. The group then needs one fsync before
//! the head moves and the appends get their answers (`durable`): the writer does it itself
//! when nothing else is waiting, and otherwise hands the group to the syncer thread and plans
//! the next group during that fsync. The disk sees one fsync per group (or fewer), not per
//! request.
//!
//! Being the only writer is what makes the checks race-free: nothing changes the tree between a
//! group's checks and its write. The writer plans on top of groups written but not yet synced,
//! and their answers wait for that sync: a failed one fails every group behind it.

use std::collections::HashMap;
use std::sync::Arc;

use ::sled::Batch;
use tokio::sync::mpsc;

use super::durable::{fail, Commits, Reply, Written};
use super::read::{self, sled_error};
use super::{keys, Shared};
use crate::domain::{AccountId, ChainHash, EventId, ProposedEvent, Timestamp};
use crate::store::codec::{content_digest, seal};
use crate::store::idempotency::{find_retry_with, RecordedId};
use crate::store::memory::{empty_batch, system_now};
use crate::store::{AppendOutcome, ExpectedRevision, LogHead, StoreError};

/// The most appends one group commits. Bounds the batch (and the memory it holds) under a
/// flood of requests; the rest wait for the next group.
pub(crate) const MAX_GROUP: usize = 1024;

/// How a group reaches the database file, not yet durably: a parameter of the writer so that
/// tests can make it fail or hold it.
pub(crate) type WriteGroup = Box<dyn FnMut(&Shared, Batch) -> Result<(), StoreError> + Send>;

/// The real [`WriteGroup`]: the group as one atomic batch, then sled's flush, which writes it
/// to the database file. The `fdatasync` that makes it durable follows in `durable`.
pub(crate) fn apply_and_write(shared: &Shared, batch: Batch) -> Result<(), StoreError> {
    shared.db.apply_batch(batch).map_err(sled_error)?;
    shared.db.flush().map_err(sled_error).map(|_| ())
}

/// One append on its way to the writer.
pub(crate) struct AppendCommand {
    pub account: AccountId,
    pub expected: ExpectedRevision,
    pub events: Vec<ProposedEvent>,
    /// Where the answer goes; the append is still written if the requester has gone away.
    pub reply: Reply,
}

/// The state the writer thread owns.
pub(crate) struct Writer {
    /// The tree, and the data dir lock that must outlive every write.
    pub shared: Arc<Shared>,
    /// Appends to commit; closed when the last `SledLog` handle is dropped.
    pub commands: mpsc::UnboundedReceiver<AppendCommand>,
    /// The sync, the published head and the poisoning, shared with the syncer thread.
    pub commits: Arc<Commits>,
    /// The head of the log as written: everything before it is in the tree, and durable once
    /// the groups handed to the syncer are synced. Readers see `commits`' published head.
    pub head: LogHead,
    /// The newest `recorded_at`: a group never records an earlier one, so `recorded_at` never
    /// decreases along positions even when the system clock steps back.
    pub last_recorded_at: Timestamp,
    /// The last written revision of each stream seen so far (`None`: no stream), so that the
    /// expected-revision check costs no read after the first append to a stream.
    pub stream_heads: HashMap<AccountId, Option<u64>>,
    /// Writes a group: [`apply_and_write`] outside tests.
    pub write: WriteGroup,
}

/// What a group has planned so far, on top of the written log.
struct Plan {
    batch: Batch,
    /// The records planned, for the log and its head.
    records: u64,
    next_position: u64,
    last_hash: ChainHash,
    recorded_at: Timestamp,
    /// The ids the group has planned to record.
    ids: HashMap<EventId, RecordedId>,
    /// The last revision of each stream the group has appended to.
    heads: HashMap<AccountId, u64>,
}

impl Writer {
    /// Runs until every `SledLog` handle is gone and every queued append is answered. Returns
    /// the final head, or `None` when a failed write or sync poisoned the log (what is on disk
    /// is then unknown, and the next open must treat the log as crashed).
    pub(crate) fn run(mut self) -> Option<LogHead> {
        let (handed, to_sync) = std::sync::mpsc::channel();
        let commits = Arc::clone(&self.commits);
        let syncer = std::thread::Builder::new()
            .name("relledger-syncer".to_string())
            .spawn(move || commits.run_syncer(to_sync));
        // Without a syncer thread the writer syncs every group itself, as it does when idle.
        let (handed, syncer) = match syncer {
            Ok(syncer) => (Some(handed), Some(syncer)),
            Err(error) => {
                tracing::warn!(%error, "no syncer thread; the writer syncs every group itself");
                (None, None)
            }
        };
        while let Some(first) = self.commands.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match self.commands.try_recv() {
                    Ok(command) => group.push(command),
                    Err(_) => break,
                }
            }
            if let Some(written) = self.write_group(group) {
                self.finish(written, handed.as_ref());
            }
        }
        drop(handed);
        if syncer.is_some_and(|s| s.join().is_err()) {
            tracing::error!("the log syncer thread panicked");
            return None;
        }
        tracing::debug!(
            next_position = self.head.next_position,
            "the log writer has stopped"
        );
        self.commits.poisoned().is_none().then_some(self.head)
    }

    /// Gets a written group synced and answered: here, when the syncer has nothing unanswered
    /// and no append is waiting (so there is nothing to overlap the sync with, and the
    /// hand-off would only add a thread wake-up), else by the syncer while this thread goes on
    /// to the next group.
    fn finish(&self, written: Written, syncer: Option<&std::sync::mpsc::Sender<Written>>) {
        let idle = self.commits.idle();
        match syncer {
            Some(syncer) if !(idle && self.commands.is_empty()) => {
                self.commits.hand_over();
                if let Err(unsent) = syncer.send(written) {
                    // The syncer is gone (it panicked): sync here, behind what it left.
                    self.commits.commit(vec![unsent.0]);
                }
            }
            _ => self.commits.commit(vec![written]),
        }
    }

    /// Plans a group against the written log and writes its records, if any. Returns the
    /// group to sync and answer, or `None` when it was answered already: refused because the
    /// log is poisoned, or failed with its write (which poisons the log).
    fn write_group(&mut self, group: Vec<AppendCommand>) -> Option<Written> {
        if let Some(reason) = self.commits.poisoned() {
            for command in group {
                let _ = command
                    .reply
                    .send(Err(StoreError::Unavailable(reason.clone())));
            }
            return None;
        }
        let mut plan = Plan {
            batch: Batch::default(),
            records: 0,
            next_position: self.head.next_position,
            last_hash: self.head.last_hash,
            recorded_at: self.last_recorded_at.max(system_now()),
            ids: HashMap::new(),
            heads: HashMap::new(),
        };
        let answers: Vec<_> = group
            .into_iter()
            .map(|c| {
                let answer = self.plan_append(&mut plan, &c.account, c.expected, c.events);
                (c.reply, answer)
            })
            .collect();
        let records = plan.records;
        if records > 0 {
            if let Err(error) = (self.write)(&self.shared, plan.batch) {
                self.commits.poison(&error);
                let failed = format!(
                    "the write failed ({error}), so the append is not acknowledged; \
                     retry it once the server has restarted"
                );
                fail(
                    vec![Written {
                        head: self.head,
                        records,
                        answers,
                    }],
                    &failed,
                );
                return None;
            }
            self.head = LogHead {
                next_position: plan.next_position,
                last_hash: plan.last_hash,
            };
            self.last_recorded_at = plan.recorded_at;
            self.stream_heads
                .extend(plan.heads.into_iter().map(|(a, r)| (a, Some(r))));
        }
        Some(Written {
            head: self.head,
            records,
            answers,
        })
    }

    /// Decides one append of the group and, if it passes, adds its records to the plan.
    fn plan_append(
        &mut self,
        plan: &mut Plan,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let committed_end = self.head.next_position;
        let db = &self.shared.db;
        let retry = find_retry_with(account, &events, |id| match plan.ids.get(id) {
            Some(planned) => Ok(Some(planned.clone())),
            None => read::recorded_id(db, id, committed_end),
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

        let first_revision = actual.map_or(0, |r| r + 1);
        let first_position = plan.next_position;
        let count = events.len() as u64;
        for (offset, event) in (0u64..).zip(events) {
            let (position, revision) = (first_position + offset, first_revision + offset);
            let digest = content_digest(&event);
            let event_id = event.event_id;
            let (record, value) = seal(
                position,
                account,
                revision,
                plan.recorded_at,
                event,
                plan.last_hash,
            );
            plan.batch.insert(&keys::record_key(position)[..], value);
            plan.batch.insert(
                keys::stream_key(account, revision),
                &keys::position_value(position)[..],
            );
            let id_value = keys::event_id_value(position, &digest);
            plan.batch
                .insert(&keys::event_id_key(&event_id)[..], &id_value[..]);
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
        let revision = read::stream_revision(&self.shared.db, account, self.head.next_position)?;
        self.stream_heads.insert(account.clone(), revision);
        Ok(revision)
    }
}
