//! What only a failing disk shows: the writer's poisoning after a failed write.

use std::collections::BTreeMap;
use std::io;

use futures::StreamExt;

use super::writer::{apply_and_flush, WriteGroup};
use super::{open, SledLog};
use crate::domain::{AccountId, Call, EventId, EventPayload, ProposedEvent, Timestamp};
use crate::store::{Direction, ExpectedRevision, Log, LogHead, ReadAllFilter, StoreError};

fn call() -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: Timestamp::EPOCH,
        actor: "tester".to_string(),
        metadata: BTreeMap::new(),
        payload: EventPayload::Call(Call {
            contact_id: "c1".into(),
            summary: "hi".into(),
        }),
    }
}

/// A write that reaches the tree but whose fsync fails, on the `nth` group (0-based) and
/// every one after.
fn failing_from(nth: usize) -> WriteGroup {
    let mut groups = 0;
    Box::new(move |shared, batch| {
        groups += 1;
        if groups <= nth {
            return apply_and_flush(shared, batch);
        }
        shared.db.apply_batch(batch).map_err(super::sled_error)?;
        Err(StoreError::Unavailable(
            io::Error::other("the disk is on fire").to_string(),
        ))
    })
}

async fn count(log: &SledLog) -> usize {
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
    let log = open::open(dir.path(), failing_from(0), super::DEFAULT_CACHE_BYTES).unwrap();
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
        let log = open::open(dir.path(), failing_from(1), super::DEFAULT_CACHE_BYTES).unwrap();
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
    let log = SledLog::open(dir.path()).unwrap();
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
    let log = SledLog::open(dir).unwrap();
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

fn corrupt_reason(result: Result<SledLog, super::OpenError>) -> String {
    match result {
        Err(super::OpenError::Corrupt { reason, .. }) => reason,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cleanly_closed_log_reopens_at_the_same_head() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_with_records(dir.path(), 2).await;
    let log = SledLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(count(&log).await, 4);
}

#[tokio::test]
async fn a_database_lost_while_closed_is_refused_not_started_empty() {
    let dir = tempfile::tempdir().unwrap();
    log_with_records(dir.path(), 1).await;
    std::fs::remove_dir_all(super::sled_path(dir.path())).unwrap();
    let reason = corrupt_reason(SledLog::open(dir.path()));
    assert!(reason.contains("missing or empty"), "{reason}");
    // Refusing wrote nothing: it stays refused.
    let reason = corrupt_reason(SledLog::open(dir.path()));
    assert!(reason.contains("missing or empty"), "{reason}");
}

#[tokio::test]
async fn records_lost_while_closed_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let head = log_with_records(dir.path(), 2).await;
    {
        let db = ::sled::open(super::sled_path(dir.path())).unwrap();
        db.remove(super::record_key(head.next_position - 1))
            .unwrap();
        db.flush().unwrap();
        drop(db);
        super::wait_for_sled_release(&super::sled_path(dir.path()));
    }
    let reason = corrupt_reason(SledLog::open(dir.path()));
    assert!(reason.contains("closed with 4 records"), "{reason}");
    assert!(reason.contains("now holds 3"), "{reason}");
}

#[test]
fn a_group_is_acknowledged_only_after_the_database_file_is_synced() {
    // sled's own flush is not enough (see `Shared::flush`): the real write syncs the database
    // file itself, so it fails where that file cannot be synced even though sled took the
    // batch.
    let batch = || {
        let mut batch = ::sled::Batch::default();
        batch.insert(&b"k"[..], &b"v"[..]);
        batch
    };
    let shared_with = |dir: &std::path::Path, database_file: std::fs::File| super::Shared {
        db: ::sled::open(super::sled_path(dir)).unwrap(),
        database_file,
        _lock: super::open::lock_dir(dir).unwrap(),
        released: tokio::sync::watch::channel(()).0,
    };
    let dir = tempfile::tempdir().unwrap();
    // A pipe cannot be synced: fdatasync fails on it.
    let (_, pipe) = std::io::pipe().unwrap();
    let elsewhere = shared_with(dir.path(), std::os::fd::OwnedFd::from(pipe).into());
    assert!(matches!(
        apply_and_flush(&elsewhere, batch()),
        Err(StoreError::Unavailable(_))
    ));
    drop(elsewhere);
    let database = std::fs::File::open(super::sled_path(dir.path()).join("db")).unwrap();
    let synced = shared_with(dir.path(), database);
    apply_and_flush(&synced, batch()).unwrap();
    apply_and_flush(&synced, batch()).unwrap();
}
