//! Crashes that tear a group commit: whatever part of a group's bytes reached the disk, the
//! reopened log holds each append whole or not at all, and a retry of any append of the torn
//! group succeeds (as a duplicate of an append that survived, or as a fresh append of one that
//! did not).
//!
//! The writer's group write is replaced by one that writes only part of the group's frames and
//! offsets and then fails: on disk that is exactly what a power loss, or a write a full disk
//! cut short, leaves behind (the failed write also keeps the next open from treating the log as
//! cleanly closed). The log is then reopened with the real writer.

use std::sync::{mpsc, Arc, Mutex};

use futures::StreamExt;

use crate::domain::{AccountId, EventId, ProposedEvent};
use crate::store::file::records::{
    log_path, read_frame, Part, FRAME_HEADER, OFFSET_BYTES, RECORDS_FILE,
};
use crate::store::file::writer::{write_and_sync, Group, WriteGroup};
use crate::store::file::{open, FileLog, LogOptions};
use crate::store::{AppendOutcome, Direction, ExpectedRevision, Log, ReadAllFilter, StoreError};

/// How much of the torn group's record bytes reached the disk.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Up to the middle of frame `k` of the group (its header, or part of its body).
    Inside(usize),
    /// Only frame `k`'s first bytes: half of its header.
    InHeader(usize),
    /// Up to the start of frame `k`: the frames before it whole, nothing after.
    Before(usize),
    /// Every frame but the page holding the start of frame `k`, which never reached the disk.
    Hole(usize),
    /// Every frame: the crash came before the `fdatasync` returned, not before the write.
    Whole,
}

/// How much of the torn group's offset entries reached the disk.
#[derive(Debug, Clone, Copy)]
enum OffsetsCut {
    All,
    Nothing,
    /// Up to the middle of the entry of the group's second record.
    InsideAnEntry,
}

/// Whether the record file ends right after the torn bytes, or the writer's zeroed space
/// prepared past the records follows them.
#[derive(Debug, Clone, Copy)]
enum After {
    Zeros,
    FileEnd,
}

/// One torn group commit.
#[derive(Debug, Clone, Copy)]
struct Tear {
    cut: Cut,
    offsets: OffsetsCut,
    after: After,
}

/// The frames of a group: where each starts in the group's bytes, its length, and its part.
fn frames_of(group: &Group) -> Vec<(usize, usize, Part)> {
    let (mut frames, mut at, mut body) = (Vec::new(), 0, Vec::new());
    let mut reader = std::io::Cursor::new(&group.frames);
    while at < group.frames.len() {
        let left = (group.frames.len() - at) as u64;
        let (length, part) = read_frame(&mut reader, left, &mut body).unwrap();
        frames.push((at, length as usize, part));
        at += length as usize;
    }
    frames
}

/// What the torn write did, for the test to check the recovery against.
#[derive(Debug, Default, Clone)]
struct Torn {
    /// How many appends the torn group held (frames ending one).
    appends: usize,
    /// How many of its appends lie wholly in the bytes that reached the disk, before any
    /// hole: the ones recovery must keep.
    whole: usize,
}

