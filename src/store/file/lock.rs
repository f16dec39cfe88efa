//! The data dir's lock: one server (or one offline tool) at a time has a data dir open.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use fs2::FileExt;

use super::OpenError;
use crate::store::sled::{sled_path, wait_for_sled_release};

/// The name of the lock file in a data dir.
pub const LOCK_FILE: &str = "LOCK";

/// How long an open waits for a contended dir lock before it reports the dir locked.
///
/// Why wait at all: the lock is an `flock`, which belongs to the open file, and a process that
/// starts a program forks first; until the child execs (and its close-on-exec copy of the
/// descriptor goes), the child holds the lock too. A log closed in such a process (a server that
/// stopped, in a supervisor or a test harness that runs programs) can stay locked for that
/// moment after its close, and an open right then must not take it for a running server.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Creates `dir` if needed and takes its exclusive lock, held as long as the file is open;
/// waits up to [`LOCK_WAIT`] for a lock held elsewhere.
pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock, OpenError> {
    let io_error = |failure: io::Error| OpenError::Io {
        dir: dir.to_path_buf(),
        failure,
    };
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io_error)?;
    let waiting_since = std::time::Instant::now();
    while let Err(error) = lock.try_lock_exclusive() {
        if error.raw_os_error() != fs2::lock_contended_error().raw_os_error() {
            return Err(io_error(error));
        }
        if waiting_since.elapsed() >= LOCK_WAIT {
            return Err(OpenError::Locked {
                dir: dir.to_path_buf(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(DirLock {
        _file: lock,
        database: sled_path(dir),
    })
}

/// The data dir's lock, held for as long as its database is open, and released only once
/// sled has closed its database file.
///
/// sled 0.34 finishes some writes and truncations on its own thread pool, and those keep its
/// file (and sled's own lock on it) open for a moment after the last `Db` handle is dropped.
/// Releasing the dir lock before then would let the next open in this process (a restart, a
/// restore, a test that inspects the database) find sled's file still locked.
pub(crate) struct DirLock {
    /// Held, never read: the lock lasts as long as the file is open.
    _file: std::fs::File,
    /// The sled database whose file must be closed first.
    database: PathBuf,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        wait_for_sled_release(&self.database);
    }
}
