//! Opening a data dir: its lock and its format version. The recovery of the log's head after a
//! crash is `recovery`'s.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ::sled::Db;
use tokio::sync::{mpsc, watch};

use super::crash::Crashes;
use super::gathering::Gathering;
use super::index::{index_path, Index};
use super::lock::lock_dir;
use super::manifest::Manifest;
use super::records::RecordFiles;
use super::recovery::recover;
use super::writer::{WriteGroup, Writer};
use super::{FileLog, Inner, LogOptions, Shared};
use crate::store::sled::{sled_path, Database};

/// Why a data dir could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another `FileLog` in this one) holds the dir's lock.
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
    #[error("cannot open data dir {}: {failure}", dir.display())]
    Io {
        /// The data dir.
        dir: PathBuf,
        /// The failure, in the message rather than as its source: a printer that follows the
        /// source chain (`{:#}`) would repeat it.
        failure: io::Error,
    },
}

/// Opens the log in `dir` (see [`FileLog::open`]), writing groups with `write`.
pub(super) fn open(
    dir: &Path,
    write: WriteGroup,
    options: LogOptions,
) -> Result<FileLog, OpenError> {
    open_crashing(dir, write, options, None)
}

/// [`open`], with the write path's steps reported to `crashes` (see `crash`).
pub(super) fn open_crashing(
    dir: &Path,
    write: WriteGroup,
    options: LogOptions,
    crashes: Crashes,
) -> Result<FileLog, OpenError> {
    let io_error = |failure: io::Error| OpenError::Io {
        dir: dir.to_path_buf(),
        failure,
    };
    let corrupt = |reason: String| OpenError::Corrupt {
        dir: dir.to_path_buf(),
        reason,
    };
    let lock = lock_dir(dir)?;
    let manifest = Manifest::read(dir).map_err(corrupt)?;
    let db = ::sled::Config::new()
        .path(sled_path(dir))
        .cache_capacity(options.cache_bytes)
        .open()
        .map_err(|e| match e {
            ::sled::Error::Io(failure) => io_error(failure),
            other => corrupt(other.to_string()),
        })?;
    if let Some(manifest) = &manifest {
        // Checked before `check_format`, which would initialise an empty database.
        manifest.check_not_empty(db.is_empty()).map_err(corrupt)?;
    }
    let files = RecordFiles::open(dir).map_err(io_error)?;
    check_format(&db, &files).map_err(corrupt)?;
    let (index, covered) =
        Index::open(&index_path(dir), options.index_memtable_records).map_err(io_error)?;
    let recovered = recover(&index, &files, covered).map_err(corrupt)?;
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

    let database = Database::new(db, dir, lock).map_err(io_error)?;
    let shared = Arc::new(Shared {
        files,
        index,
        committed_bytes: AtomicU64::new(recovered.bytes),
        crashes,
        database: Arc::new(database),
    });
    let (commands, queue) = mpsc::unbounded_channel();
    let (head_tx, head) = watch::channel(recovered.head);
    let (refusal_tx, refusal) = watch::channel(None);
    let writer = Writer {
        shared: Arc::clone(&shared),
        commands: queue,
        head_tx,
        head: recovered.head,
        last_recorded_at: recovered.last_recorded_at,
        stream_heads: Default::default(),
        refusal: refusal_tx,
        write,
        bytes: recovered.bytes,
        // Recovery cut the file to its records.
        prepared: recovered.bytes,
        prepare_again_at: 0,
        gathering: Gathering::new(),
    };
    let writer = std::thread::Builder::new()
        .name("relledger-writer".to_string())
        .spawn(move || {
            super::gathering::precise_sleeps();
            writer.run()
        })
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
        refusal,
        writer: Some(writer),
        dir: dir.to_path_buf(),
    };
    Ok(FileLog {
        inner: Arc::new(inner),
    })
}

/// The key of the data dir's format version in sled's default tree, the one key the log keeps
/// there.
const FORMAT_KEY: &[u8] = b"M";
/// The format version: the records in the record files, the indexes in run files, nothing of
/// the log in sled but this version. (Versions 1 and 2, which kept the records or the indexes
/// in sled, were never released.)
const FORMAT: u8 = 3;

/// Writes the format version into a new database, and refuses a database with another
/// version or with data but no version.
pub(super) fn check_format(db: &Db, files: &RecordFiles) -> Result<(), String> {
    match db.get(FORMAT_KEY).map_err(|e| e.to_string())? {
        Some(version) if version.as_ref() == [FORMAT] => Ok(()),
        Some(version) => Err(format!(
            "its format version is {version:?}, and this relledger reads only version {}",
            FORMAT
        )),
        None if db.is_empty() => {
            let (records, _) = files.lengths().map_err(|e| e.to_string())?;
            if records > 0 {
                return Err("it holds record files but no database".to_string());
            }
            db.insert(FORMAT_KEY, &[FORMAT][..])
                .map_err(|e| e.to_string())?;
            db.flush().map_err(|e| e.to_string())?;
            Ok(())
        }
        None => Err("it holds data but no format version".to_string()),
    }
}
