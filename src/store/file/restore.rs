//! Restoring a log into an empty data dir from its stored record values, byte for byte.
//!
//! An append seals records with the writer's clock, so a restored log cannot be appended: its
//! records must keep their positions, `recorded_at` and hashes. [`restore`] writes the stored
//! values as they come (and indexes them as an append would have), checking as it
//! goes what the writer would have guaranteed: positions gapless from 0, each record linked to
//! the one before and its hash recomputing, revisions gapless per account, event ids unique,
//! `recorded_at` never decreasing. It ends with a clean-close manifest, so the next open finds
//! exactly the restored head. On any failure it removes the database it created, so a refused
//! restore leaves no half log behind.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ::sled::Db;

use super::index::{index_path, Entry, Index, FLUSH_RECORDS};
use super::lock::lock_dir;
use super::manifest::{Manifest, MANIFEST_FILE};
use super::open::{check_format, OpenError};
use super::records::{log_path, push_frame, Part, RecordFiles};
use crate::domain::{AccountId, ChainHash, EventId, Timestamp};
use crate::store::codec::decode_record_at;
use crate::store::sled::{checkpoint_key, checkpoint_value, sled_error, sled_path, SIGNED_TREE};
use crate::store::SignedCheckpoint;
use crate::store::{LogHead, StoreError};

/// How many records one batch writes.
const BATCH: u64 = 1024;

