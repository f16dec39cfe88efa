//! The last step of a group commit: make written groups durable, then (and only then) publish
//! the new head and answer the appends.
//!
//! The writer thread writes a group (one `apply_batch` and sled's flush, which puts the bytes in
//! the database file) and then needs one `fdatasync` before anyone may see or hear of it. That
//! sync is the longest wait of a group, and the writer could spend it planning and writing the
//! next one. So when appends are already waiting, the writer hands the written group to the
//! syncer thread (`relledger-syncer`) and goes on; the syncer takes every group handed to it
//! so far, syncs once for all of them, and answers them in order. When nothing is waiting
//! (one client), the writer syncs and answers the group itself, which saves the hand-off: a
//! thread wake-up on the path of every append.
//!
//! What keeps this sound:
//! - a group is handed over only after its write returned, and the sync starts after that, so
//!   the sync covers it; groups are answered in the order they were written, by one thread at
//!   a time (the writer syncs a group itself only when the syncer has nothing unanswered);
//! - once a sync or a write fails, the log is poisoned: every group not yet answered, and
//!   every later one, fails with `Unavailable`, so no acknowledged append can sit behind one
//!   that may not have reached the disk, and positions stay gapless;
//! - an answer that needs no record (a retry, a refused revision) may depend on a group still
//!   being synced, so it is answered in order behind that group, never before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, watch};

use super::Shared;
use crate::store::{AppendOutcome, LogHead, StoreError};

/// Makes everything written to the database file so far durable. A parameter of the log so
/// that tests can make it fail or hold it.
pub(crate) type SyncFile = Arc<dyn Fn(&Shared) -> Result<(), StoreError> + Send + Sync>;

/// The real [`SyncFile`]: an `fdatasync` of sled's database file (see [`Shared::sync_file`]).
pub(crate) fn sync_database(shared: &Shared) -> Result<(), StoreError> {
    shared.sync_file()
}

/// Where one append's answer goes.
pub(crate) type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

/// A group the writer has written (or found nothing to write for) but not yet answered.
pub(crate) struct Written {
    /// The head once this group is durable: what readers may see then.
    pub head: LogHead,
    /// The records the group wrote: none when every append of it was a retry or refused.
    pub records: u64,
    /// Each append of the group with the answer it gets if the group becomes durable.
    pub answers: Vec<(Reply, Result<AppendOutcome, StoreError>)>,
}

/// What the writer and the syncer share: the sync, the published head, and the poisoning.
pub(crate) struct Commits {
    /// The database, for the sync.
    shared: Arc<Shared>,
    /// The sync: [`sync_database`] outside tests.
    sync: SyncFile,
    /// Publishes the durable head to readers.
    head_tx: watch::Sender<LogHead>,
    /// Set when a write or sync failed: what reached the disk is unknown, so nothing more is
    /// acknowledged until the server restarts and recovers from what is really there.
    poisoned: Mutex<Option<String>>,
    /// Groups handed to the syncer and not yet answered. The writer answers a group itself
    /// only when this is zero, so that answers keep the order of the writes.
    in_flight: AtomicUsize,
}

impl Commits {
    pub(crate) fn new(
        shared: Arc<Shared>,
        sync: SyncFile,
        head_tx: watch::Sender<LogHead>,
    ) -> Self {
        Commits {
            shared,
            sync,
            head_tx,
            poisoned: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Why appends are refused, once a write or sync failed.
    pub(crate) fn poisoned(&self) -> Option<String> {
        self.poisoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Refuses every later append, for `error`, which left the disk in an unknown state.
    pub(crate) fn poison(&self, error: &StoreError) {
        tracing::error!(%error, "a write to the log failed; refusing further appends");
        let mut poisoned = self.poisoned.lock().unwrap_or_else(PoisonError::into_inner);
        poisoned.get_or_insert_with(|| {
            format!("appends are refused after a failed write ({error}); restart the server")
        });
    }

    /// True when every group handed to the syncer has been answered.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Counts a group about to be handed to the syncer.
    pub(crate) fn hand_over(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// Makes `groups` durable with one sync, then publishes the last one's head and answers
    /// them in order; if the log is poisoned or the sync fails, fails them all.
    pub(crate) fn commit(&self, groups: Vec<Written>) {
        let Some(head) = groups.last().map(|g| g.head) else {
            return;
        };
        if let Some(reason) = self.poisoned() {
            fail(groups, &reason);
            return;
        }
        // Groups that wrote nothing need no sync: everything written before them was synced
        // by an earlier call, since groups are committed in the order they were written.
        let wrote = groups.iter().any(|g| g.records > 0);
        let synced = if wrote {
            (self.sync)(&self.shared)
        } else {
            Ok(())
        };
        if let Err(error) = synced {
            self.poison(&error);
            let failed = format!(
                "the write failed ({error}), so the append is not acknowledged; \
                 retry it once the server has restarted"
            );
            fail(groups, &failed);
            return;
        }
        // Publish before answering: a client that reads after its answer sees its append.
        self.head_tx.send_if_modified(|published| {
            let moved = *published != head;
            *published = head;
            moved
        });
        for group in groups {
            tracing::trace!(
                appends = group.answers.len(),
                next_position = group.head.next_position,
                "committed a group"
            );
            for (reply, answer) in group.answers {
                let _ = reply.send(answer);
            }
        }
    }

    /// The syncer thread: commits what the writer hands over, as many groups per sync as are
    /// waiting, until the writer stops.
    pub(crate) fn run_syncer(&self, handed: std::sync::mpsc::Receiver<Written>) {
        while let Ok(first) = handed.recv() {
            let mut groups = vec![first];
            groups.extend(handed.try_iter());
            let count = groups.len();
            self.commit(groups);
            self.in_flight.fetch_sub(count, Ordering::AcqRel);
        }
    }
}

/// Answers every append of `groups` with `Unavailable(reason)`.
pub(crate) fn fail(groups: Vec<Written>, reason: &str) {
    for group in groups {
        for (reply, _) in group.answers {
            let _ = reply.send(Err(StoreError::Unavailable(reason.to_string())));
        }
    }
}
