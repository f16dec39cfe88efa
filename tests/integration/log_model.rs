//! A model-based test in the style of sled's own: random sequences of appends, retries, reads,
//! restarts and crashes that tear appends run against `FileLog` and the `MemoryLog` model in
//! lockstep, which must agree on every answer.
//!
//! The two backends' clocks differ, so records are compared without `recorded_at` and the
//! hashes that cover it; each backend's own chain is verified instead.

use crate::common::raw_log;
use crate::common::store as store_helpers;

use futures::StreamExt;
use proptest::prelude::*;
use proptest::sample::Index;
use relledger::domain::{AccountId, ChainHash, EventId, EventPayload, EventType, ProposedEvent};
use relledger::store::{
    verify_chain, Direction, ExpectedRevision, FileLog, Log, LogOptions, MemoryLog, ReadAllFilter,
};
use store_helpers::{account, call, placed, promise_kept, visit, Placed};

/// The expected revision of an append.
#[derive(Debug, Clone)]
enum Expect {
    Any,
    NoStream,
    StreamExists,
    Exact(u64),
    /// `Exact` of the stream's current revision (as the model sees it): the check passes.
    Current,
}

/// The events of an append or a retry check.
#[derive(Debug, Clone)]
enum Events {
    /// New events, one per payload kind (0 call, 1 visit, 2 promise kept).
    Fresh(Vec<u8>),
    /// An earlier batch again, in its own account or in the op's.
    Retry { pick: Index, same_account: bool },
    /// An earlier batch with its first event changed.
    Altered(Index),
    /// An earlier batch and one new event.
    Grown(Index),
    /// An earlier batch without its first event.
    Shrunk(Index),
    /// One new event twice.
    Repeated,
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        account: u8,
        expected: Expect,
        events: Events,
    },
    FindRetry {
        account: u8,
        events: Events,
    },
    ReadStream {
        account: u8,
        from: Option<u64>,
        backwards: bool,
        limit: Option<u64>,
    },
    ReadAll {
        from: Option<u64>,
        backwards: bool,
        limit: Option<u64>,
        accounts: Vec<u8>,
        types: Vec<u8>,
    },
    Restart,
    /// Appends fresh batches to distinct accounts at once (the writer may take them as one
    /// group), then crashes with only part of their bytes on disk: the record file cut at
    /// `cut` of the way through their frames (followed by zeros or not), the offsets file at
    /// `offsets` of the way through their entries. The model takes the appends that lie whole
    /// before the cut.
    TornAppends {
        appends: Vec<(u8, Vec<u8>)>,
        cut: Index,
        zeros: bool,
        offsets: Index,
    },
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        1 => Just(Expect::Any),
        1 => Just(Expect::NoStream),
        1 => Just(Expect::StreamExists),
        1 => (0u64..4).prop_map(Expect::Exact),
        3 => Just(Expect::Current),
    ]
}

fn events() -> impl Strategy<Value = Events> {
    prop_oneof![
        5 => prop::collection::vec(0u8..3, 1..4).prop_map(Events::Fresh),
        3 => (any::<Index>(), any::<bool>())
            .prop_map(|(pick, same_account)| Events::Retry { pick, same_account }),
        1 => any::<Index>().prop_map(Events::Altered),
        1 => any::<Index>().prop_map(Events::Grown),
        1 => any::<Index>().prop_map(Events::Shrunk),
        1 => Just(Events::Repeated),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..4, expect(), events())
            .prop_map(|(account, expected, events)| Op::Append { account, expected, events }),
        1 => (0u8..4, events()).prop_map(|(account, events)| Op::FindRetry { account, events }),
        2 => (0u8..4, prop::option::of(0u64..8), any::<bool>(), prop::option::of(0u64..6))
            .prop_map(|(account, from, backwards, limit)| {
                Op::ReadStream { account, from, backwards, limit }
            }),
        2 => (
            prop::option::of(0u64..30),
            any::<bool>(),
            prop::option::of(0u64..8),
            prop::collection::vec(0u8..4, 0..3),
            prop::collection::vec(0u8..3, 0..2),
        )
            .prop_map(|(from, backwards, limit, accounts, types)| {
                Op::ReadAll { from, backwards, limit, accounts, types }
            }),
        1 => Just(Op::Restart),
        1 => (
            prop::collection::vec((0u8..4, prop::collection::vec(0u8..3, 1..4)), 1..4),
            any::<Index>(),
            any::<bool>(),
            any::<Index>(),
        )
            .prop_map(|(appends, cut, zeros, offsets)| {
                Op::TornAppends { appends, cut, zeros, offsets }
            }),
    ]
}

fn account_of(n: u8) -> AccountId {
    account(&format!("acc{n}"))
}

fn direction(backwards: bool) -> Direction {
    if backwards {
        Direction::Backwards
    } else {
        Direction::Forwards
    }
}

const TYPES: [EventType; 3] = [EventType::Call, EventType::Visit, EventType::PromiseKept];

