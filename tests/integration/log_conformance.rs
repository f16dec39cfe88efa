//! One suite of the `Log` contract, written once and run against every backend.
//!
//! Each check is a generic async function over `Arc<dyn Log>`; the `conformance!` macro at the
//! end turns each into a test per backend. Backend-specific behaviour (reopening a sled dir,
//! its lock, detecting corruption on disk) is tested after it.

use crate::common::nats::Nats;
use crate::common::raw_log;
use crate::common::store as store_helpers;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use relledger::domain::{ChainHash, EventType};
use relledger::store::codec::decode_record_at;
use relledger::store::{
    verify_chain, AppendOutcome, Direction, ExpectedRevision, FileLog, IdConflict, Log, LogHead,
    LogOptions, MemoryLog, OpenError, ReadAllFilter, StoreError,
};
use store_helpers::{account, call, calls, collect, collect_results, promise_kept, visit};

/// A log under test, and the dir that must outlive it.
struct Fixture {
    log: Arc<dyn Log>,
    _dir: Option<tempfile::TempDir>,
    _nats: Option<Nats>,
}

fn memory() -> Fixture {
    Fixture {
        log: Arc::new(MemoryLog::new()),
        _dir: None,
        _nats: None,
    }
}

fn sled() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    Fixture {
        log: Arc::new(log),
        _dir: Some(dir),
        _nats: None,
    }
}

/// sled with an index memtable of three records: nearly every append writes an index run and
/// the runs merge all the time, so every check also runs against the runs and their merges.
fn sled_small_index() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        index_memtable_records: 3,
        ..LogOptions::default()
    };
    let log = FileLog::open_with(dir.path(), options).unwrap();
    Fixture {
        log: Arc::new(log),
        _dir: Some(dir),
        _nats: None,
    }
}

/// The log on a JetStream cluster of three, every message on all three.
async fn jetstream() -> Fixture {
    let nats = Nats::cluster(3).await;
    let dir = tempfile::tempdir().unwrap();
    let log = nats.replica(dir.path()).await;
    Fixture {
        log: Arc::new(log),
        _dir: Some(dir),
        _nats: Some(nats),
    }
}

fn outcome(
    first_revision: u64,
    last_revision: u64,
    first_position: u64,
    last_position: u64,
) -> AppendOutcome {
    AppendOutcome {
        first_revision,
        last_revision,
        first_position,
        last_position,
        duplicate: false,
    }
}

fn duplicate(of: AppendOutcome) -> AppendOutcome {
    AppendOutcome {
        duplicate: true,
        ..of
    }
}

async fn read_all(log: &Arc<dyn Log>) -> Vec<relledger::domain::RecordedEvent> {
    collect(log.read_all(None, Direction::Forwards, None, ReadAllFilter::default())).await
}

// ---- appending ----

async fn append_then_read_round_trip(log: Arc<dyn Log>) {
    let acme = account("acme");
    let events = vec![call("first"), visit("second")];
    let out = log
        .append(&acme, ExpectedRevision::NoStream, events.clone())
        .await
        .unwrap();
    assert_eq!(out, outcome(0, 1, 0, 1));

    let stream = collect(log.read_stream(&acme, None, Direction::Forwards, None)).await;
    let got: Vec<_> = stream.iter().map(|r| r.event.clone()).collect();
    assert_eq!(got, events);
    assert_eq!(stream[1].account_id, acme);
    assert_eq!((stream[1].position, stream[1].revision), (1, 1));
    assert_eq!(read_all(&log).await, stream);
    assert_eq!(log.stream_revision(&acme).await, Ok(Some(1)));
    assert_eq!(
        log.head(),
        LogHead {
            next_position: 2,
            last_hash: stream[1].hash
        }
    );
}

