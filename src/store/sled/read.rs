//! Blocking reads of the sled tree: the committed view the readers and the writer share.
//!
//! Every function takes the committed end of the log (`LogHead::next_position` when the read
//! began) and ignores what lies at or past it: records the writer has applied but not yet
//! flushed are invisible until the head moves past them.

use std::ops::Range;

use ::sled::Db;

use super::keys;
use crate::domain::{AccountId, EventId, RecordedEvent};
use crate::store::codec::decode_record_at;
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

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt(reason)
}

/// The record at `position`, which must exist.
pub(crate) fn record_at(db: &Db, position: u64) -> Result<RecordedEvent, StoreError> {
    match db.get(keys::record_key(position)).map_err(sled_error)? {
        Some(value) => decode_record_at(position, &value),
        None => Err(corrupt(format!(
            "the record at position {position} is missing"
        ))),
    }
}

/// Where `id` is recorded among the records before `committed_end`, if it is.
pub(crate) fn recorded_id(
    db: &Db,
    id: &EventId,
    committed_end: u64,
) -> Result<Option<RecordedId>, StoreError> {
    let Some(value) = db.get(keys::event_id_key(id)).map_err(sled_error)? else {
        return Ok(None);
    };
    let (position, digest) = keys::parse_event_id_value(&value)
        .ok_or_else(|| corrupt(format!("the id index entry of {id} does not decode")))?;
    if position >= committed_end {
        return Ok(None);
    }
    let record = record_at(db, position)?;
    if record.event.event_id != *id {
        return Err(corrupt(format!(
            "the id index puts {id} at position {position}, which holds {}",
            record.event.event_id
        )));
    }
    Ok(Some(RecordedId {
        position,
        account: record.account_id,
        revision: record.revision,
        digest,
    }))
}

/// The last revision of `account`'s stream among the records before `committed_end`.
pub(crate) fn stream_revision(
    db: &Db,
    account: &AccountId,
    committed_end: u64,
) -> Result<Option<u64>, StoreError> {
    let prefix = keys::stream_prefix(account);
    for entry in db.scan_prefix(&prefix).rev() {
        let (key, value) = entry.map_err(sled_error)?;
        let (Some(revision), Some(position)) = (
            keys::stream_key_revision(&prefix, &key),
            keys::parse_position(&value),
        ) else {
            return Err(corrupt(format!(
                "a stream index entry of {account} does not decode"
            )));
        };
        if position < committed_end {
            return Ok(Some(revision));
        }
    }
    Ok(None)
}

/// Adds to `records` the records at the positions of `page` that pass `filter`, in
/// `direction`'s order, up to the first that cannot be read.
pub(crate) fn fetch_all(
    db: &Db,
    page: Range<u64>,
    direction: Direction,
    filter: &ReadAllFilter,
    records: &mut Vec<RecordedEvent>,
) -> Result<(), StoreError> {
    // Room for the whole page at once: growing the vector record by record copies the
    // records read so far each time it doubles.
    records.reserve(usize::try_from(page.end - page.start).unwrap_or(0));
    let range = db.range(keys::record_key(page.start)..keys::record_key(page.end));
    let entries: Box<dyn Iterator<Item = _>> = match direction {
        Direction::Forwards => Box::new(range),
        Direction::Backwards => Box::new(range.rev()),
    };
    let mut expected: Box<dyn Iterator<Item = u64>> = match direction {
        Direction::Forwards => Box::new(page.clone()),
        Direction::Backwards => Box::new(page.clone().rev()),
    };
    for entry in entries {
        let (key, value) = entry.map_err(sled_error)?;
        let want = expected.next();
        let position = keys::record_key_position(&key);
        if position != want {
            let missing = want.map_or(String::new(), |p| format!(" at position {p}"));
            return Err(corrupt(format!("the log has a gap{missing}")));
        }
        let record = decode_record_at(position.unwrap_or_default(), &value)?;
        if filter.matches(&record) {
            records.push(record);
        }
    }
    if let Some(missing) = expected.next() {
        return Err(corrupt(format!(
            "the record at position {missing} is missing"
        )));
    }
    Ok(())
}

/// Adds to `records` the records of `account` at the revisions of `page`, in `direction`'s
/// order, up to the first that cannot be read.
pub(crate) fn fetch_stream(
    db: &Db,
    account: &AccountId,
    page: Range<u64>,
    direction: Direction,
    records: &mut Vec<RecordedEvent>,
) -> Result<(), StoreError> {
    let revisions: Vec<u64> = match direction {
        Direction::Forwards => page.collect(),
        Direction::Backwards => page.rev().collect(),
    };
    for revision in revisions {
        let value = db
            .get(keys::stream_key(account, revision))
            .map_err(sled_error)?;
        let position = value
            .as_deref()
            .and_then(keys::parse_position)
            .ok_or_else(|| {
                corrupt(format!(
                    "the stream index of {account} lacks revision {revision}"
                ))
            })?;
        let record = record_at(db, position)?;
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