/// The state of a run that is not in either log: what has been proposed, for retries.
struct Proposals {
    /// Every batch proposed so far, with the account it was proposed to.
    batches: Vec<(u8, Vec<ProposedEvent>)>,
    /// The last event id handed out; ids are sequential so that a failing case replays alike.
    last_id: u128,
}

impl Proposals {
    fn fresh(&mut self, kind: u8) -> ProposedEvent {
        self.last_id += 1;
        let mut event = match kind {
            0 => call(&format!("call {}", self.last_id)),
            1 => visit(&format!("visit {}", self.last_id)),
            _ => promise_kept(&format!("kept {}", self.last_id)),
        };
        event.event_id = EventId::from_uuid(uuid::Uuid::from_u128(self.last_id)).unwrap();
        event
    }

    /// The account and events `events` stands for, proposed to `account` unless it retries
    /// in the original batch's account.
    fn make(&mut self, account: u8, events: &Events) -> (u8, Vec<ProposedEvent>) {
        let earlier = |pick: &Index, batches: &[(u8, Vec<ProposedEvent>)]| {
            (!batches.is_empty()).then(|| batches[pick.index(batches.len())].clone())
        };
        let made = match events {
            Events::Fresh(kinds) => (account, kinds.iter().map(|k| self.fresh(*k)).collect()),
            Events::Retry { pick, same_account } => match earlier(pick, &self.batches) {
                Some((original, batch)) => (if *same_account { original } else { account }, batch),
                None => (account, vec![self.fresh(0)]),
            },
            Events::Altered(pick) => match earlier(pick, &self.batches) {
                Some((original, mut batch)) => {
                    batch[0].actor.push_str(" (edited)");
                    (original, batch)
                }
                None => (account, vec![self.fresh(1)]),
            },
            Events::Grown(pick) => match earlier(pick, &self.batches) {
                Some((original, mut batch)) => {
                    batch.push(self.fresh(2));
                    (original, batch)
                }
                None => (account, vec![self.fresh(2)]),
            },
            Events::Shrunk(pick) => match earlier(pick, &self.batches) {
                Some((original, batch)) if batch.len() > 1 => (original, batch[1..].to_vec()),
                _ => (account, vec![self.fresh(0)]),
            },
            Events::Repeated => {
                let event = self.fresh(0);
                (account, vec![event.clone(), event])
            }
        };
        self.batches.push(made.clone());
        made
    }
}