/// Why a restore was refused or failed. Nothing is left in the dir but its lock file.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The dir could not be locked or opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The dir already holds a log (or the start of one).
    #[error("data dir {} is not empty: a log can be restored only into an empty data dir", .0.display())]
    NotEmpty(std::path::PathBuf),
    /// A record does not fit the log being restored.
    #[error("the record at position {position}: {reason}")]
    Invalid {
        /// Its position.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A signed checkpoint names a record the restored log does not hold, or another hash.
    #[error("the checkpoint at position {0} does not match the restored record there")]
    Checkpoint(u64),
    /// The source of the records failed.
    #[error("{0}")]
    Source(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Restores the records whose stored values `records` yields (position 0 first) and the
/// `checkpoints` over them into the empty data dir `dir`, calling `progress` with the count of
/// records written so far. Returns the head of the restored log.
pub fn restore(
    dir: &Path,
    records: impl Iterator<Item = Result<Vec<u8>, String>>,
    checkpoints: &[SignedCheckpoint],
    progress: &mut dyn FnMut(u64),
) -> Result<LogHead, RestoreError> {
    let _lock = lock_dir(dir)?;
    let database = sled_path(dir);
    let holds = |path: &Path| std::fs::read_dir(path).is_ok_and(|mut e| e.next().is_some());
    if dir.join(MANIFEST_FILE).exists() || holds(&database) || holds(&log_path(dir)) {
        return Err(RestoreError::NotEmpty(dir.to_path_buf()));
    }
    let db = ::sled::Config::new()
        .path(&database)
        .open()
        .map_err(sled_error)?;
    let restored = RecordFiles::open(dir)
        .map_err(|e| RestoreError::Store(StoreError::Unavailable(e.to_string())))
        .and_then(|files| write_all(dir, &db, &files, records, checkpoints, progress))
        .and_then(|head| {
            db.flush().map_err(sled_error)?;
            Ok(head)
        });
    drop(db);
    match restored {
        Ok(head) => {
            Manifest::closed(head)
                .write(dir)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(head)
        }
        Err(error) => {
            for half in [&database, &log_path(dir)] {
                if let Err(cleanup) = std::fs::remove_dir_all(half) {
                    tracing::warn!(%cleanup, "could not remove the half-restored log");
                }
            }
            Err(error)
        }
    }
}

fn write_all(
    dir: &Path,
    db: &Db,
    files: &RecordFiles,
    records: impl Iterator<Item = Result<Vec<u8>, String>>,
    checkpoints: &[SignedCheckpoint],
    progress: &mut dyn FnMut(u64),
) -> Result<LogHead, RestoreError> {
    check_format(db, files).map_err(StoreError::Corrupt)?;
    let failed =
        |e: std::io::Error| StoreError::Unavailable(format!("cannot write the records: {e}"));
    let (index, _) = Index::open(&index_path(dir), FLUSH_RECORDS).map_err(failed)?;
    // Indexes what was written so far (both files synced first when the memtable is full and
    // becomes a run, as a run requires).
    let index_written = |entries: &mut Vec<Entry>, bytes: u64| {
        let sync = || files.sync_records().and_then(|_| files.sync_offsets());
        index.add_written(entries, bytes, sync).map_err(failed)
    };
    let signed_at: HashSet<u64> = checkpoints.iter().map(|c| c.position).collect();
    let mut hashes: HashMap<u64, ChainHash> = HashMap::new();
    let (mut frames, mut offsets) = (Vec::new(), Vec::new());
    let (mut bytes, mut written, mut first) = (0u64, 0u64, 0u64);
    let mut head = LogHead::EMPTY;
    let mut last_recorded_at = Timestamp::EPOCH;
    let mut revisions: HashMap<AccountId, u64> = HashMap::new();
    let mut entries = Vec::new();
    let mut batch_ids: HashSet<EventId> = HashSet::new();
    for value in records {
        let value = value.map_err(RestoreError::Source)?;
        let position = head.next_position;
        let invalid = |reason: String| RestoreError::Invalid { position, reason };
        let record = decode_record_at(position, &value).map_err(|e| invalid(e.to_string()))?;
        if record.prev_hash != head.last_hash {
            return Err(invalid(format!(
                "its prev_hash {} is not the hash {} of the record before",
                record.prev_hash.to_hex(),
                head.last_hash.to_hex()
            )));
        }
        if position > 0 && record.recorded_at < last_recorded_at {
            return Err(invalid(
                "it was recorded before the record before it".into(),
            ));
        }
        let expected_revision = revisions.get(&record.account_id).map_or(0, |r| r + 1);
        if record.revision != expected_revision {
            return Err(invalid(format!(
                "it is revision {} of {}, which is at revision {expected_revision}",
                record.revision, record.account_id
            )));
        }
        let id = record.event.event_id;
        if !batch_ids.insert(id) || index.position_of(&id, u64::MAX)?.is_some() {
            return Err(invalid(format!("its event id {id} is already recorded")));
        }
        // A bundle does not say which records were appended together; each is whole.
        push_frame(&value, Part::Last, &mut bytes, &mut frames, &mut offsets);
        if signed_at.contains(&position) {
            hashes.insert(position, record.hash);
        }
        entries.push(Entry {
            position,
            account: record.account_id.clone(),
            revision: record.revision,
            id,
        });
        revisions.insert(record.account_id, record.revision);
        last_recorded_at = record.recorded_at;
        head = LogHead {
            next_position: position + 1,
            last_hash: record.hash,
        };
        if head.next_position.is_multiple_of(BATCH) {
            files
                .write(written, &frames, first, &offsets)
                .map_err(failed)?;
            (written, first) = (bytes, head.next_position);
            frames.clear();
            offsets.clear();
            index_written(&mut entries, bytes)?;
            batch_ids.clear();
            progress(head.next_position);
        }
    }
    files
        .write(written, &frames, first, &offsets)
        .map_err(failed)?;
    files.sync_records().map_err(failed)?;
    files.sync_offsets().map_err(failed)?;
    index.add(&entries);
    index.flush(bytes).map_err(failed)?;
    progress(head.next_position);

    let tree = db.open_tree(SIGNED_TREE).map_err(sled_error)?;
    for checkpoint in checkpoints {
        if hashes.get(&checkpoint.position) != Some(&checkpoint.hash) {
            return Err(RestoreError::Checkpoint(checkpoint.position));
        }
        tree.insert(
            checkpoint_key(checkpoint),
            &checkpoint_value(checkpoint)[..],
        )
        .map_err(sled_error)?;
    }
    Ok(head)
}