/// The group write of these tests: normal until a tear is armed, then the armed group is torn
/// and reported failed. `hold`, when armed, makes the next group wait for the test first.
struct Hook {
    tear: Option<Tear>,
    torn: Option<Torn>,
    hold: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

fn hooked(dir: &std::path::Path, hook: Arc<Mutex<Hook>>) -> FileLog {
    let records = log_path(dir).join(RECORDS_FILE);
    let write: WriteGroup = Box::new(move |shared, group| {
        let held = hook.lock().unwrap().hold.take();
        if let Some((entered, release)) = held {
            // The held group itself is written whole.
            entered.send(()).unwrap();
            release.recv().unwrap();
            return write_and_sync(shared, group);
        }
        let Some(tear) = hook.lock().unwrap().tear.take() else {
            return write_and_sync(shared, group);
        };
        let frames = frames_of(&group);
        let start_of = |k: usize| frames[k].0;
        let (cut, hole) = match tear.cut {
            Cut::Inside(k) => (start_of(k) + frames[k].1 / 2, None),
            Cut::InHeader(k) => (start_of(k) + FRAME_HEADER / 2, None),
            Cut::Before(k) => (start_of(k), None),
            Cut::Hole(k) => (group.frames.len(), Some(start_of(k))),
            Cut::Whole => (group.frames.len(), None),
        };
        let offsets = match tear.offsets {
            OffsetsCut::All => group.offsets.len(),
            OffsetsCut::Nothing => 0,
            OffsetsCut::InsideAnEntry => (OFFSET_BYTES as usize + 3).min(group.offsets.len()),
        };
        let mut bytes = group.frames[..cut].to_vec();
        if let Some(lost) = hole {
            // A 512-byte sector from frame k's start never reached the disk: zeros there.
            let end = (lost + 512).min(bytes.len());
            bytes[lost..end].fill(0);
        }
        shared
            .files
            .write(
                group.at,
                &bytes,
                group.first_position,
                &group.offsets[..offsets],
            )
            .unwrap();
        if let After::FileEnd = tear.after {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&records)
                .unwrap();
            file.set_len(group.at + cut as u64).unwrap();
        }
        // The appends recovery must keep: those whose last frame ends before the cut and the
        // hole. Frames ending an append are the ends of the appends.
        let reached = hole.unwrap_or(cut);
        let ends: Vec<usize> = frames
            .iter()
            .filter(|(_, _, part)| *part == Part::Last)
            .map(|(at, length, _)| at + length)
            .collect();
        hook.lock().unwrap().torn = Some(Torn {
            appends: ends.len(),
            whole: ends.iter().filter(|&&end| end <= reached).count(),
        });
        Err(StoreError::Unavailable(
            "the machine lost power".to_string(),
        ))
    });
    open::open(dir, write, LogOptions::default()).unwrap()
}

fn event(n: usize) -> ProposedEvent {
    // Calls of different sizes, some spanning several sectors.
    super::call_about("a call about the pier foundations ".repeat(1 + n * 7 % 40))
}

/// One append of the torn group: its account, expected revision and events.
#[derive(Debug, Clone)]
struct Append {
    account: AccountId,
    expected: ExpectedRevision,
    events: Vec<ProposedEvent>,
}

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

/// Every event id in the log, in position order.
async fn ids_in(log: &FileLog) -> Vec<EventId> {
    log.read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .map(|record| record.unwrap().event.event_id)
        .collect()
        .await
}

