//! What only a failing disk shows: the writer's poisoning after a failed write.

mod crash_steps;
mod hostile;
mod torn;

use std::collections::BTreeMap;
use std::io;

use futures::StreamExt;

use super::writer::{write_and_sync, WriteGroup};
use super::{open, FileLog};
use crate::domain::{AccountId, Call, EventId, EventPayload, ProposedEvent, Timestamp};
use crate::store::{Direction, ExpectedRevision, Log, LogHead, ReadAllFilter, StoreError};

fn call() -> ProposedEvent {
    call_about("hi".to_string())
}

/// A call with a fresh id whose summary is `summary`: its length sets the frame's.
fn call_about(summary: String) -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: Timestamp::EPOCH,
        actor: "li.wei".to_string(),
        metadata: BTreeMap::new(),
        payload: EventPayload::Call(Call {
            contact_id: "c-0042".into(),
            summary,
        }),
    }
}

/// A write that reaches the files and the index but then reports a failure (as a failing
/// fsync would), on the `nth` group (0-based) and every one after.
fn failing_from(nth: usize) -> WriteGroup {
    let mut groups = 0;
    Box::new(move |shared, group| {
        groups += 1;
        write_and_sync(shared, group)?;
        if groups <= nth {
            return Ok(());
        }
        Err(StoreError::Unavailable(
            io::Error::other("the disk is on fire").to_string(),
        ))
    })
}

async fn count(log: &FileLog) -> usize {
    log.read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .count()
        .await
}

fn unavailable_with(result: Result<impl std::fmt::Debug, StoreError>, text: &str) {
    match result {
        Err(StoreError::Unavailable(reason)) => assert!(reason.contains(text), "{reason}"),
        other => panic!("expected Unavailable mentioning {text:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_write_acknowledges_nothing_and_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open::open(dir.path(), failing_from(0), super::LogOptions::default()).unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let event = call();

    let answer = log
        .append(&acme, ExpectedRevision::Any, vec![event.clone()])
        .await;
    unavailable_with(answer, "the disk is on fire");
    // The records reached the tree but not the disk: no reader may see them.
    assert_eq!(log.head(), LogHead::EMPTY);
    assert_eq!(log.stream_revision(&acme).await, Ok(None));
    assert_eq!(log.find_retry(&acme, &[event]).await, Ok(None));
    assert_eq!(count(&log).await, 0);

    let later = log.append(&acme, ExpectedRevision::Any, vec![call()]).await;
    unavailable_with(later, "restart the server");
}

#[tokio::test]
async fn a_restart_after_a_failed_write_recovers_what_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let failed = vec![call()];
    {
        let log = open::open(dir.path(), failing_from(1), super::LogOptions::default()).unwrap();
        log.append(&acme, ExpectedRevision::NoStream, vec![call()])
            .await
            .unwrap();
        let answer = log
            .append(&acme, ExpectedRevision::Exact(0), failed.clone())
            .await;
        unavailable_with(answer, "the disk is on fire");
        assert_eq!(log.head().next_position, 1);
        assert_eq!(count(&log).await, 1);
    }
    // Whether the unacknowledged record survived is up to the disk; either way the log is
    // sound, and a retry of the failed append lands (or is found) right after the first.
    let log = FileLog::open(dir.path()).unwrap();
    let head = log.head().next_position;
    assert!(head == 1 || head == 2, "head {head}");
    assert_eq!(log.verify(), Ok(head));
    let retry = log
        .append(&acme, ExpectedRevision::Exact(0), failed)
        .await
        .unwrap();
    assert_eq!((retry.first_position, retry.first_revision), (1, 1));
    assert_eq!(retry.duplicate, head == 2);
}

async fn log_with_records(dir: &std::path::Path, batches: usize) -> LogHead {
    let log = FileLog::open(dir).unwrap();
    let acme = AccountId::parse("acme").unwrap();
    for _ in 0..batches {
        log.append(&acme, ExpectedRevision::Any, vec![call(), call()])
            .await
            .unwrap();
    }
    let head = log.head();
    log.close();
    head
}

fn corrupt_reason(result: Result<FileLog, super::OpenError>) -> String {
    match result {
        Err(super::OpenError::Corrupt { reason, .. }) => reason,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cleanly_closed_log_reopens_at_the_same_head() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_with_records(dir.path(), 2).await;
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(count(&log).await, 4);
}

#[tokio::test]
async fn a_database_lost_while_closed_is_refused_not_started_empty() {
    let dir = tempfile::tempdir().unwrap();
    log_with_records(dir.path(), 1).await;
    std::fs::remove_dir_all(crate::store::sled::sled_path(dir.path())).unwrap();
    let reason = corrupt_reason(FileLog::open(dir.path()));
    assert!(reason.contains("missing or empty"), "{reason}");
    // Refusing wrote nothing: it stays refused.
    let reason = corrupt_reason(FileLog::open(dir.path()));
    assert!(reason.contains("missing or empty"), "{reason}");
}

#[tokio::test]
async fn records_lost_while_closed_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_with_records(dir.path(), 2).await;
    // Cut the last frame off the end of both files, behind the log's back.
    let log_dir = super::log_path(dir.path());
    let offsets = std::fs::read(log_dir.join(super::OFFSETS_FILE)).unwrap();
    let last = u64::from_le_bytes(offsets[offsets.len() - 8..].try_into().unwrap());
    let cut = |name: &str, len: u64| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(log_dir.join(name))
            .unwrap();
        file.set_len(len).unwrap();
    };
    cut(super::RECORDS_FILE, last);
    cut(super::OFFSETS_FILE, (head.next_position - 1) * 8);
    let reason = corrupt_reason(FileLog::open(dir.path()));
    assert!(reason.contains("lost or changed"), "{reason}");
    assert!(reason.contains("covers 4 records"), "{reason}");
}

