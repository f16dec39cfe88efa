//! The log's two indexes, the stream index (account, revision → position) and the event-id
//! index (id → position), kept in files of their own beside the records, not in sled.
//!
//! Why not sled: sled 0.34 keeps bookkeeping in memory for every page it has ever written, so
//! one index key per event made the server's resident memory grow by about 55 bytes per event
//! whatever its cache size (docs/decisions/0007-indexes-in-run-files.md). Here the memory is
//! bounded by design: the newest records' entries in a hash map (the memtable, at most
//! [`FLUSH_RECORDS`]), and for everything older a Bloom filter (ten bits per event) and one
//! fence key per few KB of sorted entries on disk.
//!
//! The shape is a small log-structured merge tree:
//!
//! - the writer adds each group's entries to the memtable once the group is durable;
//! - a full memtable is frozen (still read) and the index thread writes it as an immutable
//!   sorted *run* of level 0 (see `run`) covering its range of positions; the writer syncs the
//!   offsets file up to that range's end before it freezes it;
//! - the same thread merges every [`FANOUT`] adjacent runs of one level into one run of the
//!   next level, so a log of `n` records has about `3 log4(n / 65,536)` runs, and each entry is
//!   rewritten once per level;
//! - the runs cover the log from position 0 without gap or overlap; what lies past the last run
//!   is re-read from the record files when the log opens (`open::reindex_tail`), which is also
//!   how a missing or damaged run is rebuilt: the index is derived from the records and never
//!   the only copy of anything.
//!
//! Readers take the lock only to look at the memtable and to clone the list of runs; their
//! file reads happen outside it.

mod bloom;
pub mod comparison;
mod memtable;
mod merge;
mod run;

use std::io;
use std::ops::Range as Revisions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;

pub(crate) use self::memtable::Entry;
use self::memtable::{Memtable, Tail};
use self::run::{Group, IdEntry, Range, Run};
use super::sync_dir;
use crate::domain::{AccountId, EventId};
use crate::store::StoreError;

/// The directory of the index runs inside the log's directory.
pub const INDEX_DIR: &str = "index";
/// A memtable is written as a run once it holds this many records, unless the log is opened
/// with another count: its memory (about 100 bytes a record) and the records a recovery
/// re-reads are bounded by it.
pub(crate) const FLUSH_RECORDS: u64 = 65_536;
/// Runs of one level merged into one of the next.
const FANOUT: usize = 4;
/// How often the index thread retries writing a frozen memtable that it could not write.
const RETRY_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// What readers and the writer share.
struct State {
    /// The runs, in position order, covering `0..memtable.from` (or `frozen.from`).
    runs: Arc<Vec<Arc<Run>>>,
    /// A full memtable waiting to be written as a run (by the index thread, or by a
    /// synchronous [`Index::flush`]): still read until the run replaces it.
    frozen: Option<Frozen>,
    /// The memtable the writer adds to.
    memtable: Memtable,
}

/// A frozen memtable and the frame bytes of the records before its end.
#[derive(Clone)]
struct Frozen {
    memtable: Arc<Memtable>,
    to_bytes: u64,
}

/// The index of one log. See the module docs.
pub(crate) struct Index {
    shared: Arc<IndexShared>,
    /// The memtable is full at this many records.
    flush_records: u64,
    /// Wakes the index thread after a freeze or flush; dropped to stop it.
    wake: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct IndexShared {
    dir: PathBuf,
    state: RwLock<State>,
    /// Set when the index closes: a merge in progress gives up.
    stopping: AtomicBool,
    /// Held while a merge runs: one at a time.
    merging: Mutex<()>,
    /// Held while the frozen memtable is written: once, by one thread.
    flushing: Mutex<()>,
    /// Signalled whenever the list of runs changes (tests wait on it).
    changes: (Mutex<()>, std::sync::Condvar),
}

/// How far the runs cover the log when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Covered {
    /// The position after the last record the runs hold.
    pub to: u64,
    /// The frame bytes of the records before `to`.
    pub to_bytes: u64,
}

fn failed(error: io::Error) -> StoreError {
    if is_damage(&error) {
        StoreError::Corrupt(format!("the log's index: {error}"))
    } else {
        StoreError::Unavailable(format!("cannot read the log's index: {error}"))
    }
}

/// The path of the index runs of the data dir `dir`.
pub fn index_path(dir: &Path) -> PathBuf {
    super::records::log_path(dir).join(INDEX_DIR)
}