async fn read(
    stream: futures::stream::BoxStream<
        'static,
        Result<relledger::domain::RecordedEvent, relledger::store::StoreError>,
    >,
) -> Vec<Result<Placed, relledger::store::StoreError>> {
    stream
        .map(|r| r.map(|record| placed(&record)))
        .collect()
        .await
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let model = MemoryLog::new();
    // A tiny index memtable: appends write index runs and merge them all the time, so the
    // model checks the runs, their merges and their reopening, not only the memtable.
    let options = LogOptions {
        index_memtable_records: 4,
        ..LogOptions::default()
    };
    let mut sled = Some(FileLog::open_with(dir.path(), options).unwrap());
    let mut proposals = Proposals {
        batches: Vec::new(),
        last_id: 0,
    };

    for (step, op) in ops.into_iter().enumerate() {
        let real = sled.as_ref().unwrap();
        match op {
            Op::Append {
                account,
                expected,
                events,
            } => {
                let (account, batch) = proposals.make(account, &events);
                let account = account_of(account);
                let expected = match expected {
                    Expect::Any => ExpectedRevision::Any,
                    Expect::NoStream => ExpectedRevision::NoStream,
                    Expect::StreamExists => ExpectedRevision::StreamExists,
                    Expect::Exact(r) => ExpectedRevision::Exact(r),
                    Expect::Current => match model.stream_revision(&account).await.unwrap() {
                        Some(r) => ExpectedRevision::Exact(r),
                        None => ExpectedRevision::NoStream,
                    },
                };
                let want = model.append(&account, expected, batch.clone()).await;
                let got = real.append(&account, expected, batch).await;
                prop_assert_eq!(got, want, "step {}: append", step);
                prop_assert_eq!(
                    real.stream_revision(&account).await,
                    model.stream_revision(&account).await,
                    "step {}: stream revision",
                    step
                );
            }
            Op::FindRetry { account, events } => {
                let (account, batch) = proposals.make(account, &events);
                let account = account_of(account);
                let want = model.find_retry(&account, &batch).await;
                prop_assert_eq!(
                    real.find_retry(&account, &batch).await,
                    want,
                    "step {}",
                    step
                );
            }
            Op::ReadStream {
                account,
                from,
                backwards,
                limit,
            } => {
                let account = account_of(account);
                let direction = direction(backwards);
                let want = read(model.read_stream(&account, from, direction, limit)).await;
                let got = read(real.read_stream(&account, from, direction, limit)).await;
                prop_assert_eq!(got, want, "step {}: read_stream", step);
            }
            Op::ReadAll {
                from,
                backwards,
                limit,
                accounts,
                types,
            } => {
                let filter = ReadAllFilter {
                    account_ids: accounts.into_iter().map(account_of).collect(),
                    event_types: types.into_iter().map(|t| TYPES[t as usize]).collect(),
                    ..ReadAllFilter::default()
                };
                let direction = direction(backwards);
                let want = read(model.read_all(from, direction, limit, filter.clone())).await;
                let got = read(real.read_all(from, direction, limit, filter)).await;
                prop_assert_eq!(got, want, "step {}: read_all", step);
            }
            Op::Restart => {
                let before = real.head();
                sled.take().unwrap().close();
                let reopened = FileLog::open_with(dir.path(), options).unwrap();
                prop_assert_eq!(reopened.head(), before, "step {}: head after restart", step);
                sled = Some(reopened);
            }
            Op::TornAppends {
                appends,
                cut,
                zeros,
                offsets,
            } => {
                let first = real.head().next_position;
                let mut batches: Vec<(AccountId, Vec<ProposedEvent>)> = Vec::new();
                for (account, kinds) in appends {
                    if batches
                        .iter()
                        .all(|(other, _)| *other != account_of(account))
                    {
                        let (account, batch) = proposals.make(account, &Events::Fresh(kinds));
                        batches.push((account_of(account), batch));
                    }
                }
                let answers = futures::future::join_all(batches.iter().map(|(account, batch)| {
                    real.append(account, ExpectedRevision::Any, batch.clone())
                }))
                .await;
                let mut written = Vec::new();
                for ((account, batch), answer) in batches.into_iter().zip(answers) {
                    let outcome = answer.unwrap();
                    prop_assert!(!outcome.duplicate, "step {}: fresh events", step);
                    written.push((outcome, account, batch));
                }
                written.sort_by_key(|(outcome, _, _)| outcome.first_position);
                sled.take().unwrap().close();
                // Where each append's last frame ends, and a cut somewhere in their frames.
                let ends: Vec<u64> = written
                    .iter()
                    .map(|(outcome, _, _)| raw_log::frame_end(dir.path(), outcome.last_position))
                    .collect();
                let start = raw_log::frame_offsets(dir.path())[first as usize];
                let end = *ends.last().unwrap();
                let cut_at = start + cut.index((end - start + 1) as usize) as u64;
                let records = written.last().unwrap().0.last_position + 1 - first;
                let offsets_len = first * 8 + offsets.index((records * 8 + 1) as usize) as u64;
                raw_log::crash_during_appends_from(dir.path(), first, cut_at, zeros, offsets_len);
                let reopened = FileLog::open_with(dir.path(), options).unwrap();
                for ((outcome, account, batch), end) in written.into_iter().zip(ends) {
                    if end <= cut_at {
                        let want = model.append(&account, ExpectedRevision::Any, batch).await;
                        prop_assert_eq!(want, Ok(outcome), "step {}: a whole append", step);
                    }
                }
                prop_assert_eq!(
                    reopened.head().next_position,
                    model.head().next_position,
                    "step {}: head after the crash",
                    step
                );
                sled = Some(reopened);
            }
        }
        let real = sled.as_ref().unwrap();
        prop_assert_eq!(
            real.head().next_position,
            model.head().next_position,
            "step {}: head",
            step
        );
    }

    // Reopened after a clean close, the log holds every record in index runs and none in a
    // memtable, so the answers below come from the runs (the runs written during the ops are
    // written by the index thread whenever it gets to them, so they are not counted on).
    sled.take().unwrap().close();
    let real = FileLog::open_with(dir.path(), options).unwrap();
    let count = model.head().next_position;
    prop_assert_eq!(
        real.head().next_position,
        count,
        "head after a clean reopen"
    );
    prop_assert_eq!(model.verify(), Ok(count));
    prop_assert_eq!(real.verify(), Ok(count));
    let all: Vec<_> = real
        .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .map(Result::unwrap)
        .collect()
        .await;
    prop_assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    prop_assert_eq!(verify_chain(all, ChainHash::GENESIS), Ok(count));
    for account in (0..4).map(account_of) {
        let want = read(model.read_stream(&account, None, Direction::Forwards, None)).await;
        let got = read(real.read_stream(&account, None, Direction::Forwards, None)).await;
        prop_assert_eq!(got, want, "read_stream after a clean reopen");
    }
    // The answers above came from index runs, not from a memtable.
    let runs = std::fs::read_dir(relledger::store::file::index_path(dir.path()))
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".run")
        })
        .count();
    prop_assert!(count == 0 || runs > 0, "{} records but no index run", count);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sled_behaves_like_the_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops))?;
    }
}

/// The payload kinds the generator uses, so that a new kind is not silently left out of the
/// type filters.
#[test]
fn the_generated_payloads_have_the_filtered_types() {
    let mut proposals = Proposals {
        batches: Vec::new(),
        last_id: 0,
    };
    let kinds: Vec<EventType> = (0..3)
        .map(|k| proposals.fresh(k).payload.event_type())
        .collect();
    assert_eq!(kinds, TYPES);
    assert!(matches!(proposals.fresh(0).payload, EventPayload::Call(_)));
}