#[tokio::test]
async fn a_group_whose_write_fails_is_not_indexed() {
    // The index takes a group's entries only once its frames are synced: an entry that
    // pointed at a frame a crash could lose would make a retry of that event look like a
    // corrupt log. `failing_from` writes the frames, then reports the failure.
    let dir = tempfile::tempdir().unwrap();
    let log = open::open(dir.path(), failing_from(1), super::LogOptions::default()).unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let (stored, failed) = (call(), call());
    let (stored_id, failed_id) = (stored.event_id, failed.event_id);
    log.append(&acme, ExpectedRevision::Any, vec![stored])
        .await
        .unwrap();
    let refused = log.append(&acme, ExpectedRevision::Any, vec![failed]).await;
    unavailable_with(refused, "not acknowledged");
    let index = &log.inner.shared.index;
    assert_eq!(index.position_of(&stored_id, u64::MAX), Ok(Some(0)));
    assert_eq!(index.position_of(&failed_id, u64::MAX), Ok(None));
    assert_eq!(index.last_revision(&acme, u64::MAX), Ok(Some(0)));
}

#[tokio::test]
async fn records_past_the_index_runs_are_reindexed_from_the_frames_and_a_torn_one_cut() {
    let dir = tempfile::tempdir().unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let head = log_with_records(dir.path(), 3).await;
    // What a crash can leave: no index run at all (every run is rebuilt from the records),
    // and half a frame an interrupted write left after the last record, in the space prepared
    // past the records (zeros follow it).
    std::fs::remove_dir_all(super::index_path(dir.path())).unwrap();
    let records = super::log_path(dir.path()).join(super::RECORDS_FILE);
    let mut torn = Vec::new();
    super::encode_frame(&[7; 100], super::Part::Last, &mut torn);
    let mut bytes = std::fs::read(&records).unwrap();
    let sound = records_end(&bytes);
    assert!(
        bytes.len() > sound + torn.len(),
        "space was prepared past the records"
    );
    bytes[sound..sound + 50].copy_from_slice(&torn[..50]);
    std::fs::write(&records, bytes).unwrap();

    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.verify(), Ok(6));
    assert_eq!(log.stream_revision(&acme).await, Ok(Some(5)), "re-indexed");
    let (records_len, _) = log.inner.shared.files.lengths().unwrap();
    assert_eq!(records_len, sound as u64, "the torn frame is cut off");
}

/// Where the frames in `bytes` (a records file) end, as recovery reads them: at the file's
/// end, or at the first header of zeros.
fn records_end(bytes: &[u8]) -> usize {
    let (mut reader, mut body, mut end) = (io::Cursor::new(bytes), Vec::new(), 0);
    while let Ok((length, _)) =
        super::records::read_frame(&mut reader, bytes.len() as u64 - end, &mut body)
    {
        end += length;
    }
    end as usize
}