impl Index {
    /// Opens the index in `dir` (see [`index_path`]), creating it if there is none: loads the
    /// runs that cover the log from position 0 and removes what no cover needs (the inputs of
    /// a merge that a crash interrupted before it removed them, unfinished files). A damaged
    /// run ends the cover there: it is removed with the runs after it, and what they held is
    /// re-indexed from the records.
    pub(crate) fn open(dir: &Path, flush_records: u64) -> io::Result<(Index, Covered)> {
        std::fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            match name.to_str().and_then(Range::parse_file_name) {
                Some((from, to, _)) => found.push((from, to, entry.path())),
                None => {
                    tracing::info!(file = %entry.path().display(), "removing an unfinished index file");
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        // From each position, the run that reaches furthest: a merge's output over its inputs.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let (mut runs, mut covered) = (Vec::new(), Covered { to: 0, to_bytes: 0 });
        let mut broken = false;
        for (from, to, path) in found {
            let keep = !broken && from == covered.to;
            let run = if keep { Some(Run::open(&path)) } else { None };
            match run {
                Some(Ok(run)) => {
                    covered = Covered {
                        to,
                        to_bytes: run.range.to_bytes,
                    };
                    runs.push(Arc::new(run));
                }
                Some(Err(error)) if is_damage(&error) => {
                    tracing::warn!(%error, "an index run is damaged; re-indexing its records");
                    broken = true;
                    std::fs::remove_file(&path)?;
                }
                // Anything else (permissions, too many open files) may pass: the open fails
                // rather than throw away a sound run and re-read its records.
                Some(Err(error)) => return Err(error),
                None => std::fs::remove_file(&path)?,
            }
        }
        sync_dir(dir)?;
        let shared = Arc::new(IndexShared {
            dir: dir.to_path_buf(),
            state: RwLock::new(State {
                runs: Arc::new(runs),
                frozen: None,
                memtable: Memtable::new(covered.to, flush_records),
            }),
            stopping: AtomicBool::new(false),
            merging: Mutex::new(()),
            flushing: Mutex::new(()),
            changes: Default::default(),
        });
        let (wake_tx, wake) = mpsc::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("relledger-index".to_string())
                .spawn(move || shared.work_while_woken(wake))?
        };
        // Runs left unmerged by the last process are merged now.
        let _ = wake_tx.send(());
        let index = Index {
            shared,
            flush_records: flush_records.max(1),
            wake: Mutex::new(Some(wake_tx)),
            thread: Mutex::new(Some(thread)),
        };
        Ok((index, covered))
    }

    /// What `ask` finds in the memtable, or else in the frozen one; if neither answers, the
    /// runs to ask next. Only the memtable is read under the lock; the runs are read after it.
    fn in_memory<T>(&self, ask: impl Fn(&Memtable) -> Option<T>) -> Result<T, Arc<Vec<Arc<Run>>>> {
        let (runs, frozen) = {
            let state = self.shared.read();
            if let Some(found) = ask(&state.memtable) {
                return Ok(found);
            }
            (Arc::clone(&state.runs), state.frozen.clone())
        };
        match frozen.and_then(|frozen| ask(&frozen.memtable)) {
            Some(found) => Ok(found),
            None => Err(runs),
        }
    }

    /// The position of the record with event id `id` among those before `end`.
    pub(crate) fn position_of(&self, id: &EventId, end: u64) -> Result<Option<u64>, StoreError> {
        let id = id.as_bytes();
        let runs = match self.in_memory(|memtable| memtable.position_of(id, end)) {
            Ok(position) => return Ok(Some(position)),
            Err(runs) => runs,
        };
        for run in runs.iter().rev().filter(|run| run.range.from < end) {
            if let Some(position) = run.position_of(id).map_err(failed)? {
                return Ok((position < end).then_some(position));
            }
        }
        Ok(None)
    }

    /// The last revision of `account` among the records before `end`.
    pub(crate) fn last_revision(
        &self,
        account: &AccountId,
        end: u64,
    ) -> Result<Option<u64>, StoreError> {
        let runs = match self.in_memory(|memtable| memtable.last_revision(account, end)) {
            Ok(revision) => return Ok(Some(revision)),
            Err(runs) => runs,
        };
        for run in runs.iter().rev().filter(|run| run.range.from < end) {
            let Some(group) = run.group(account.as_str()).map_err(failed)? else {
                continue;
            };
            if run.range.to <= end {
                return Ok(Some(group.first_revision + group.count - 1));
            }
            // A run flushed after this read began may hold records past `end`.
            let positions = run.positions(&group, 0, group.count).map_err(failed)?;
            let below = positions.partition_point(|&p| p < end) as u64;
            if let Some(last) = below.checked_sub(1) {
                return Ok(Some(group.first_revision + last));
            }
        }
        Ok(None)
    }

    /// The positions of `account`'s `revisions`, in revision order; an error names the first
    /// revision the index lacks.
    pub(crate) fn positions(
        &self,
        account: &AccountId,
        revisions: Revisions<u64>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut found =
            Vec::with_capacity(usize::try_from(revisions.end - revisions.start).unwrap_or(0));
        let (runs, frozen) = {
            let state = self.shared.read();
            state.memtable.positions(account, &revisions, &mut found);
            (Arc::clone(&state.runs), state.frozen.clone())
        };
        if let Some(frozen) = frozen {
            frozen.memtable.positions(account, &revisions, &mut found);
        }
        for run in runs.iter() {
            if found.len() as u64 == revisions.end - revisions.start {
                break;
            }
            let Some(group) = run.group(account.as_str()).map_err(failed)? else {
                continue;
            };
            let first = revisions.start.max(group.first_revision);
            let last = revisions.end.min(group.first_revision + group.count);
            if first < last {
                let positions = run
                    .positions(&group, first - group.first_revision, last - first)
                    .map_err(failed)?;
                found.extend((first..last).zip(positions));
            }
        }
        found.sort_unstable();
        for (expected, (revision, _)) in revisions.clone().zip(&found) {
            if *revision != expected {
                return Err(missing(account, expected));
            }
        }
        if (found.len() as u64) < revisions.end - revisions.start {
            return Err(missing(account, revisions.start + found.len() as u64));
        }
        Ok(found.into_iter().map(|(_, position)| position).collect())
    }

    /// Up to `limit` accounts after `after`, in id order, whose first record is before `end`.
    pub(crate) fn accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
        end: u64,
    ) -> Result<Vec<AccountId>, StoreError> {
        let (mut found, runs, frozen) = {
            let state = self.shared.read();
            let found = state.memtable.first_accounts(after, end);
            (found, Arc::clone(&state.runs), state.frozen.clone())
        };
        if let Some(frozen) = frozen {
            found.extend(frozen.memtable.first_accounts(after, end));
        }
        for run in runs.iter().filter(|run| run.range.from < end) {
            let firsts = run
                .first_accounts(after.map(AccountId::as_str), limit)
                .map_err(failed)?;
            for (account, first) in firsts {
                if first < end {
                    let account = AccountId::parse(account).map_err(|e| {
                        StoreError::Corrupt(format!("an index run holds a bad account id: {e}"))
                    })?;
                    found.push(account);
                }
            }
        }
        found.sort_unstable();
        found.truncate(limit);
        Ok(found)
    }

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