async fn positions_and_revisions_are_gapless_and_zero_based(log: Arc<dyn Log>) {
    let (a, b) = (account("a"), account("b"));
    assert_eq!(log.head(), LogHead::EMPTY);
    assert_eq!(log.stream_revision(&a).await, Ok(None));
    let any = ExpectedRevision::Any;
    assert_eq!(log.append(&a, any, calls(2)).await, Ok(outcome(0, 1, 0, 1)));
    assert_eq!(log.append(&b, any, calls(1)).await, Ok(outcome(0, 0, 2, 2)));
    assert_eq!(log.append(&a, any, calls(3)).await, Ok(outcome(2, 4, 3, 5)));
    assert_eq!(log.append(&b, any, calls(1)).await, Ok(outcome(1, 1, 6, 6)));

    let all = read_all(&log).await;
    assert_eq!(
        all.iter().map(|r| r.position).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    for stream in [&a, &b] {
        let revisions: Vec<_> = all
            .iter()
            .filter(|r| r.account_id == *stream)
            .map(|r| r.revision)
            .collect();
        assert_eq!(revisions, (0..revisions.len() as u64).collect::<Vec<_>>());
    }
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    assert_eq!(log.head().next_position, 7);
}

async fn expected_revision_checks(log: Arc<dyn Log>) {
    use ExpectedRevision::*;
    let acme = account("acme");
    let wrong = |expected, actual| Err(StoreError::WrongExpectedRevision { expected, actual });

    assert_eq!(
        log.append(&acme, StreamExists, calls(1)).await,
        wrong(StreamExists, None)
    );
    assert_eq!(
        log.append(&acme, Exact(0), calls(1)).await,
        wrong(Exact(0), None)
    );
    assert_eq!(
        log.append(&acme, NoStream, calls(2)).await,
        Ok(outcome(0, 1, 0, 1))
    );
    assert_eq!(
        log.append(&acme, NoStream, calls(1)).await,
        wrong(NoStream, Some(1))
    );
    assert_eq!(
        log.append(&acme, Exact(0), calls(1)).await,
        wrong(Exact(0), Some(1))
    );
    assert_eq!(
        log.append(&acme, Exact(2), calls(1)).await,
        wrong(Exact(2), Some(1))
    );
    assert_eq!(
        log.append(&acme, Exact(1), calls(1)).await,
        Ok(outcome(2, 2, 2, 2))
    );
    assert_eq!(
        log.append(&acme, StreamExists, calls(1)).await,
        Ok(outcome(3, 3, 3, 3))
    );
    assert_eq!(
        log.append(&acme, Any, calls(1)).await,
        Ok(outcome(4, 4, 4, 4))
    );
    assert_eq!(
        log.append(&account("new"), Any, calls(1)).await,
        Ok(outcome(0, 0, 5, 5))
    );

    let error = log.append(&acme, Exact(9), calls(1)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "wrong expected revision: expected revision 9, but the stream is at revision 4"
    );
    assert_eq!(log.head().next_position, 6, "failed appends write nothing");
}

// ---- idempotency ----

async fn a_retry_returns_the_original_outcome_and_writes_nothing(log: Arc<dyn Log>) {
    let acme = account("acme");
    log.append(&acme, ExpectedRevision::Any, calls(2))
        .await
        .unwrap();
    let batch = calls(3);
    let original = log
        .append(&acme, ExpectedRevision::Exact(1), batch.clone())
        .await
        .unwrap();
    assert_eq!(original, outcome(2, 4, 2, 4));
    let head = log.head();

    let retry = log
        .append(&acme, ExpectedRevision::Exact(1), batch.clone())
        .await;
    assert_eq!(retry, Ok(duplicate(original)));
    assert_eq!(log.head(), head);
    assert_eq!(read_all(&log).await.len(), 5);
    assert_eq!(
        log.find_retry(&acme, &batch).await,
        Ok(Some(duplicate(original)))
    );
    assert_eq!(log.find_retry(&acme, &calls(2)).await, Ok(None));
}

async fn a_retry_with_a_stale_expected_revision_is_still_a_duplicate(log: Arc<dyn Log>) {
    let acme = account("acme");
    let batch = calls(2);
    let original = log
        .append(&acme, ExpectedRevision::NoStream, batch.clone())
        .await
        .unwrap();
    log.append(&acme, ExpectedRevision::Any, calls(1))
        .await
        .unwrap();
    let head = log.head();
    for expected in [
        ExpectedRevision::NoStream,
        ExpectedRevision::Exact(0),
        ExpectedRevision::Exact(7),
    ] {
        assert_eq!(
            log.append(&acme, expected, batch.clone()).await,
            Ok(duplicate(original))
        );
    }
    assert_eq!(log.head(), head);
}

async fn an_id_reused_for_other_content_is_refused(log: Arc<dyn Log>) {
    let acme = account("acme");
    let first = call("original");
    log.append(&acme, ExpectedRevision::Any, vec![first.clone()])
        .await
        .unwrap();
    let mut changed = first.clone();
    changed.actor = "someone else".into();
    let head = log.head();
    let expected = Err(StoreError::EventIdConflict {
        event_id: first.event_id,
        conflict: IdConflict::DifferentContent,
    });
    assert_eq!(
        log.append(&acme, ExpectedRevision::Any, vec![changed.clone()])
            .await,
        expected
    );
    assert_eq!(
        log.find_retry(&acme, &[changed]).await,
        expected.map(|_| None)
    );
    assert_eq!(log.head(), head);
}

async fn an_id_reused_in_another_account_is_refused(log: Arc<dyn Log>) {
    let (acme, other) = (account("acme"), account("other"));
    let batch = calls(2);
    log.append(&acme, ExpectedRevision::Any, batch.clone())
        .await
        .unwrap();
    let expected = Err(StoreError::EventIdConflict {
        event_id: batch[0].event_id,
        conflict: IdConflict::OtherAccount(acme.clone()),
    });
    assert_eq!(
        log.append(&other, ExpectedRevision::Any, batch.clone())
            .await,
        expected
    );
    assert_eq!(log.stream_revision(&other).await, Ok(None));
}

async fn a_partial_overlap_is_not_a_retry(log: Arc<dyn Log>) {
    let acme = account("acme");
    let batch = calls(2);
    log.append(&acme, ExpectedRevision::Any, batch.clone())
        .await
        .unwrap();
    let head = log.head();
    let partial = |event_id| {
        Err(StoreError::EventIdConflict {
            event_id,
            conflict: IdConflict::PartialRetry,
        })
    };

    // Some ids recorded, one new.
    let mut grown = batch.clone();
    grown.push(call("new"));
    assert_eq!(
        log.append(&acme, ExpectedRevision::Any, grown).await,
        partial(batch[0].event_id)
    );
    let mut led_by_new = vec![call("new")];
    led_by_new.extend(batch.clone());
    assert_eq!(
        log.append(&acme, ExpectedRevision::Any, led_by_new).await,
        partial(batch[0].event_id)
    );
    // Every id recorded, in another order.
    let reversed = vec![batch[1].clone(), batch[0].clone()];
    assert_eq!(
        log.append(&acme, ExpectedRevision::Any, reversed.clone())
            .await,
        partial(batch[1].event_id)
    );
    assert_eq!(
        log.find_retry(&acme, &reversed).await,
        partial(batch[1].event_id).map(|_| None)
    );
    // One id twice in a batch.
    let repeated = call("twice");
    let twice = vec![repeated.clone(), repeated.clone()];
    assert_eq!(
        log.append(&acme, ExpectedRevision::Any, twice).await,
        partial(repeated.event_id)
    );
    assert_eq!(log.head(), head);
}

async fn an_empty_batch_writes_nothing(log: Arc<dyn Log>) {
    let acme = account("acme");
    assert!(log
        .append(&acme, ExpectedRevision::Any, Vec::new())
        .await
        .is_err());
    assert_eq!(log.head(), LogHead::EMPTY);
    assert_eq!(log.stream_revision(&acme).await, Ok(None));
}

// ---- reading ----

async fn read_stream_directions_from_and_limit(log: Arc<dyn Log>) {
    let (acme, other) = (account("acme"), account("other"));
    for i in 0..5 {
        log.append(&acme, ExpectedRevision::Any, vec![call(&format!("a{i}"))])
            .await
            .unwrap();
        log.append(&other, ExpectedRevision::Any, calls(1))
            .await
            .unwrap();
    }
    let revisions = |records: Vec<relledger::domain::RecordedEvent>| {
        records
            .iter()
            .map(|r| (r.revision, r.position))
            .collect::<Vec<_>>()
    };
    let read = |from, direction, limit| collect(log.read_stream(&acme, from, direction, limit));
    use Direction::{Backwards, Forwards};

    assert_eq!(
        revisions(read(None, Forwards, None).await),
        [(0, 0), (1, 2), (2, 4), (3, 6), (4, 8)]
    );
    assert_eq!(
        revisions(read(None, Backwards, None).await),
        [(4, 8), (3, 6), (2, 4), (1, 2), (0, 0)]
    );
    assert_eq!(
        revisions(read(Some(2), Forwards, Some(2)).await),
        [(2, 4), (3, 6)]
    );
    assert_eq!(
        revisions(read(Some(2), Backwards, None).await),
        [(2, 4), (1, 2), (0, 0)]
    );
    assert_eq!(
        revisions(read(Some(99), Backwards, Some(1)).await),
        [(4, 8)]
    );
    assert!(read(Some(5), Forwards, None).await.is_empty());
    assert!(read(None, Forwards, Some(0)).await.is_empty());
    assert!(
        collect(log.read_stream(&account("nobody"), None, Backwards, None))
            .await
            .is_empty()
    );
}

async fn read_all_directions_filters_and_limit(log: Arc<dyn Log>) {
    let (a, b, c) = (account("a"), account("b"), account("c"));
    log.append(&a, ExpectedRevision::Any, vec![call("0"), visit("1")])
        .await
        .unwrap();
    log.append(
        &b,
        ExpectedRevision::Any,
        vec![visit("2"), promise_kept("3")],
    )
    .await
    .unwrap();
    log.append(&c, ExpectedRevision::Any, vec![call("4")])
        .await
        .unwrap();
    log.append(
        &a,
        ExpectedRevision::Any,
        vec![promise_kept("5"), call("6")],
    )
    .await
    .unwrap();

    let positions = |records: Vec<relledger::domain::RecordedEvent>| {
        records.iter().map(|r| r.position).collect::<Vec<_>>()
    };
    let read =
        |from, direction, limit, filter| collect(log.read_all(from, direction, limit, filter));
    let all = ReadAllFilter::default();
    let accounts = |ids: &[&relledger::domain::AccountId]| ReadAllFilter {
        account_ids: ids.iter().map(|id| (*id).clone()).collect(),
        event_types: BTreeSet::new(),
        ..ReadAllFilter::default()
    };
    let types = |types: &[EventType]| ReadAllFilter {
        account_ids: BTreeSet::new(),
        event_types: types.iter().copied().collect(),
        ..ReadAllFilter::default()
    };
    use Direction::{Backwards, Forwards};

    assert_eq!(
        positions(read(None, Forwards, None, all.clone()).await),
        [0, 1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        positions(read(None, Backwards, None, all.clone()).await),
        [6, 5, 4, 3, 2, 1, 0]
    );
    assert_eq!(
        positions(read(Some(3), Forwards, Some(2), all.clone()).await),
        [3, 4]
    );
    assert_eq!(
        positions(read(Some(3), Backwards, Some(2), all.clone()).await),
        [3, 2]
    );
    assert!(read(Some(7), Forwards, None, all.clone()).await.is_empty());
    assert_eq!(
        positions(read(None, Forwards, None, accounts(&[&a])).await),
        [0, 1, 5, 6]
    );
    assert_eq!(
        positions(read(None, Forwards, None, accounts(&[&b, &c])).await),
        [2, 3, 4]
    );
    assert_eq!(
        positions(read(None, Forwards, None, types(&[EventType::Call])).await),
        [0, 4, 6]
    );
    assert_eq!(
        positions(
            read(
                None,
                Backwards,
                Some(2),
                types(&[EventType::Call, EventType::Visit])
            )
            .await
        ),
        [6, 4]
    );
    let both = ReadAllFilter {
        account_ids: accounts(&[&a]).account_ids,
        event_types: types(&[EventType::PromiseKept]).event_types,
        ..ReadAllFilter::default()
    };
    assert_eq!(positions(read(Some(1), Forwards, None, both).await), [5]);
    // The limit counts records returned, after filtering.
    assert_eq!(
        positions(read(None, Forwards, Some(2), accounts(&[&a])).await),
        [0, 1]
    );
    assert_eq!(
        positions(read(Some(2), Forwards, Some(2), accounts(&[&a])).await),
        [5, 6]
    );
}

async fn reads_span_many_pages(log: Arc<dyn Log>) {
    let (a, b) = (account("a"), account("b"));
    for _ in 0..6 {
        log.append(&a, ExpectedRevision::Any, calls(100))
            .await
            .unwrap();
        log.append(&b, ExpectedRevision::Any, calls(10))
            .await
            .unwrap();
    }
    let all = read_all(&log).await;
    assert_eq!(all.len(), 660);
    assert_eq!(verify_chain(all.clone(), ChainHash::GENESIS), Ok(660));
    let mut backwards =
        collect(log.read_all(None, Direction::Backwards, None, ReadAllFilter::default())).await;
    backwards.reverse();
    assert_eq!(backwards, all);
    let stream = collect(log.read_stream(&a, Some(50), Direction::Forwards, Some(400))).await;
    assert_eq!(
        stream.iter().map(|r| r.revision).collect::<Vec<_>>(),
        (50..450).collect::<Vec<_>>()
    );
    let only_b = ReadAllFilter {
        account_ids: [b.clone()].into(),
        event_types: BTreeSet::new(),
        ..ReadAllFilter::default()
    };
    let filtered = collect(log.read_all(None, Direction::Backwards, Some(15), only_b)).await;
    assert_eq!(
        filtered.iter().map(|r| r.revision).collect::<Vec<_>>(),
        (45..60).rev().collect::<Vec<_>>()
    );
}

async fn a_read_sees_the_log_as_it_was_when_it_started(log: Arc<dyn Log>) {
    let acme = account("acme");
    log.append(&acme, ExpectedRevision::Any, calls(3))
        .await
        .unwrap();
    let mut everything = log.read_all(None, Direction::Forwards, None, ReadAllFilter::default());
    let stream = log.read_stream(&acme, None, Direction::Forwards, None);
    let first = everything.next().await.unwrap().unwrap();
    log.append(&acme, ExpectedRevision::Any, calls(2))
        .await
        .unwrap();
    assert_eq!(first.position, 0);
    assert_eq!(collect(everything).await.len(), 2);
    assert_eq!(collect(stream).await.len(), 3);
    assert_eq!(read_all(&log).await.len(), 5);
}

async fn the_hash_chain_verifies_over_read_all(log: Arc<dyn Log>) {
    for i in 0..10 {
        let acc = account(&format!("acc{}", i % 3));
        log.append(&acc, ExpectedRevision::Any, calls(1 + i % 3))
            .await
            .unwrap();
    }
    let all = read_all(&log).await;
    assert_eq!(all[0].prev_hash, ChainHash::GENESIS);
    assert!(all.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert_eq!(
        verify_chain(all.clone(), ChainHash::GENESIS),
        Ok(all.len() as u64)
    );
    assert_eq!(
        log.head(),
        LogHead {
            next_position: all.len() as u64,
            last_hash: all.last().unwrap().hash
        }
    );
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
}

/// `log.stored_records(from, to)`, read on the blocking pool as the contract asks.
async fn stored(log: &Arc<dyn Log>, from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
    let log = Arc::clone(log);
    tokio::task::spawn_blocking(move || {
        log.stored_records(from, to)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn stored_records_decode_to_the_records_read_and_stop_at_the_head(log: Arc<dyn Log>) {
    // More than one of the backends' 1,024-record read chunks.
    let (a, b) = (account("a"), account("b"));
    for i in 0..11 {
        let acc = if i % 2 == 0 { &a } else { &b };
        log.append(acc, ExpectedRevision::Any, calls(100))
            .await
            .unwrap();
    }
    let all = read_all(&log).await;
    assert_eq!(all.len(), 1100);

    let values = stored(&log, 0, u64::MAX).await;
    assert_eq!(values.len(), 1100, "clamped to the head");
    for ((at, value), record) in values.iter().zip(&all) {
        assert_eq!(*at, record.position);
        assert_eq!(&decode_record_at(*at, value).unwrap(), record);
        // The envelope is what the audit reads without decoding: version, prev_hash, hash.
        assert_eq!(value[1..33], record.prev_hash.0);
        assert_eq!(value[33..65], record.hash.0);
    }

    let positions =
        |values: &[(u64, Vec<u8>)]| values.iter().map(|(at, _)| *at).collect::<Vec<_>>();
    assert_eq!(
        positions(&stored(&log, 1000, 1050).await),
        (1000..1050).collect::<Vec<_>>()
    );
    assert_eq!(
        positions(&stored(&log, 1090, 5000).await),
        (1090..1100).collect::<Vec<_>>()
    );
    assert!(stored(&log, 1100, 2000).await.is_empty());
    assert!(stored(&log, 7, 7).await.is_empty());
    assert!(stored(&log, 9, 3).await.is_empty());
    assert_eq!(stored(&log, 5, 6).await, values[5..6]);

    // The clamp is the head when the read is asked for: a later append is not in it.
    let before = Arc::clone(&log);
    let pending = tokio::task::spawn_blocking(move || before.stored_records(1095, u64::MAX))
        .await
        .unwrap();
    log.append(&a, ExpectedRevision::Any, calls(3))
        .await
        .unwrap();
    let read = tokio::task::spawn_blocking(move || pending.count())
        .await
        .unwrap();
    assert_eq!(read, 5);
    assert_eq!(stored(&log, 1095, u64::MAX).await.len(), 8);
}

// ---- concurrency ----

async fn concurrent_appends_with_one_expected_revision_admit_one(log: Arc<dyn Log>) {
    let acme = account("acme");
    log.append(&acme, ExpectedRevision::Any, calls(3))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (log, acme) = (Arc::clone(&log), acme.clone());
            tokio::spawn(async move {
                log.append(&acme, ExpectedRevision::Exact(2), calls(1))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(out) => {
                won += 1;
                assert_eq!(out, outcome(3, 3, 3, 3));
            }
            Err(error) => assert_eq!(
                error,
                StoreError::WrongExpectedRevision {
                    expected: ExpectedRevision::Exact(2),
                    actual: Some(3)
                }
            ),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(log.head().next_position, 4);
}

async fn concurrent_appends_to_many_accounts_all_land(log: Arc<dyn Log>) {
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let acc = account(&format!("acc{i}"));
                let out = log
                    .append(
                        &acc,
                        ExpectedRevision::NoStream,
                        calls(1 + (i % 3) as usize),
                    )
                    .await
                    .unwrap();
                let again = log
                    .append(&acc, ExpectedRevision::Exact(out.last_revision), calls(1))
                    .await
                    .unwrap();
                (out, again)
            })
        })
        .collect();
    let mut ranges = Vec::new();
    for task in tasks {
        let (first, second) = task.await.unwrap();
        assert_eq!(first.first_revision, 0);
        assert_eq!(second.first_revision, first.last_revision + 1);
        assert!(first.last_position < second.first_position);
        ranges.push(first.first_position..first.last_position + 1);
        ranges.push(second.first_position..second.last_position + 1);
    }
    ranges.sort_by_key(|r| r.start);
    let total: u64 = (0..200u64).map(|i| 2 + i % 3).sum();
    assert_eq!(ranges.first().unwrap().start, 0);
    assert!(
        ranges.windows(2).all(|w| w[0].end == w[1].start),
        "positions are gapless and distinct"
    );
    assert_eq!(ranges.last().unwrap().end, total);
    assert_eq!(log.head().next_position, total);
    let all = read_all(&log).await;
    assert_eq!(verify_chain(all, ChainHash::GENESIS), Ok(total));
}

// ---- the accounts ----

/// Walks every account a page of `limit` at a time, as the relationships service does.
async fn every_account(log: &Arc<dyn Log>, limit: usize) -> Vec<String> {
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = log.accounts(after.as_ref(), limit).await.unwrap();
        assert!(page.len() <= limit, "a page holds at most its limit");
        let Some(last) = page.last().cloned() else {
            return walked;
        };
        walked.extend(page.iter().map(|a| a.as_str().to_string()));
        after = Some(last);
    }
}

async fn accounts_are_listed_once_each_in_id_order_a_page_at_a_time(log: Arc<dyn Log>) {
    assert!(log.accounts(None, 10).await.unwrap().is_empty());
    // Ids that are prefixes of one another, and accounts with many events: each is listed once.
    let ids = ["b", "a-2", "a", "ab", "a-10", "z", "a-1"];
    for (i, id) in ids.iter().enumerate() {
        log.append(&account(id), ExpectedRevision::Any, calls(1 + i % 3))
            .await
            .unwrap();
    }
    log.append(&account("a"), ExpectedRevision::Any, calls(2))
        .await
        .unwrap();
    let mut expected: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    for limit in [1, 2, 3, 100] {
        assert_eq!(every_account(&log, limit).await, expected, "limit {limit}");
    }
    // After an id that is not an account: the accounts above it.
    let page = log.accounts(Some(&account("aa")), 10).await.unwrap();
    let names: Vec<&str> = page.iter().map(|a| a.as_str()).collect();
    assert_eq!(names, ["ab", "b", "z"]);
    assert!(log.accounts(None, 0).await.unwrap().is_empty());
}

async fn concurrent_retries_of_one_batch_write_it_once(log: Arc<dyn Log>) {
    let acme = account("acme");
    let batch = calls(3);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (log, acme, batch) = (Arc::clone(&log), acme.clone(), batch.clone());
            tokio::spawn(async move {
                log.append(&acme, ExpectedRevision::NoStream, batch)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1);
    assert!(outcomes
        .iter()
        .all(|o| duplicate(*o) == duplicate(outcome(0, 2, 0, 2))));
    assert_eq!(log.head().next_position, 3);
}

/// Runs each named check against every backend, each in its own runtime.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod memory_log {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let fixture = super::memory();
                    super::$check(Arc::clone(&fixture.log)).await;
                }
            )*
            use std::sync::Arc;
        }
        mod sled_log {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let fixture = super::sled();
                    super::$check(Arc::clone(&fixture.log)).await;
                }
            )*
            use std::sync::Arc;
        }
        mod jetstream_log {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let fixture = super::jetstream().await;
                    super::$check(Arc::clone(&fixture.log)).await;
                }
            )*
            use std::sync::Arc;
        }
        mod sled_log_small_index {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let fixture = super::sled_small_index();
                    super::$check(Arc::clone(&fixture.log)).await;
                }
            )*
            use std::sync::Arc;
        }
    };
}