/// The writer keeps zeros written past the records, so that a group commit writes into
/// allocated space and its `fdatasync` need not also write the file's new length; an open
/// takes the zeros for the records' end.
#[tokio::test]
async fn group_commits_write_into_space_prepared_past_the_records() {
    use super::writer::{PREPARE_CHUNK, PREPARE_LOW};
    let dir = tempfile::tempdir().unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let records = super::log_path(dir.path()).join(super::RECORDS_FILE);
    // The writer prepares space after it answers a group; its answer to the next append says
    // it is done (it commits one group at a time). Returns the records' end after the first.
    let append_twice = |log: FileLog| {
        let acme = acme.clone();
        async move {
            log.append(&acme, ExpectedRevision::Any, vec![call()])
                .await
                .unwrap();
            let first = log.inner.shared.committed_bytes();
            log.append(&acme, ExpectedRevision::Any, vec![call()])
                .await
                .unwrap();
            first
        }
    };
    let log = FileLog::open(dir.path()).unwrap();
    let first = append_twice(log.clone()).await;
    let (prepared, _) = log.inner.shared.files.lengths().unwrap();
    assert_eq!(
        prepared,
        first + PREPARE_CHUNK,
        "one chunk past the first group"
    );
    for _ in 0..19 {
        log.append(&acme, ExpectedRevision::Any, vec![call(), call()])
            .await
            .unwrap();
    }
    let end = log.inner.shared.committed_bytes();
    // So no later group needed more space: what is read below is settled.
    assert!(end > first && end + PREPARE_LOW < prepared);
    assert_eq!(
        log.inner.shared.files.lengths().unwrap().0,
        prepared,
        "the groups were written inside the prepared space: the file did not grow"
    );
    let bytes = std::fs::read(&records).unwrap();
    assert_eq!(records_end(&bytes), end as usize);
    assert!(bytes[end as usize..].iter().all(|b| *b == 0));
    let head = log.head();
    log.close();

    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.verify(), Ok(40));
    assert_eq!(
        log.inner.shared.files.lengths().unwrap().0,
        end,
        "an open cuts the prepared space off"
    );
    let first = append_twice(log.clone()).await;
    assert_eq!(
        log.inner.shared.files.lengths().unwrap().0,
        first + PREPARE_CHUNK,
        "and the writer prepares it again"
    );
}

#[tokio::test]
async fn a_damaged_offset_is_reported_as_corruption_not_read_blindly() {
    let dir = tempfile::tempdir().unwrap();
    log_with_records(dir.path(), 3).await;
    // Damaged while the log is open (an open re-derives the offsets of the records past the
    // index runs from their frames, which would repair it).
    let log = FileLog::open(dir.path()).unwrap();
    let offsets = super::log_path(dir.path()).join(super::OFFSETS_FILE);
    let mut entries = std::fs::read(&offsets).unwrap();
    // Position 2 now claims a frame far past the end of the file.
    entries[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    std::fs::write(&offsets, entries).unwrap();

    let read: Vec<_> = log
        .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .collect()
        .await;
    assert_eq!(read.len(), 3, "two records, then the error");
    match &read[2] {
        Err(StoreError::Corrupt(reason)) => assert!(reason.contains("position 2"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let broken = log.verify().unwrap_err();
    assert_eq!(broken.position, 2, "{broken}");
}

#[tokio::test]
async fn appends_waiting_while_a_group_is_written_share_the_next_groups_fsync() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let groups = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let counted = Arc::clone(&groups);
    // The first group's write waits for the test; every group is counted.
    let write: WriteGroup = Box::new(move |shared, group| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            entered_tx.send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
        write_and_sync(shared, group)
    });
    let log = open::open(dir.path(), write, super::LogOptions::default()).unwrap();
    let acme = AccountId::parse("acme").unwrap();

    let first = tokio::spawn({
        let (log, acme) = (log.clone(), acme.clone());
        async move { log.append(&acme, ExpectedRevision::Any, vec![call()]).await }
    });
    tokio::task::spawn_blocking(move || entered.recv().unwrap())
        .await
        .unwrap();
    // While the first group is being written, 49 more appends queue: polling each once sends
    // it to the writer.
    let mut waiting: Vec<_> = (0..49)
        .map(|_| Box::pin(log.append(&acme, ExpectedRevision::Any, vec![call()])))
        .collect();
    for append in &mut waiting {
        assert!(futures::poll!(append.as_mut()).is_pending());
    }
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    for append in waiting {
        append.await.unwrap();
    }
    assert_eq!(log.head().next_position, 50);
    assert_eq!(
        groups.load(Ordering::SeqCst),
        2,
        "the 49 waiting appends were written (and fsynced) as one group"
    );
}

#[tokio::test]
async fn a_busy_log_is_indexed_in_runs_and_reopens_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let mut first_id = None;
    for _ in 0..70 {
        let batch: Vec<_> = (0..1_000).map(|_| call()).collect();
        first_id.get_or_insert(batch[0].event_id);
        log.append(&acme, ExpectedRevision::Any, batch)
            .await
            .unwrap();
    }
    // The memtable was frozen once it held 65,536 records (at a group's end), and the index
    // thread writes it as a run; the test waits for that write.
    log.inner.shared.index.write_frozen().unwrap();
    let runs = log.inner.shared.index.run_ranges();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let (from, to, _) = runs[0];
    assert_eq!(from, 0);
    assert!((65_536..70_000).contains(&to), "{to}");
    let head = log.head();
    drop(log);

    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head);
    // The clean close wrote the rest as a run of its own.
    assert_eq!(
        log.inner.shared.index.run_ranges(),
        vec![runs[0], (to, 70_000, 0)]
    );
    assert_eq!(log.stream_revision(&acme).await, Ok(Some(69_999)));
    let first_id = first_id.unwrap();
    assert_eq!(
        log.inner.shared.index.position_of(&first_id, u64::MAX),
        Ok(Some(0))
    );
    drop(log);

    // Records the run covers, lost while the log was closed after a crash (no clean-close
    // record to compare with), are refused rather than re-indexed as a shorter log.
    std::fs::remove_file(dir.path().join(super::MANIFEST_FILE)).unwrap();
    let records = super::log_path(dir.path()).join(super::RECORDS_FILE);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(records)
        .unwrap();
    file.set_len(1_000).unwrap();
    let reason = corrupt_reason(FileLog::open(dir.path()));
    assert!(reason.contains("lost or changed"), "{reason}");
    assert!(reason.contains("covers 70000 records"), "{reason}");
}

