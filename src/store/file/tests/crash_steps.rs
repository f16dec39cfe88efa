//! A crash at every step of the write path (`crash::Step`): a group commit's frames, offsets,
//! `fdatasync`, index entries and answer, the space prepared past the records, and a clean
//! close's offsets, index run and `MANIFEST`. Whatever the step, the reopened log holds every
//! acknowledged append, holds the interrupted one whole or not at all, verifies, and takes the
//! interrupted append's retry (as a duplicate when it survived, anew when it did not).
//!
//! The writer is stopped at the step through its crash hook, which leaves the files as a
//! process that died there would. Some cases then change the files from the hook, to leave what
//! a power loss, or a death in the middle of the step that follows, would leave instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use crate::domain::{AccountId, EventId, ProposedEvent};
use crate::store::file::crash::{CrashHook, Crashed, Step};
use crate::store::file::writer::write_and_sync;
use crate::store::file::{
    index_path, log_path, open, FileLog, LogOptions, MANIFEST_FILE, OFFSETS_FILE, RECORDS_FILE,
};
use crate::store::{Direction, ExpectedRevision, Log, ReadAllFilter, StoreError};

/// What the disk keeps of the write path when it stops at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// The process dies: the kernel still writes out every byte written before the step.
    Process,
    /// The machine loses power: what was not yet synced never reaches the disk. The records
    /// past the last synced group read as the zeros prepared there, and the offsets (synced
    /// only before an index run is written, and here none was) are gone.
    Power,
    /// The process dies while it writes an index run (the last one, at a clean close): the run
    /// is still under its temporary name, half written.
    HalfARun,
    /// The process dies while it replaces the `MANIFEST`: the new one is half written under
    /// its temporary name, the old one (an open log's) still in place.
    HalfAManifest,
}

/// Every step, with every loss that can follow it.
const CASES: [(Step, Loss); 16] = [
    (Step::FramesWritten, Loss::Process),
    (Step::FramesWritten, Loss::Power),
    (Step::OffsetsWritten, Loss::Process),
    (Step::OffsetsWritten, Loss::Power),
    (Step::RecordsSynced, Loss::Process),
    (Step::RecordsSynced, Loss::Power),
    (Step::Indexed, Loss::Process),
    (Step::Indexed, Loss::Power),
    (Step::Answered, Loss::Process),
    (Step::Answered, Loss::Power),
    (Step::SpacePrepared, Loss::Process),
    (Step::SpacePrepared, Loss::Power),
    (Step::OffsetsSynced, Loss::Process),
    (Step::RunWritten, Loss::Process),
    (Step::RunWritten, Loss::HalfARun),
    (Step::ManifestWriting, Loss::HalfAManifest),
];

/// Whether the step comes at a clean close, after every append was answered.
fn at_close(step: Step) -> bool {
    matches!(
        step,
        Step::OffsetsSynced | Step::RunWritten | Step::ManifestWriting
    )
}

/// Whether the interrupted append's records reached the disk whole, given where it stopped.
/// Every step comes after the group's frames were written in full; only a power loss before
/// the `fdatasync` takes them away again.
fn survives(step: Step, loss: Loss) -> bool {
    !(loss == Loss::Power && matches!(step, Step::FramesWritten | Step::OffsetsWritten))
}

/// Whether the interrupted append was answered before the step.
fn acknowledged(step: Step) -> bool {
    matches!(step, Step::Answered | Step::SpacePrepared) || at_close(step)
}

/// The crash the hook is armed with, and whether it came.
struct Armed {
    case: Option<(Step, Loss)>,
    /// The frames' end in `log/records` before the interrupted group: where a power loss
    /// before its `fdatasync` leaves the records ending.
    durable_bytes: u64,
    /// Whether the interrupted group has begun: the writer reports the steps that follow a
    /// group's answers after the answers, so the group before it may still report some once the
    /// test has armed the hook.
    begun: bool,
    crashed: bool,
    /// A half-written file the loss left, which the next open must clear away.
    planted: Option<PathBuf>,
}

/// A hook that stops the writer at the armed step and leaves the files as its loss says.
fn hook(dir: PathBuf, armed: Arc<Mutex<Armed>>) -> CrashHook {
    Box::new(move |step| {
        let mut armed = armed.lock().unwrap();
        let Some((at, loss)) = armed.case else {
            return Ok(());
        };
        armed.begun |= step == Step::FramesWritten;
        if !armed.begun || step != at {
            return Ok(());
        }
        armed.case = None;
        armed.crashed = true;
        armed.planted = lose(&dir, step, loss, armed.durable_bytes);
        Err(Crashed)
    })
}