conformance!(
    append_then_read_round_trip,
    positions_and_revisions_are_gapless_and_zero_based,
    expected_revision_checks,
    a_retry_returns_the_original_outcome_and_writes_nothing,
    a_retry_with_a_stale_expected_revision_is_still_a_duplicate,
    an_id_reused_for_other_content_is_refused,
    an_id_reused_in_another_account_is_refused,
    a_partial_overlap_is_not_a_retry,
    an_empty_batch_writes_nothing,
    read_stream_directions_from_and_limit,
    read_all_directions_filters_and_limit,
    reads_span_many_pages,
    a_read_sees_the_log_as_it_was_when_it_started,
    the_hash_chain_verifies_over_read_all,
    stored_records_decode_to_the_records_read_and_stop_at_the_head,
    concurrent_appends_with_one_expected_revision_admit_one,
    concurrent_appends_to_many_accounts_all_land,
    concurrent_retries_of_one_batch_write_it_once,
    accounts_are_listed_once_each_in_id_order_a_page_at_a_time,
);

// ---- the sled backend on disk ----

#[tokio::test]
async fn sled_reopened_holds_everything_with_the_same_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let acme = account("acme");
    let batch = calls(2);
    let (before, original) = {
        let log = FileLog::open(dir.path()).unwrap();
        log.append(&acme, ExpectedRevision::NoStream, calls(3))
            .await
            .unwrap();
        let original = log
            .append(&acme, ExpectedRevision::Exact(2), batch.clone())
            .await
            .unwrap();
        log.append(&account("other"), ExpectedRevision::Any, calls(1))
            .await
            .unwrap();
        let before =
            collect(log.read_all(None, Direction::Forwards, None, ReadAllFilter::default())).await;
        log.close();
        (before, original)
    };

    let log = FileLog::open(dir.path()).unwrap();
    let after =
        collect(log.read_all(None, Direction::Forwards, None, ReadAllFilter::default())).await;
    assert_eq!(after, before);
    assert_eq!(
        log.head(),
        LogHead {
            next_position: 6,
            last_hash: before[5].hash
        }
    );
    assert_eq!(log.verify(), Ok(6));
    assert_eq!(log.stream_revision(&acme).await, Ok(Some(4)));
    // Idempotency and the chain carry over the restart.
    assert_eq!(
        log.append(&acme, ExpectedRevision::Any, batch).await,
        Ok(duplicate(original))
    );
    let next = log
        .append(&acme, ExpectedRevision::Exact(4), calls(1))
        .await
        .unwrap();
    assert_eq!(next, outcome(5, 5, 6, 6));
    let last =
        collect(log.read_all(Some(6), Direction::Forwards, None, ReadAllFilter::default())).await;
    assert_eq!(last[0].prev_hash, before[5].hash);
    assert!(last[0].recorded_at >= before[5].recorded_at);
    assert_eq!(log.verify(), Ok(7));
}

