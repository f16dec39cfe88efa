//! Getting entries into runs: the writer adds to the memtable, a full one is frozen and the
//! index thread writes it as a run of level 0 (or a caller writes it at once, with
//! [`Index::flush`]); the merge thread then merges whatever is due (see `merge`).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use super::memtable::{Entry, Memtable, Tail};
use super::run::{self, Group, IdEntry, Range};
use super::{Frozen, Index, IndexShared};
use crate::domain::AccountId;

/// How often the index thread retries writing a frozen memtable that it could not write.
const RETRY_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

impl Index {
    /// Adds the entries of records the writer has made durable (in position order, each one
    /// after the memtable's end).
    pub(crate) fn add(&self, entries: &[Entry]) {
        self.shared.write().memtable.add(entries);
    }

    /// Adds `entries` (then empties it) and, when the memtable is full, makes the record files
    /// durable with `sync` and writes it as a run whose records' frames end at `to_bytes`: how
    /// a recovery or a restore indexes what it writes, without the writer's index thread.
    pub(crate) fn add_written(
        &self,
        entries: &mut Vec<Entry>,
        to_bytes: u64,
        sync: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        self.add(entries);
        entries.clear();
        if self.is_full() {
            sync()?;
            self.flush(to_bytes)?;
        }
        Ok(())
    }

    /// Whether the memtable is full and can be frozen ([`Index::freeze`]): no other frozen
    /// memtable is waiting to be written.
    pub(crate) fn is_full(&self) -> bool {
        let state = self.shared.read();
        state.memtable.records() >= self.flush_records && state.frozen.is_none()
    }

    /// Freezes the memtable, whose records' frames end at `to_bytes`, for the index thread to
    /// write as a run of level 0, and returns at once: the writer pays for a swap, not for the
    /// run's sorting, writing and fsync. The caller must have made both record files durable
    /// up to the memtable's end. Readers keep finding its entries throughout. Does nothing if
    /// the memtable is empty or another frozen one is still waiting.
    pub(crate) fn freeze(&self, to_bytes: u64) {
        if self.shared.freeze(to_bytes, self.flush_records) {
            self.wake();
        }
    }

    /// Writes the memtable as a run of level 0, whose records' frames end at `to_bytes`, and
    /// returns once it is written (and any memtable frozen before it). The caller must have
    /// made both record files durable up to the memtable's end.
    pub(crate) fn flush(&self, to_bytes: u64) -> io::Result<()> {
        self.shared.write_frozen()?;
        if self.shared.freeze(to_bytes, self.flush_records) {
            self.shared.write_frozen()?;
        }
        self.wake();
        Ok(())
    }

    /// Wakes the index thread: to write a frozen memtable, then the merge thread.
    fn wake(&self) {
        if let Some(wake) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = wake.send(());
        }
    }

    /// Writes a frozen memtable now, if one is waiting (for tests).
    #[cfg(test)]
    pub(crate) fn write_frozen(&self) -> io::Result<()> {
        self.shared.write_frozen()
    }

    /// Waits until the index has `count` runs (for tests; panics after a minute).
    #[cfg(test)]
    pub(crate) fn wait_for_runs(&self, count: usize) {
        let (changes, signal) = &self.shared.changes;
        let guard = changes.lock().unwrap_or_else(|e| e.into_inner());
        let (_guard, timeout) = signal
            .wait_timeout_while(guard, std::time::Duration::from_secs(60), |_| {
                self.shared.read().runs.len() < count
            })
            .unwrap_or_else(|e| e.into_inner());
        assert!(!timeout.timed_out(), "the index never reached {count} runs");
    }

    /// The runs' ranges, oldest first (for tests and tools).
    #[cfg(test)]
    pub(crate) fn run_ranges(&self) -> Vec<(u64, u64, u32)> {
        let state = self.shared.read();
        state
            .runs
            .iter()
            .map(|r| (r.range.from, r.range.to, r.range.level))
            .collect()
    }

    /// Waits until no merge is due and none is running, merging on this thread what is due
    /// (for tests and [`super::comparison`]). Returns early if a merge fails (logged).
    pub(crate) fn wait_for_merges(&self) {
        loop {
            // Under the lock: a merge the merge thread was running is over, its inputs' files
            // removed, before the list of runs says nothing is due.
            let merging = self
                .shared
                .merging
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if self.shared.next_merge().is_none() {
                return;
            }
            drop(merging);
            if !self.shared.merge_once() {
                return;
            }
        }
    }
}