/// Changes the files of the log in `dir` to what the disk keeps after `loss` at `step`;
/// returns the half-written file it left, if any.
fn lose(dir: &Path, step: Step, loss: Loss, durable_bytes: u64) -> Option<PathBuf> {
    let file = |path: &Path| std::fs::OpenOptions::new().write(true).open(path).unwrap();
    match loss {
        Loss::Process => None,
        Loss::Power => {
            if !survives(step, loss) {
                let records = file(&log_path(dir).join(RECORDS_FILE));
                let length = records.metadata().unwrap().len();
                let zeros = vec![0; (length - durable_bytes) as usize];
                std::os::unix::fs::FileExt::write_all_at(&records, &zeros, durable_bytes).unwrap();
            }
            file(&log_path(dir).join(OFFSETS_FILE)).set_len(0).unwrap();
            None
        }
        Loss::HalfARun => {
            let run = newest_run(dir);
            let temporary = run.with_extension("tmp");
            std::fs::rename(&run, &temporary).unwrap();
            let half = file(&temporary);
            let length = half.metadata().unwrap().len();
            half.set_len(length / 2).unwrap();
            Some(temporary)
        }
        Loss::HalfAManifest => {
            let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
            std::fs::write(&temporary, br#"{"format":1,"closed_at":{"next_posi"#).unwrap();
            Some(temporary)
        }
    }
}

/// The index run of `dir` that was written last: the one reaching furthest (`FROM-TO-LEVEL.run`),
/// of the lowest level, which a merge has not yet replaced.
fn newest_run(dir: &Path) -> PathBuf {
    let mut runs: Vec<(u64, u64, PathBuf)> = std::fs::read_dir(index_path(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "run"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let numbers: Vec<u64> = name.split('-').map(|n| n.parse().unwrap()).collect();
            (numbers[1], numbers[2], path)
        })
        .collect();
    runs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    runs.into_iter().next().expect("an index run was written").2
}

/// A call whose summary is about `bytes` long.
fn call(bytes: usize) -> ProposedEvent {
    super::call_about("x".repeat(bytes))
}

/// Every event id in the log, in position order.
async fn ids_in(log: &FileLog) -> Vec<EventId> {
    log.read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .map(|record| record.unwrap().event.event_id)
        .collect()
        .await
}

/// Appends a history, then one append that stops the writer at `step`; reopens after `loss`
/// and checks what survived, the chain, the retry, and a clean reopen.
async fn crash_at(step: Step, loss: Loss, options: LogOptions) {
    let case = format!(
        "{step:?} with {loss:?}, runs of {} records",
        options.index_memtable_records
    );
    let dir = tempfile::tempdir().unwrap();
    let armed = Arc::new(Mutex::new(Armed {
        case: None,
        durable_bytes: 0,
        begun: false,
        crashed: false,
        planted: None,
    }));
    let crashes = Some(Mutex::new(hook(
        dir.path().to_path_buf(),
        Arc::clone(&armed),
    )));
    let log = open::open_crashing(dir.path(), Box::new(write_and_sync), options, crashes).unwrap();
    let harbour = AccountId::parse("harbour").unwrap();
    let mut history = Vec::new();
    for (expected, events) in [
        (ExpectedRevision::NoStream, 2),
        (ExpectedRevision::Exact(1), 3),
        (ExpectedRevision::Any, 1),
    ] {
        let events: Vec<_> = (0..events).map(|_| call(300)).collect();
        history.extend(events.iter().map(|e| e.event_id));
        log.append(&harbour, expected, events).await.unwrap();
    }

    // Ten events of 60 KB: more than the space prepared past the records has left, so that
    // this group prepares more.
    let interrupted: Vec<_> = (0..10).map(|_| call(60_000)).collect();
    let interrupted_ids: Vec<_> = interrupted.iter().map(|e| e.event_id).collect();
    {
        let mut armed = armed.lock().unwrap();
        armed.case = Some((step, loss));
        armed.durable_bytes = log.inner.shared.committed_bytes();
    }
    let answer = log
        .append(&harbour, ExpectedRevision::Exact(5), interrupted.clone())
        .await;
    if acknowledged(step) {
        answer.unwrap_or_else(|e| panic!("{case}: the append is answered first: {e}"));
    } else {
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "{case}: {answer:?}"
        );
        assert_eq!(
            log.head().next_position,
            history.len() as u64,
            "{case}: no reader sees an append the writer did not answer"
        );
    }
    // The crash: the process goes (a step at close is reached on the way).
    drop(log);
    assert!(
        armed.lock().unwrap().crashed,
        "{case}: the step was reached"
    );

    let log = FileLog::open(dir.path()).unwrap_or_else(|e| panic!("{case}: reopens: {e}"));
    let present = survives(step, loss);
    let mut expected = history.clone();
    if present {
        expected.extend(&interrupted_ids);
    }
    assert_eq!(
        ids_in(&log).await,
        expected,
        "{case}: every acknowledged append, and the interrupted one whole or not at all"
    );
    assert_eq!(log.verify(), Ok(expected.len() as u64), "{case}");
    if let Some(planted) = armed.lock().unwrap().planted.take() {
        assert!(
            !planted.exists(),
            "{case}: the open clears {planted:?} away"
        );
    }

    let retry = log
        .append(&harbour, ExpectedRevision::Exact(5), interrupted)
        .await
        .unwrap_or_else(|e| panic!("{case}: the retry: {e}"));
    assert_eq!(retry.duplicate, present, "{case}");
    assert_eq!(
        (retry.first_position, retry.first_revision),
        (6, 6),
        "{case}"
    );
    history.extend(&interrupted_ids);
    assert_eq!(ids_in(&log).await, history, "{case}");
    let head = log.head();
    log.close();
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head, "{case}: the recovered log closes cleanly");
    assert_eq!(log.verify(), Ok(head.next_position), "{case}");
}

#[tokio::test]
async fn a_crash_at_any_step_of_the_write_path_keeps_whole_appends_only() {
    for (step, loss) in CASES {
        crash_at(step, loss, LogOptions::default()).await;
    }
}

/// With runs of four records, the history and the interrupted append are written as index
/// runs while the log is open (the writer syncs the offsets between groups, and the index
/// thread writes the runs beside it): a crash then falls among runs, and on the offsets' sync
/// between two groups. A power loss is left out: it could lose only offsets past the last run,
/// which the test cannot tell from the outside while the index thread writes runs.
#[tokio::test]
async fn a_crash_at_any_step_among_index_runs_keeps_whole_appends_only() {
    let options = LogOptions {
        index_memtable_records: 4,
        ..LogOptions::default()
    };
    for (step, loss) in CASES {
        if loss != Loss::Power {
            crash_at(step, loss, options).await;
        }
    }
}
