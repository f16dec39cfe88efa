//! Blocking reads of the record files and their index: the committed view the readers and the
//! writer share.
//!
//! Every function takes the committed end of the log (`LogHead::next_position` when the read
//! began) and ignores what lies at or past it: records the writer has applied but not yet
//! flushed are invisible until the head moves past them.

use std::ops::Range;

use super::records::{decode_frame, RecordFiles};
use super::Shared;
use crate::domain::{AccountId, EventId, RecordedEvent};
use crate::store::codec::{content_digest, decode_checked_record_at};
use crate::store::idempotency::RecordedId;
use crate::store::{Direction, ReadAllFilter, StoreError};

/// A sled failure as the log reports it: its own corruption report is `Corrupt`, anything
/// else (IO above all) `Unavailable`.
pub(crate) fn sled_error(error: ::sled::Error) -> StoreError {
    match error {
        ::sled::Error::Corruption { .. } => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

/// A failure to read the record files.
pub(crate) fn file_error(error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot read the log's records: {error}"))
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt(reason)
}

/// Calls `each` with the stored value of every position of `page` in `direction`'s order, all
/// of them below `committed_end`, whose frames end at or before `committed_bytes`: one read of
/// their offsets and one of their frames. Stops at the first that cannot be read (its error
/// names it) or that `each` refuses.
pub(crate) fn for_each_stored(
    files: &RecordFiles,
    committed_bytes: u64,
    page: Range<u64>,
    direction: Direction,
    committed_end: u64,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if page.is_empty() {
        return Ok(());
    }
    // The frame after the page tells where the page's frames end; after the last committed
    // record the writer's published end does (it is never below the committed frames' end).
    let bounded = page.end < committed_end;
    let offsets = files
        .offsets(page.start, page.end + u64::from(bounded))
        .map_err(|e| short_offsets(e, page.start))?;
    let start = offsets[0];
    // Never past the committed frames: a damaged offset must not make the read huge.
    let end = if bounded {
        offsets[offsets.len() - 1].min(committed_bytes)
    } else {
        committed_bytes
    };
    let bytes = files.read(start, end).map_err(file_error)?;
    let frame = |index: usize, position: u64| {
        let body = offsets[index]
            .checked_sub(start)
            .and_then(|at| bytes.get(usize::try_from(at).ok()?..))
            .ok_or_else(|| {
                corrupt(format!(
                    "the record at position {position}: its offset is outside the log"
                ))
            })?;
        decode_frame(body).map(|(body, _)| body).map_err(|bad| {
            corrupt(format!(
                "the record at position {position}: {}",
                bad.reason()
            ))
        })
    };
    let count = usize::try_from(page.end - page.start).unwrap_or(usize::MAX);
    let indexes: Box<dyn Iterator<Item = usize>> = match direction {
        Direction::Forwards => Box::new(0..count),
        Direction::Backwards => Box::new((0..count).rev()),
    };
    for index in indexes {
        let position = page.start + index as u64;
        each(position, frame(index, position)?)?;
    }
    Ok(())
}

/// A failed read of the offsets file: a short one means entries are missing.
fn short_offsets(error: std::io::Error, from: u64) -> StoreError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        corrupt(format!(
            "the offsets of the records from position {from} are missing"
        ))
    } else {
        file_error(error)
    }
}

/// The record at `position`, which must be below `committed_end`.
pub(crate) fn record_at(
    shared: &Shared,
    position: u64,
    committed_end: u64,
) -> Result<RecordedEvent, StoreError> {
    let mut found = None;
    for_each_stored(
        &shared.files,
        shared.committed_bytes(),
        position..position + 1,
        Direction::Forwards,
        committed_end,
        |at, value| {
            found = Some(decode_checked_record_at(at, value)?);
            Ok(())
        },
    )?;
    found.ok_or_else(|| corrupt(format!("the record at position {position} is missing")))
}

/// Where `id` is recorded among the records before `committed_end`, if it is.
pub(crate) fn recorded_id(
    shared: &Shared,
    id: &EventId,
    committed_end: u64,
) -> Result<Option<RecordedId>, StoreError> {
    let Some(position) = shared.index.position_of(id, committed_end)? else {
        return Ok(None);
    };
    let record = record_at(shared, position, committed_end)?;
    if record.event.event_id != *id {
        return Err(corrupt(format!(
            "the id index puts {id} at position {position}, which holds {}",
            record.event.event_id
        )));
    }
    // The digest is recomputed rather than kept in the index: it is needed only by a retry,
    // and keeping it would triple the id index.
    Ok(Some(RecordedId {
        position,
        digest: content_digest(&record.event),
        account: record.account_id,
        revision: record.revision,
    }))
}

/// Adds to `records` the records at the positions of `page` that pass `filter`, in
/// `direction`'s order, up to the first that cannot be read.
pub(crate) fn fetch_all(
    shared: &Shared,
    page: Range<u64>,
    direction: Direction,
    committed_end: u64,
    filter: &ReadAllFilter,
    records: &mut Vec<RecordedEvent>,
) -> Result<(), StoreError> {
    // Room for the whole page at once: growing the vector record by record copies the
    // records read so far each time it doubles.
    records.reserve(usize::try_from(page.end - page.start).unwrap_or(0));
    let bytes = shared.committed_bytes();
    for_each_stored(
        &shared.files,
        bytes,
        page,
        direction,
        committed_end,
        |position, value| {
            let record = decode_checked_record_at(position, value)?;
            if filter.matches(&record) {
                records.push(record);
            }
            Ok(())
        },
    )
}

/// Adds to `records` the records of `account` at the revisions of `page`, in `direction`'s
/// order, up to the first that cannot be read.
pub(crate) fn fetch_stream(
    shared: &Shared,
    account: &AccountId,
    page: Range<u64>,
    direction: Direction,
    committed_end: u64,
    records: &mut Vec<RecordedEvent>,
) -> Result<(), StoreError> {
    let mut located: Vec<(u64, u64)> = page
        .clone()
        .zip(shared.index.positions(account, page)?)
        .collect();
    if direction == Direction::Backwards {
        located.reverse();
    }
    for (revision, position) in located {
        let record = record_at(shared, position, committed_end)?;
        if record.account_id != *account || record.revision != revision {
            return Err(corrupt(format!(
                "the stream index puts {account} revision {revision} at position {position}, \
                 which holds {} revision {}",
                record.account_id, record.revision
            )));
        }
        records.push(record);
    }
    Ok(())
}
