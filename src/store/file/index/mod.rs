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
//! - a merge thread merges every [`FANOUT`] adjacent runs of one level into one run of the
//!   next level, so a log of `n` records has about `3 log4(n / 65,536)` runs, and each entry is
//!   rewritten once per level; it is a thread of its own so that a long merge never holds up
//!   the writing of a frozen memtable, which would let the writer's memtable grow past its
//!   bound (docs/decisions/0014-index-kept-over-embedded-engines.md);
//! - the runs cover the log from position 0 without gap or overlap; what lies past the last run
//!   is re-read from the record files when the log opens (`recovery::reindex_tail`), which is also
//!   how a missing or damaged run is rebuilt: the index is derived from the records and never
//!   the only copy of anything.
//!
//! Readers take the lock only to look at the memtable and to clone the list of runs; their
//! file reads happen outside it.
//!
//! The readers' questions are in `lookup`; the way entries reach runs (freezing, flushing, the
//! index and merge threads) in `flush`; merging in `merge`.

mod bloom;
pub mod comparison;
mod flush;
mod lookup;
mod memtable;
mod merge;
mod run;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;

pub(crate) use self::memtable::Entry;
use self::memtable::Memtable;
use self::run::{Range, Run};
use super::sync_dir;

/// The directory of the index runs inside the log's directory.
pub const INDEX_DIR: &str = "index";
/// A memtable is written as a run once it holds this many records, unless the log is opened
/// with another count: its memory (about 100 bytes a record) and the records a recovery
/// re-reads are bounded by it.
pub(crate) const FLUSH_RECORDS: u64 = 65_536;
/// Runs of one level merged into one of the next.
const FANOUT: usize = 4;

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
    /// Wakes the index thread after a freeze or flush; dropped to stop it (and, through it,
    /// the merge thread).
    wake: Mutex<Option<mpsc::Sender<()>>>,
    /// The index thread, then the merge thread: joined in that order.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct IndexShared {
    dir: PathBuf,
    state: RwLock<State>,
    /// Set when the index closes: a merge in progress gives up.
    stopping: AtomicBool,
    /// Held while a merge runs: one at a time (the merge thread's, or a test's).
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
        // Two threads, so that a frozen memtable is written while a merge runs (a large one
        // takes seconds): otherwise the writer's memtable, which cannot be frozen while another
        // waits, would grow past `flush_records` for as long as the merge lasts.
        let (merge_tx, merges) = mpsc::channel();
        // Runs left unmerged by the last process are merged now.
        let _ = merge_tx.send(());
        let merge_thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("relledger-merge".to_string())
                .spawn(move || shared.merge_while_woken(merges))?
        };
        let (wake_tx, wake) = mpsc::channel();
        let index_thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("relledger-index".to_string())
                .spawn(move || shared.write_while_woken(wake, merge_tx))?
        };
        let index = Index {
            shared,
            flush_records: flush_records.max(1),
            wake: Mutex::new(Some(wake_tx)),
            threads: Mutex::new(vec![index_thread, merge_thread]),
        };
        Ok((index, covered))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        drop(self.wake.lock().unwrap_or_else(|e| e.into_inner()).take());
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("an index thread panicked");
            }
        }
    }
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
    /// Tells whoever waits for a change of the list of runs. The lock orders the signal after
    /// a waiter's check of the runs, so that no change is missed between the two.
    fn runs_changed(&self) {
        let (lock, signal) = &self.changes;
        drop(lock.lock().unwrap_or_else(|e| e.into_inner()));
        signal.notify_all();
    }
}

#[cfg(test)]
mod tests;