/// Commits a history, then `appends` as one group torn by `tear`; reopens the log and checks
/// that exactly the whole appends before the cut survived, that every retry succeeds, and that
/// the log is sound and reopens where it ends.
async fn tear_a_group(appends: &[Append], tear: Tear) {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(Mutex::new(Hook {
        tear: None,
        torn: None,
        hold: None,
    }));
    let log = hooked(dir.path(), Arc::clone(&hook));
    // A history before the torn group, which no tear may touch: one account opened with two
    // events, and the torn group's accounts that already exist.
    let mut history = Vec::new();
    let before = account("before");
    let opening: Vec<_> = (0..2).map(event).collect();
    history.extend(opening.iter().map(|e| e.event_id));
    log.append(&before, ExpectedRevision::NoStream, opening)
        .await
        .unwrap();
    for append in appends {
        if let ExpectedRevision::Exact(revision) = append.expected {
            if log
                .stream_revision(&append.account)
                .await
                .unwrap()
                .is_none()
            {
                let events: Vec<_> = (0..=revision as usize).map(event).collect();
                history.extend(events.iter().map(|e| e.event_id));
                log.append(&append.account, ExpectedRevision::NoStream, events)
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(ids_in(&log).await, history);

    // The group: while a first group (one more event of the history) is held in its write,
    // the appends queue, so that the writer takes them together as the next group.
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    hook.lock().unwrap().hold = Some((entered_tx, release_rx));
    let held_event = event(99);
    history.push(held_event.event_id);
    let held = tokio::spawn({
        let (log, before) = (log.clone(), before.clone());
        async move {
            log.append(&before, ExpectedRevision::Exact(1), vec![held_event])
                .await
        }
    });
    tokio::task::spawn_blocking(move || entered.recv().unwrap())
        .await
        .unwrap();
    let mut waiting: Vec<_> = appends
        .iter()
        .map(|a| Box::pin(log.append(&a.account, a.expected, a.events.clone())))
        .collect();
    for append in &mut waiting {
        assert!(futures::poll!(append.as_mut()).is_pending());
    }
    hook.lock().unwrap().tear = Some(tear);
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    for append in waiting {
        let answer = append.await;
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "{answer:?}"
        );
    }
    let torn = hook
        .lock()
        .unwrap()
        .torn
        .clone()
        .expect("the group was torn");
    assert_eq!(torn.appends, appends.len(), "one group: {tear:?}");
    // The crash: the process goes, with what reached the disk.
    drop(log);

    let log = FileLog::open(dir.path()).unwrap();
    let mut expected = history.clone();
    for append in &appends[..torn.whole] {
        expected.extend(append.events.iter().map(|e| e.event_id));
    }
    assert_eq!(
        ids_in(&log).await,
        expected,
        "{tear:?}: the whole appends before the cut, and no part of any other"
    );
    assert_eq!(log.head().next_position, expected.len() as u64);
    assert_eq!(log.verify(), Ok(expected.len() as u64));

    // Every retry succeeds: a duplicate of an append that survived, a fresh one otherwise.
    for (n, append) in appends.iter().enumerate() {
        let retry: AppendOutcome = log
            .append(&append.account, append.expected, append.events.clone())
            .await
            .unwrap_or_else(|e| panic!("{tear:?}: the retry of append {n}: {e}"));
        assert_eq!(retry.duplicate, n < torn.whole, "{tear:?}: append {n}");
        let revision = log.stream_revision(&append.account).await.unwrap();
        assert_eq!(retry.last_revision, revision.unwrap(), "{tear:?}");
    }
    let head = log.head();
    log.close();
    // The recovered log reopens where it ends, clean.
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.verify(), Ok(head.next_position));
}

/// Every way a tear can fall on a group of `appends`: inside each kind of frame, between
/// frames, a lost page, nothing lost; with the offsets whole, missing or cut, and the record
/// file ending at the cut or followed by prepared zeros.
async fn tear_everywhere(appends: &[Append]) {
    let frames: usize = appends.iter().map(|a| a.events.len()).sum();
    let last = frames - 1;
    let mut cuts = vec![
        Cut::Inside(0),
        Cut::InHeader(0),
        Cut::Inside(last),
        Cut::InHeader(last),
        Cut::Hole(0),
        Cut::Hole(last),
        Cut::Whole,
    ];
    // Between every two frames, and inside every frame.
    for k in 1..frames {
        cuts.push(Cut::Before(k));
        cuts.push(Cut::Inside(k));
    }
    for cut in cuts {
        for offsets in [
            OffsetsCut::All,
            OffsetsCut::Nothing,
            OffsetsCut::InsideAnEntry,
        ] {
            for after in [After::Zeros, After::FileEnd] {
                tear_a_group(
                    appends,
                    Tear {
                        cut,
                        offsets,
                        after,
                    },
                )
                .await;
            }
        }
    }
}

fn fresh(account_name: &str, expected: ExpectedRevision, events: usize) -> Append {
    Append {
        account: account(account_name),
        expected,
        events: (0..events).map(event).collect(),
    }
}

#[tokio::test]
async fn a_torn_append_of_one_event_is_dropped_whole_and_its_retry_lands() {
    tear_everywhere(&[fresh("harbour", ExpectedRevision::Exact(1), 1)]).await;
}

#[tokio::test]
async fn a_torn_append_of_two_events_is_dropped_whole_and_its_retry_lands() {
    // The case: a promise made and an order won, appended together.
    tear_everywhere(&[fresh("harbour", ExpectedRevision::Exact(1), 2)]).await;
}

#[tokio::test]
async fn a_torn_append_of_ten_events_is_dropped_whole_and_its_retry_lands() {
    tear_everywhere(&[fresh("harbour", ExpectedRevision::Exact(1), 10)]).await;
}

#[tokio::test]
async fn a_torn_group_keeps_its_whole_appends_and_drops_the_rest() {
    // Three requests in one group: a new account, a batch of three, and a single event; a tear
    // inside any frame of the second request keeps the first and drops the second and third.
    tear_everywhere(&[
        fresh("new-site", ExpectedRevision::NoStream, 2),
        fresh("harbour", ExpectedRevision::Exact(1), 3),
        fresh("quarry", ExpectedRevision::Any, 1),
    ])
    .await;
}
