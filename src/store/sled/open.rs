//! Opening a data dir: its lock, its format version, and the recovery of the log's head.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::sled::Db;
use fs2::FileExt;
use tokio::sync::{mpsc, watch};

use super::manifest::Manifest;
use super::writer::{WriteGroup, Writer};
use super::{keys, read, Inner, Shared, SledLog};
use crate::domain::{ChainHash, Timestamp};
use crate::store::codec::{content_digest, decode_record_at};
use crate::store::{LogHead, StoreError};

/// The name of the lock file in a data dir.
pub const LOCK_FILE: &str = "LOCK";

/// The directory of the sled database inside a data dir, for tools that inspect it raw.
pub fn sled_path(dir: &Path) -> PathBuf {
    dir.join("sled")
}

/// Why a data dir could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another `SledLog` in this one) holds the dir's lock.
    #[error("data dir {} is locked by another relledger process", dir.display())]
    Locked {
        /// The data dir.
        dir: PathBuf,
    },
    /// The dir holds something that is not a sound log: sled refuses it, its format version
    /// is unknown, or its last record or indexes do not check.
    #[error("data dir {} is corrupt: {reason}", dir.display())]
    Corrupt {
        /// The data dir.
        dir: PathBuf,
        /// What does not check.
        reason: String,
    },
    /// The dir could not be created, locked or read.
    #[error("cannot open data dir {}: {source}", dir.display())]
    Io {
        /// The data dir.
        dir: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// Opens the log in `dir` (see [`SledLog::open`]), writing groups with `write`.
pub(super) fn open(dir: &Path, write: WriteGroup, cache_bytes: u64) -> Result<SledLog, OpenError> {
    let io_error = |source: io::Error| OpenError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let corrupt = |reason: String| OpenError::Corrupt {
        dir: dir.to_path_buf(),
        reason,
    };
    let lock = lock_dir(dir)?;
    let manifest = Manifest::read(dir).map_err(corrupt)?;
    let db = ::sled::Config::new()
        .path(sled_path(dir))
        .cache_capacity(cache_bytes)
        .open()
        .map_err(|e| match e {
            ::sled::Error::Io(source) => io_error(source),
            other => corrupt(other.to_string()),
        })?;
    if let Some(manifest) = &manifest {
        // Checked before `check_format`, which would initialise an empty database.
        manifest.check_not_empty(db.is_empty()).map_err(corrupt)?;
    }
    check_format(&db).map_err(corrupt)?;
    let recovered = recover(&db).map_err(corrupt)?;
    if let Some(manifest) = &manifest {
        manifest.check_head(recovered.head).map_err(corrupt)?;
    }
    // sled creates its files without syncing their directory entries: a new log's files must
    // survive a power failure as much as the records in them (the manifest's write below
    // syncs the data dir itself).
    std::fs::File::open(sled_path(dir))
        .and_then(|database| database.sync_all())
        .map_err(io_error)?;
    // From here until a clean close, the dir counts as crashed if the process dies.
    Manifest::open().write(dir).map_err(io_error)?;

    let database_file = std::fs::File::open(sled_path(dir).join("db")).map_err(io_error)?;
    let shared = Arc::new(Shared {
        db,
        database_file,
        _lock: lock,
        released: watch::channel(()).0,
    });
    let (commands, queue) = mpsc::unbounded_channel();
    let (head_tx, head) = watch::channel(recovered.head);
    let writer = Writer {
        shared: Arc::clone(&shared),
        commands: queue,
        head_tx,
        head: recovered.head,
        last_recorded_at: recovered.last_recorded_at,
        stream_heads: Default::default(),
        poisoned: None,
        write,
    };
    let writer = std::thread::Builder::new()
        .name("relledger-writer".to_string())
        .spawn(move || writer.run())
        .map_err(io_error)?;
    tracing::info!(
        dir = %dir.display(),
        next_position = recovered.head.next_position,
        "opened the event log"
    );
    let inner = Inner {
        shared,
        commands: Some(commands),
        head,
        writer: Some(writer),
        dir: dir.to_path_buf(),
    };
    Ok(SledLog {
        inner: Arc::new(inner),
    })
}

/// Creates `dir` if needed and takes its exclusive lock, held as long as the file is open.
pub(super) fn lock_dir(dir: &Path) -> Result<DirLock, OpenError> {
    let io_error = |source: io::Error| OpenError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io_error)?;
    if let Err(error) = lock.try_lock_exclusive() {
        if error.raw_os_error() == fs2::lock_contended_error().raw_os_error() {
            return Err(OpenError::Locked {
                dir: dir.to_path_buf(),
            });
        }
        return Err(io_error(error));
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
pub(super) struct DirLock {
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

/// Writes the format version into a new database, and refuses one with another version or
/// with data but no version.
pub(super) fn check_format(db: &Db) -> Result<(), String> {
    match db.get(keys::META).map_err(|e| e.to_string())? {
        Some(version) if version.as_ref() == [keys::FORMAT_V1] => Ok(()),
        Some(version) => Err(format!(
            "its format version is {version:?}, and this relledger reads only version {}",
            keys::FORMAT_V1
        )),
        None if db.is_empty() => {
            db.insert(keys::META, &[keys::FORMAT_V1][..])
                .map_err(|e| e.to_string())?;
            db.flush().map_err(|e| e.to_string())?;
            Ok(())
        }
        None => Err("it holds data but no format version".to_string()),
    }
}

/// The reason inside a store error, for an [`OpenError::Corrupt`] that already says "corrupt".
fn reason(error: StoreError) -> String {
    match error {
        StoreError::Corrupt(reason) | StoreError::Unavailable(reason) => reason,
        other => other.to_string(),
    }
}

/// What opening the log learns from the tree.
struct Recovered {
    /// The committed head.
    head: LogHead,
    /// The last record's `recorded_at` ([`Timestamp::EPOCH`] for an empty log), below which
    /// no later record's may fall.
    last_recorded_at: Timestamp,
}

/// Finds the head of the log and checks that the last record is sound: it decodes, its hash
/// recomputes, it links to the record before it, and both indexes point at it. The whole
/// chain is checked by `SledLog::verify`, not here, so that opening stays cheap.
fn recover(db: &Db) -> Result<Recovered, String> {
    let mut records = db.scan_prefix(keys::record_prefix());
    let first = records.next().transpose().map_err(|e| e.to_string())?;
    let last = records
        .next_back()
        .transpose()
        .map_err(|e| e.to_string())?
        .or(first.clone());
    let (Some((first_key, _)), Some((last_key, last_value))) = (first, last) else {
        return Ok(Recovered {
            head: LogHead::EMPTY,
            last_recorded_at: Timestamp::EPOCH,
        });
    };
    if keys::record_key_position(&first_key) != Some(0) {
        return Err("the log does not start at position 0".to_string());
    }
    let position = keys::record_key_position(&last_key)
        .ok_or_else(|| "the last record has a malformed key".to_string())?;
    let last = decode_record_at(position, &last_value).map_err(reason)?;

    let expected_prev = match position {
        0 => ChainHash::GENESIS,
        _ => read::record_at(db, position - 1).map_err(reason)?.hash,
    };
    if last.prev_hash != expected_prev {
        return Err(format!(
            "the last record (position {position}) does not link to the one before"
        ));
    }
    let stream_entry = db
        .get(keys::stream_key(&last.account_id, last.revision))
        .map_err(|e| e.to_string())?;
    if stream_entry.as_deref().and_then(keys::parse_position) != Some(position) {
        return Err(format!(
            "the stream index does not point at the last record (position {position})"
        ));
    }
    let id_entry = db
        .get(keys::event_id_key(&last.event.event_id))
        .map_err(|e| e.to_string())?;
    if id_entry.as_deref().and_then(keys::parse_event_id_value)
        != Some((position, content_digest(&last.event)))
    {
        return Err(format!(
            "the id index does not point at the last record (position {position})"
        ));
    }
    Ok(Recovered {
        head: LogHead {
            next_position: position + 1,
            last_hash: last.hash,
        },
        last_recorded_at: last.recorded_at,
    })
}