#[tokio::test]
async fn a_page_the_page_cache_does_not_hold_is_read_by_a_blocking_thread_the_same() {
    use super::read::{self, Uncached};
    use super::records::Wait;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    log_with_records(dir.path(), 3).await;
    let log = FileLog::open(dir.path()).unwrap();
    let end = log.committed_end();
    let all = || ReadAllFilter::default();
    let decode = move |frames| read::decode_all(frames, &all());

    // Which reads were asked for, and on which thread.
    let asked = Arc::new(Mutex::new(Vec::new()));
    let uncached = {
        let (shared, asked) = (Arc::clone(&log.inner.shared), Arc::clone(&asked));
        move |wait| {
            asked
                .lock()
                .unwrap()
                .push((wait, std::thread::current().id()));
            match wait {
                Wait::Cached => Err(Uncached),
                Wait::Allowed => read::load_all(&shared, 0..end, Direction::Forwards, end, wait),
            }
        }
    };
    let fetched = super::read::fetch_cached_first(uncached, decode).await;
    let cached = {
        let shared = Arc::clone(&log.inner.shared);
        move |wait| read::load_all(&shared, 0..end, Direction::Forwards, end, wait)
    };
    let inline = super::read::fetch_cached_first(cached, decode).await;

    assert_eq!(end, 6);
    assert!(fetched.error.is_none() && inline.error.is_none());
    assert_eq!(fetched.records.len(), 6);
    assert_eq!(fetched.records, inline.records);
    let asked = asked.lock().unwrap();
    let here = std::thread::current().id();
    assert_eq!(
        asked[0],
        (Wait::Cached, here),
        "the page cache is tried first, inline"
    );
    assert_eq!(asked[1].0, Wait::Allowed);
    assert_ne!(
        asked[1].1, here,
        "the read that may wait runs on a blocking thread"
    );
    assert_eq!(asked.len(), 2);
}

#[tokio::test]
async fn a_long_read_from_the_page_cache_lets_other_tasks_run_between_pages() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    let acme = AccountId::parse("acme").unwrap();
    for _ in 0..8 {
        let events = (0..100).map(|_| call()).collect();
        log.append(&acme, ExpectedRevision::Any, events)
            .await
            .unwrap();
    }
    // The test's runtime has one thread: the spawned task runs only when the read yields.
    let ran = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let ran = Arc::clone(&ran);
        async move { ran.store(true, Ordering::SeqCst) }
    });
    let mut read = log.read_all(None, Direction::Forwards, None, ReadAllFilter::default());
    let mut count = 0;
    let mut ran_by_the_third_page = false;
    while let Some(record) = read.next().await {
        assert_eq!(record.unwrap().position, count);
        count += 1;
        if count == 600 {
            ran_by_the_third_page = ran.load(Ordering::SeqCst);
        }
    }
    assert_eq!(count, 800);
    assert!(
        ran_by_the_third_page,
        "the read held the thread for 600 records"
    );
}
