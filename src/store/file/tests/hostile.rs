//! Recovery over a record file edited behind the log's back, past the index runs (where a
//! crash leaves the frames it re-reads): bytes flipped, inserted, deleted or zeroed, the file
//! cut, a frame's length rewritten up to 4 GiB. Opening refuses the dir or recovers a prefix of
//! whole appends, unchanged, that reads back whole; it never panics.

use futures::TryStreamExt;
use proptest::prelude::*;

use super::{call, failing_from, open, FileLog};
use crate::domain::AccountId;
use crate::hostile_input::{byte_edit, index, ByteEdit};
use crate::store::file::records::{log_path, read_frame, BadFrame, RECORDS_FILE};
use crate::store::file::LogOptions;
use crate::store::{Direction, ExpectedRevision, Log, ReadAllFilter};

/// Appends of two events each.
const APPENDS: usize = 3;

/// One edit of the frames' bytes.
#[derive(Clone, Debug)]
enum Edit {
    Bytes(ByteEdit),
    Zeros { at: f64, len: usize },
    Length { at: f64, length: u32 },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = || 0.0f64..1.0;
    prop_oneof![
        byte_edit(1, 29).prop_map(Edit::Bytes),
        (at(), 1usize..300).prop_map(|(at, len)| Edit::Zeros { at, len }),
        (at(), prop_oneof![Just(u32::MAX), any::<u32>(), 0u32..400])
            .prop_map(|(at, length)| Edit::Length { at, length }),
    ]
}

/// Where the frames end in `bytes` (prepared zeros follow them).
fn frames_end(bytes: &[u8]) -> usize {
    let mut reader = std::io::Cursor::new(bytes);
    let (mut end, mut body) = (0u64, Vec::new());
    loop {
        match read_frame(&mut reader, bytes.len() as u64 - end, &mut body) {
            Ok((length, _)) => end += length,
            Err(BadFrame::Unwritten | BadFrame::Truncated) => return end as usize,
            Err(bad) => panic!("the log wrote a bad frame: {bad:?}"),
        }
    }
}

fn apply(bytes: &mut Vec<u8>, frames: usize, edit: &Edit) {
    // An earlier edit may have cut the file inside the frames.
    let frames = frames.min(bytes.len());
    if frames == 0 {
        return;
    }
    let index = |at: f64| index(at, frames - 1);
    match *edit {
        Edit::Bytes(ref edit) => edit.apply_within(bytes, frames),
        Edit::Zeros { at, len } => bytes[index(at)..(index(at) + len).min(frames)].fill(0),
        Edit::Length { at, length } => {
            let at = index(at).min(bytes.len().saturating_sub(4));
            bytes[at..at + 4].copy_from_slice(&length.to_le_bytes());
        }
    }
}

/// Writes a log of [`APPENDS`] appends and one more whose write fails after reaching the disk
/// (as a crash before its answer would leave it: the log is not closed cleanly, and its frames
/// lie past the index runs), edits its record file, reopens it, and checks what it recovered.
async fn edit_and_recover(edits: &[Edit]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let acme = AccountId::parse("acme").unwrap();
    let unanswered = vec![call(), call()];
    let written = {
        let log = open::open(dir.path(), failing_from(APPENDS), LogOptions::default()).unwrap();
        for _ in 0..APPENDS {
            log.append(&acme, ExpectedRevision::Any, vec![call(), call()])
                .await
                .unwrap();
        }
        let records: Vec<_> = log
            .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
            .try_collect()
            .await
            .unwrap();
        let failed = log
            .append(&acme, ExpectedRevision::Any, unanswered.clone())
            .await;
        assert!(failed.is_err(), "the last write fails");
        records
    };
    let path = log_path(dir.path()).join(RECORDS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let frames = frames_end(&bytes);
    for edit in edits {
        apply(&mut bytes, frames, edit);
    }
    std::fs::write(&path, &bytes).unwrap();
    let Ok(log) = FileLog::open(dir.path()) else {
        // Refused: a whole frame that checks but does not decode or link is damage.
        return Ok(());
    };
    // Whole appends only: the three answered ones, and the unanswered one if it survived.
    let head = log.head().next_position as usize;
    prop_assert!(
        head <= written.len() + 2 && head.is_multiple_of(2),
        "recovered to {}",
        head
    );
    let read: Vec<_> = log
        .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .try_collect()
        .await
        .expect("what recovery kept reads back");
    prop_assert_eq!(read.len(), head);
    let kept = head.min(written.len());
    prop_assert_eq!(&read[..kept], &written[..kept]);
    let survived: Vec<_> = read[kept..].iter().map(|r| &r.event).collect();
    prop_assert_eq!(
        survived,
        unanswered.iter().take(head - kept).collect::<Vec<_>>()
    );
    Ok(())
}

proptest! {
    // Each case writes, syncs and reopens a log: a few dozen keep the property to seconds.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn recovery_keeps_a_prefix_of_whole_appends_or_refuses(edits in proptest::collection::vec(edit(), 1..3)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(edit_and_recover(&edits))?;
    }
}