#[tokio::test]
async fn sled_refuses_a_locked_dir() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    match FileLog::open(dir.path()) {
        Err(error @ OpenError::Locked { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("is locked by another relledger process"),
                "{message}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    log.close();
    FileLog::open(dir.path()).expect("the lock is released on close");
}

#[tokio::test]
async fn sled_creates_a_missing_dir_and_watches_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let log = FileLog::open(&nested).unwrap();
    let mut head = log.watch_head();
    assert_eq!(*head.borrow_and_update(), LogHead::EMPTY);
    log.append(&account("acme"), ExpectedRevision::Any, calls(2))
        .await
        .unwrap();
    assert!(head.has_changed().unwrap());
    assert_eq!(head.borrow_and_update().next_position, 2);
}

#[tokio::test]
async fn memory_log_watches_its_head_and_verifies() {
    let log = MemoryLog::new();
    let mut head = log.watch_head();
    log.append(&account("acme"), ExpectedRevision::Any, calls(2))
        .await
        .unwrap();
    assert!(head.has_changed().unwrap());
    assert_eq!(head.borrow_and_update().next_position, 2);
    assert_eq!(log.verify(), Ok(2));
}

/// Flips a bit in the body of the record at `position`, behind the log's back, as a failing
/// disk would (its frame's checksum no longer matches).
fn flip_a_byte(dir: &std::path::Path, position: u64) {
    raw_log::flip_a_stored_bit(dir, position, 10);
}

/// The same, with the frame's checksum rewritten to match: only the hash chain can tell.
fn rewrite_a_byte(dir: &std::path::Path, position: u64) {
    let mut values = raw_log::stored_values(dir);
    let value = &mut values[position as usize];
    let at = value.len() - 10;
    value[at] ^= 0x01;
    raw_log::rewrite(dir, &values);
}

async fn sled_log_with(dir: &std::path::Path, records: usize) {
    let log = FileLog::open(dir).unwrap();
    for i in 0..records {
        log.append(
            &account("acme"),
            ExpectedRevision::Any,
            vec![call(&format!("call {i}"))],
        )
        .await
        .unwrap();
    }
    log.close();
}

#[tokio::test]
async fn sled_detects_a_record_rewritten_with_its_checksum_in_verification() {
    // Reads trust the frame's checksum (see `codec::decode_checked_record_at`); the hash
    // chain, which verification recomputes, is what catches a record rewritten with one.
    let dir = tempfile::tempdir().unwrap();
    sled_log_with(dir.path(), 5).await;
    rewrite_a_byte(dir.path(), 2);
    let log = FileLog::open(dir.path()).expect("only the last record is checked on open");
    let brk = log.verify().unwrap_err();
    assert_eq!(brk.position, 2, "{brk}");
}

#[tokio::test]
async fn sled_detects_a_flipped_byte_in_a_stored_record() {
    let dir = tempfile::tempdir().unwrap();
    sled_log_with(dir.path(), 5).await;
    flip_a_byte(dir.path(), 2);

    let log = FileLog::open(dir.path()).expect("only the last record is checked on open");
    let brk = log.verify().unwrap_err();
    assert_eq!(brk.position, 2, "{brk}");
    let read =
        collect_results(log.read_all(None, Direction::Forwards, None, ReadAllFilter::default()))
            .await;
    assert_eq!(read.len(), 3, "the read stops at the corrupt record");
    match &read[2] {
        Err(StoreError::Corrupt(reason)) => assert!(reason.contains("position 2"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let stream =
        collect_results(log.read_stream(&account("acme"), Some(2), Direction::Forwards, None))
            .await;
    assert!(matches!(&stream[0], Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn sled_refuses_to_open_a_dir_whose_last_record_is_corrupt() {
    for tamper in [flip_a_byte, rewrite_a_byte] {
        let dir = tempfile::tempdir().unwrap();
        sled_log_with(dir.path(), 3).await;
        tamper(dir.path(), 2);
        match FileLog::open(dir.path()) {
            Err(OpenError::Corrupt { reason, .. }) => {
                assert!(reason.contains("position 2"), "{reason}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sled_refuses_an_unknown_format_version() {
    let dir = tempfile::tempdir().unwrap();
    sled_log_with(dir.path(), 1).await;
    {
        let db = sled::open(relledger::store::sled::sled_path(dir.path())).unwrap();
        db.insert(b"M", &[9u8][..]).unwrap();
        db.flush().unwrap();
        drop(db);
        relledger::store::sled::wait_for_sled_release(&relledger::store::sled::sled_path(
            dir.path(),
        ));
    }
    match FileLog::open(dir.path()) {
        Err(OpenError::Corrupt { reason, .. }) => {
            assert!(reason.contains("format version"), "{reason}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