    /// Wakes the index thread: to write a frozen memtable, then to merge what is due.
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

    /// Waits until no merge is due (for tests and [`comparison`]).
    pub(crate) fn wait_for_merges(&self) {
        while self.shared.next_merge().is_some() {
            self.shared.merge_once();
        }
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        drop(self.wake.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!("the index thread panicked");
            }
        }
    }
}

fn missing(account: &AccountId, revision: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "the stream index of {account} lacks revision {revision}"
    ))
}

/// Whether `error` says a run file's content is bad (rather than that it could not be read).
fn is_damage(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

impl IndexShared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

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

    /// Tells whoever waits for a change of the list of runs. The lock orders the signal after
    /// a waiter's check of the runs, so that no change is missed between the two.
    fn runs_changed(&self) {
        let (lock, signal) = &self.changes;
        drop(lock.lock().unwrap_or_else(|e| e.into_inner()));
        signal.notify_all();
    }

    /// The index thread: each time it is woken, writes the frozen memtable if one waits, then
    /// merges whatever is due. While a frozen memtable cannot be written (a full disk), it
    /// retries every [`RETRY_FLUSH`].
    fn work_while_woken(&self, wake: mpsc::Receiver<()>) {
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
            while !self.stopping.load(Ordering::Acquire) && self.next_merge().is_some() {
                if !self.merge_once() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