impl IndexShared {
    /// Moves the memtable to the frozen slot; `false` if it is empty or the slot is taken.
    fn freeze(&self, to_bytes: u64, flush_records: u64) -> bool {
        let mut state = self.write();
        if state.frozen.is_some() || state.memtable.records() == 0 {
            return false;
        }
        let next = Memtable::new(state.memtable.to, flush_records);
        let memtable = Arc::new(std::mem::replace(&mut state.memtable, next));
        state.frozen = Some(Frozen { memtable, to_bytes });
        true
    }

    /// Writes the frozen memtable as a run, if one is waiting, and puts the run in its place.
    /// On failure it stays frozen (and read), to be written at the next attempt.
    fn write_frozen(&self) -> io::Result<()> {
        let _once = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let Some(frozen) = self.read().frozen.clone() else {
            return Ok(());
        };
        let memtable = &frozen.memtable;
        let range = Range {
            from: memtable.from,
            to: memtable.to,
            to_bytes: frozen.to_bytes,
            level: 0,
        };
        let mut ids: Vec<IdEntry> = memtable.ids.iter().map(|(id, p)| (*id, *p)).collect();
        ids.sort_unstable();
        let mut accounts: Vec<(&AccountId, &Tail)> = memtable.streams.iter().collect();
        accounts.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let groups = accounts.into_iter().map(|(account, tail)| {
            Ok(Group {
                account: account.as_str().to_string(),
                first_revision: tail.first_revision,
                positions: tail.positions.clone(),
            })
        });
        let run = run::write(
            &self.dir,
            range,
            ids.len() as u64,
            ids.into_iter().map(Ok),
            groups,
            &|| false,
        )?;
        let mut state = self.write();
        let mut runs = state.runs.as_ref().clone();
        runs.push(Arc::new(run));
        state.runs = Arc::new(runs);
        state.frozen = None;
        drop(state);
        self.runs_changed();
        Ok(())
    }

    /// The index thread: each time it is woken, writes the frozen memtable if one waits, then
    /// wakes the merge thread. While a frozen memtable cannot be written (a full disk), it
    /// retries every [`RETRY_FLUSH`]. Returns when the index is dropped, which stops the merge
    /// thread too (`merges` is dropped).
    pub(super) fn write_while_woken(&self, wake: mpsc::Receiver<()>, merges: mpsc::Sender<()>) {
        loop {
            let woken = if self.read().frozen.is_some() {
                match wake.recv_timeout(RETRY_FLUSH) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => true,
                    Err(mpsc::RecvTimeoutError::Disconnected) => false,
                }
            } else {
                wake.recv().is_ok()
            };
            if !woken || self.stopping.load(Ordering::Acquire) {
                return;
            }
            if let Err(error) = self.write_frozen() {
                tracing::error!(%error, "could not write the index's memtable as a run; retrying");
                continue;
            }
            let _ = merges.send(());
        }
    }

    /// The merge thread: each time it is woken, merges whatever is due, one merge at a time,
    /// until nothing is (or a merge fails: it is tried again after the next run is written).
    pub(super) fn merge_while_woken(&self, merges: mpsc::Receiver<()>) {
        while merges.recv().is_ok() {
            while !self.stopping.load(Ordering::Acquire) && self.next_merge().is_some() {
                if !self.merge_once() {
                    break;
                }
            }
        }
    }
}
