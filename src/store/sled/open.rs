//! Opening a data dir: its lock and its format version. The recovery of the log's head after a
//! crash is `recovery`'s.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ::sled::{Batch, Db};

use super::index::{index_path, Index};
use fs2::FileExt;
use tokio::sync::{mpsc, watch};

use super::gathering::Gathering;
use super::manifest::Manifest;
use super::records::{push_frame, Part, RecordFiles};
use super::recovery::{check_lengths, recover};
use super::writer::{WriteGroup, Writer};
use super::{keys, Inner, LogOptions, Shared, SledLog};

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
    #[error("cannot open data dir {}: {failure}", dir.display())]
    Io {
        /// The data dir.
        dir: PathBuf,
        /// The failure, in the message rather than as its source: a printer that follows the
        /// source chain (`{:#}`) would repeat it.
        failure: io::Error,
    },
}

/// Opens the log in `dir` (see [`SledLog::open`]), writing groups with `write`.
pub(super) fn open(
    dir: &Path,
    write: WriteGroup,
    options: LogOptions,
) -> Result<SledLog, OpenError> {
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

    let database_file = std::fs::File::open(sled_path(dir).join("db")).map_err(io_error)?;
    let shared = Arc::new(Shared {
        db,
        files,
        index,
        committed_bytes: AtomicU64::new(recovered.bytes),
        database_file,
        _lock: lock,
        released: watch::channel(()).0,
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
        poisoned: None,
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
    Ok(SledLog {
        inner: Arc::new(inner),
    })
}

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
pub(super) fn lock_dir(dir: &Path) -> Result<DirLock, OpenError> {
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

/// Writes the format version into a new database, moves older formats to this one, and
/// refuses a database with another version or with data but no version.
///
/// Format 1 kept the records in sled: they move to the record files (format 2). Format 2 kept
/// the two indexes in sled: they are dropped, and the open re-indexes the records into index
/// runs (format 3), as it would re-index records past the last run.
pub(super) fn check_format(db: &Db, files: &RecordFiles) -> Result<(), String> {
    match db.get(keys::META).map_err(|e| e.to_string())? {
        Some(version) if version.as_ref() == [keys::FORMAT_V3] => remove_old_keys(db),
        Some(version) if version.as_ref() == [keys::FORMAT_V2] => migrate_format_2(db, files),
        Some(version) if version.as_ref() == [keys::FORMAT_V1] => {
            migrate_format_1(db, files)?;
            migrate_format_2(db, files)
        }
        Some(version) => Err(format!(
            "its format version is {version:?}, and this relledger reads only version {} \
             (and moves versions {} and {} to it)",
            keys::FORMAT_V3,
            keys::FORMAT_V1,
            keys::FORMAT_V2
        )),
        None if db.is_empty() => {
            let (records, _) = files.lengths().map_err(|e| e.to_string())?;
            if records > 0 {
                return Err("it holds record files but no database".to_string());
            }
            db.insert(keys::META, &[keys::FORMAT_V3][..])
                .map_err(|e| e.to_string())?;
            db.flush().map_err(|e| e.to_string())?;
            Ok(())
        }
        None => Err("it holds data but no format version".to_string()),
    }
}

/// Moves the records of a format 1 log (in sled, under `L` keys) to the record files, then
/// makes the database format 2 in one atomic batch with the watermark over all of them. A
/// move interrupted before that batch starts again from the beginning at the next open.
fn migrate_format_1(db: &Db, files: &RecordFiles) -> Result<(), String> {
    /// Bytes of frames written per write.
    const CHUNK: usize = 4 * 1024 * 1024;
    let failed = |e: io::Error| format!("cannot move its records to the record files: {e}");
    tracing::info!("moving the records of a format 1 log to the record files");
    files.truncate(0, 0).map_err(failed)?;
    let (mut frames, mut offsets) = (Vec::new(), Vec::new());
    let (mut next, mut bytes, mut written, mut first) = (0u64, 0u64, 0u64, 0u64);
    for entry in db.scan_prefix(keys::record_prefix()) {
        let (key, value) = entry.map_err(|e| e.to_string())?;
        if keys::record_key_position(&key) != Some(next) {
            return Err(format!(
                "its format 1 log lacks the record at position {next}"
            ));
        }
        // Format 1 kept no appends' bounds; every record it holds was committed.
        push_frame(&value, Part::Last, &mut bytes, &mut frames, &mut offsets);
        next += 1;
        if frames.len() >= CHUNK {
            files
                .write(written, &frames, first, &offsets)
                .map_err(failed)?;
            written = bytes;
            first = next;
            frames.clear();
            offsets.clear();
        }
    }
    files
        .write(written, &frames, first, &offsets)
        .map_err(failed)?;
    files.sync_records().map_err(failed)?;
    files.sync_offsets().map_err(failed)?;
    let mut batch = Batch::default();
    batch.insert(keys::META, &[keys::FORMAT_V2][..]);
    batch.insert(keys::WATERMARK, &keys::watermark_value(next, bytes)[..]);
    db.apply_batch(batch).map_err(|e| e.to_string())?;
    db.flush().map_err(|e| e.to_string())?;
    tracing::info!(records = next, "moved the records to the record files");
    Ok(())
}

/// Makes a format 2 database format 3: checks that the record files still hold what its
/// watermark promised, then drops the watermark in one batch with the new version, and the
/// old index keys after it ([`remove_old_keys`]; an interrupted removal goes on at the next
/// open). The open then re-indexes every record into index runs.
fn migrate_format_2(db: &Db, files: &RecordFiles) -> Result<(), String> {
    if let Some(value) = db.get(keys::WATERMARK).map_err(|e| e.to_string())? {
        let (indexed, indexed_bytes) = keys::parse_watermark(&value)
            .ok_or_else(|| "its index watermark does not decode".to_string())?;
        check_lengths(files, indexed, indexed_bytes)?;
    }
    tracing::info!("moving the log's indexes out of sled into index runs");
    let mut batch = Batch::default();
    batch.insert(keys::META, &[keys::FORMAT_V3][..]);
    batch.remove(keys::WATERMARK);
    db.apply_batch(batch).map_err(|e| e.to_string())?;
    db.flush().map_err(|e| e.to_string())?;
    remove_old_keys(db)
}

/// Removes what older formats kept in the default tree: records (`L`, format 1) and index
/// entries (`S`, `E`, formats 1 and 2). Nothing is left after the first open of a format 3
/// log, so later opens find nothing to remove.
fn remove_old_keys(db: &Db) -> Result<(), String> {
    /// Keys removed per batch.
    const CHUNK: usize = 10_000;
    let mut removed = 0;
    for prefix in keys::OLD_PREFIXES {
        loop {
            let mut batch = Batch::default();
            let mut count = 0;
            for entry in db.scan_prefix(prefix).keys().take(CHUNK) {
                batch.remove(entry.map_err(|e| e.to_string())?);
                count += 1;
            }
            if count == 0 {
                break;
            }
            db.apply_batch(batch).map_err(|e| e.to_string())?;
            removed += count;
        }
    }
    if removed > 0 {
        db.flush().map_err(|e| e.to_string())?;
        tracing::info!(keys = removed, "removed the keys of an older format");
    }
    Ok(())
}
