//! The small stores, in one sled database in the data dir's `sled/`, a tree each: the
//! acknowledged positions of named subscriptions ([`SledCheckpoints`]), the signed checkpoints
//! of the hash chain ([`SledSignedCheckpoints`]) and the projector's checkpoint and change log
//! ([`SledSnapshots`]). The default tree holds only the data dir's format version, which the
//! log checks when it opens (`store::file`).
//!
//! The log opens the database with its data dir and hands out the stores
//! ([`FileLog::checkpoints`](crate::store::file::FileLog::checkpoints) and its siblings). Each
//! store holds the [`Database`], and with it the data dir's lock, until it is dropped, so the
//! dir stays locked while anything can still write to it.

mod checkpoints;
mod ordered;
mod signed;
mod snapshots;

use std::fs::File;
use std::path::{Path, PathBuf};

use fs2::FileExt;
use tokio::sync::watch;

pub use checkpoints::SledCheckpoints;
pub(crate) use ordered::{Applied, OrderedProgress};
pub use signed::SledSignedCheckpoints;
pub(crate) use signed::{checkpoint_key, checkpoint_value, TREE as SIGNED_TREE};
pub use snapshots::SledSnapshots;

use super::file::DirLock;
use super::{io_reason, StoreError};

/// The directory of the sled database inside a data dir, for tools that inspect it raw.
pub fn sled_path(dir: &Path) -> PathBuf {
    dir.join("sled")
}

/// A sled error as a store error: corruption is reported as such, anything else as the
/// store being unavailable, naming the small stores' database (not the log, which sled does not
/// hold) and a full disk as such.
///
/// After an I/O error in its write path sled keeps returning that error to every later call
/// until it is reopened, even once the disk has room again: the message says so, or an
/// operator who freed space would still read "the disk is full" and not know to restart.
pub(crate) fn sled_error(error: ::sled::Error) -> StoreError {
    match error {
        ::sled::Error::Corruption { .. } => StoreError::Corrupt(error.to_string()),
        ::sled::Error::Io(error) => StoreError::Unavailable(format!(
            "{}; the database takes no write after a failed one until the server restarts",
            io_reason("the small stores' database failed", &error)
        )),
        _ => StoreError::Unavailable(format!("the small stores' database failed: {error}")),
    }
}

/// The open database, and what must outlive it.
pub(crate) struct Database {
    /// The database: the format version in the default tree, a tree per small store.
    pub(crate) db: ::sled::Db,
    /// sled's database file, to `fdatasync` after sled's own flush (see [`Database::flush`]).
    file: File,
    /// Held, never read: the dir lock lasts as long as the database is open. Declared after
    /// `db` so that it is released after the database is closed (see [`DirLock`]).
    _lock: DirLock,
    /// Set, with the reason, once a write failed: sled then refuses every later write until it
    /// is reopened, even once the disk has room, so the server reports itself unhealthy on it
    /// for an orchestrator to restart it (see [`Database::watch_failure`]).
    failure: watch::Sender<Option<String>>,
    /// Never sent on: dropped last, it tells [`Database::released`] that the database is
    /// closed and the dir unlocked.
    released: watch::Sender<()>,
}

impl Database {
    /// The database `db`, opened in the data dir `dir` under its `lock`.
    pub(crate) fn new(db: ::sled::Db, dir: &Path, lock: DirLock) -> std::io::Result<Database> {
        Ok(Database {
            db,
            file: File::open(sled_path(dir).join("db"))?,
            _lock: lock,
            failure: watch::channel(None).0,
            released: watch::channel(()).0,
        })
    }

    /// Flushes the database durably: sled's flush, then an `fdatasync` of its file.
    ///
    /// On Linux sled 0.34's flush ends with `sync_file_range`, which starts and waits for the
    /// writeback of the written range but neither flushes the drive's volatile write cache nor
    /// persists the file's growing size, so after a power failure an acknowledged write could
    /// be gone. `fdatasync` does both.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.write_failed(e))?;
        self.file.sync_data().map_err(|e| {
            // What a failed `fdatasync` left on the disk is unknown until sled reopens it.
            self.failed(StoreError::Unavailable(io_reason(
                "cannot sync the database",
                &e,
            )))
        })
    }

    /// The store error for `error`, met while writing to the database: an I/O error (a full
    /// disk) is recorded as the database's failure.
    pub(crate) fn write_failed(&self, error: ::sled::Error) -> StoreError {
        match error {
            ::sled::Error::Io(_) => self.failed(sled_error(error)),
            other => sled_error(other),
        }
    }

    /// Records `error` as the database's failure, unless one is recorded already.
    fn failed(&self, error: StoreError) -> StoreError {
        self.failure.send_if_modified(|failure| {
            let first = failure.is_none();
            if first {
                *failure = Some(error.to_string());
            }
            first
        });
        error
    }

    /// Follows whether the database takes writes: `None` while it does, and the reason once a
    /// write failed (see [`Database::write_failed`]); only a restart takes writes again.
    pub(crate) fn watch_failure(&self) -> watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// Completes once the database is closed and the data dir unlocked: after every holder of
    /// it is dropped.
    pub(crate) fn released(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut released = self.released.subscribe();
        async move {
            // Nothing is ever sent: this returns when the sender is dropped with the database.
            while released.changed().await.is_ok() {}
        }
    }
}

/// Blocks until no handle in any thread of this process (or another) holds the sled database
/// in `database` (see [`sled_path`]) open: sled's lock is an `flock` on its `db` file, so
/// taking the same lock through a fresh descriptor waits for sled's last descriptor to close.
/// For tools and tests that open the database raw and must not race sled's background
/// threads when they hand it back. Returns at once if there is no database.
pub fn wait_for_sled_release(database: &Path) {
    if let Ok(file) = std::fs::File::open(database.join("db")) {
        if let Err(error) = file.lock_exclusive() {
            tracing::warn!(%error, database = %database.display(), "could not wait for sled to close its database file");
        }
    }
}
