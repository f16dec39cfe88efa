//! Recovering the log's head when a data dir is opened: the last record the index runs cover
//! is checked, and the frames past the runs are read back, linked to the chain and indexed,
//! whole appends only (see [`recover`]).

use std::io;

use super::index::{Covered, Entry, Index};
use super::read;
use super::records::{encode_offset, read_frame, BadFrame, Part, RecordFiles, OFFSET_BYTES};
use crate::domain::{ChainHash, RecordedEvent, Timestamp};
use crate::store::chain::ChainVerifier;
use crate::store::codec::decode_record_at;
use crate::store::{Direction, LogHead, StoreError};

/// Refuses record files shorter than `records` records in `bytes` bytes of frames, which the
/// index (or an older format's watermark) says were durable; returns the records file's length.
pub(super) fn check_lengths(files: &RecordFiles, records: u64, bytes: u64) -> Result<u64, String> {
    let (records_len, offsets_len) = files.lengths().map_err(|e| e.to_string())?;
    if records_len < bytes || offsets_len < records * OFFSET_BYTES {
        return Err(format!(
            "records were lost or changed while it was closed: its index covers {records} \
             records in {bytes} bytes, but the record files hold {records_len} bytes and {} \
             offsets",
            offsets_len / OFFSET_BYTES
        ));
    }
    Ok(records_len)
}

/// The reason inside a store error, for an [`OpenError::Corrupt`] that already says "corrupt".
fn reason(error: StoreError) -> String {
    match error {
        StoreError::Corrupt(reason) | StoreError::Unavailable(reason) => reason,
        other => other.to_string(),
    }
}

/// What opening the log learns from the record files and the index.
pub(super) struct Recovered {
    /// The committed head.
    pub(super) head: LogHead,
    /// The last record's `recorded_at` ([`Timestamp::EPOCH`] for an empty log), below which
    /// no later record's may fall.
    pub(super) last_recorded_at: Timestamp,
    /// The byte length of the frames of the committed records.
    pub(super) bytes: u64,
}

/// Finds the head of the log and brings the index up to it.
///
/// The index runs cover the records up to `covered`, and the files are durable up to there
/// (a run is written only after both files are synced to its end): the last record there is
/// checked (it decodes, its hash recomputes, it links to the record before it, and both
/// indexes point at it); the whole chain is checked by `FileLog::verify`, not here, so that
/// opening stays cheap. Past the runs lie the frames written since the last run, acknowledged
/// or not: each is read back, checked and linked to the chain, and the records of every whole
/// append are indexed. The log ends after the last append whose last frame is whole (see
/// `records::Part`): a torn frame, the zeroed space the writer prepares past the records, or
/// the file's end cuts off the append it falls in, whose frames the crash left only in part
/// (never acknowledged: acknowledgement waits for the group's `fdatasync`). A whole frame that
/// does not decode or link is damage, not a torn write, and the dir is refused.
pub(super) fn recover(
    index: &Index,
    files: &RecordFiles,
    covered: Covered,
) -> Result<Recovered, String> {
    let records_len = check_lengths(files, covered.to, covered.to_bytes)?;
    let mut recovered = Recovered {
        head: LogHead::EMPTY,
        last_recorded_at: Timestamp::EPOCH,
        bytes: covered.to_bytes,
    };
    if covered.to > 0 {
        let last = last_indexed(index, files, covered)?;
        recovered.head = LogHead {
            next_position: covered.to,
            last_hash: last.hash,
        };
        recovered.last_recorded_at = last.recorded_at;
    }
    reindex_tail(index, files, &mut recovered, records_len)?;
    Ok(recovered)
}

/// The last record the index runs cover, checked.
fn last_indexed(
    index: &Index,
    files: &RecordFiles,
    covered: Covered,
) -> Result<RecordedEvent, String> {
    let mut records = Vec::new();
    read::for_each_stored(
        files,
        covered.to_bytes,
        covered.to.saturating_sub(2)..covered.to,
        Direction::Forwards,
        covered.to,
        |position, value| {
            records.push(decode_record_at(position, value)?);
            Ok(())
        },
    )
    .map_err(reason)?;
    let last = records.pop().ok_or("the last record is missing")?;
    let position = last.position;
    let expected_prev = records
        .pop()
        .map_or(ChainHash::GENESIS, |before| before.hash);
    if last.prev_hash != expected_prev {
        return Err(format!(
            "the last record (position {position}) does not link to the one before"
        ));
    }
    let stream_entry = index
        .positions(&last.account_id, last.revision..last.revision + 1)
        .map_err(reason)?;
    if stream_entry != [position] {
        return Err(format!(
            "the stream index does not point at the last record (position {position})"
        ));
    }
    let id_entry = index
        .position_of(&last.event.event_id, covered.to)
        .map_err(reason)?;
    if id_entry != Some(position) {
        return Err(format!(
            "the id index does not point at the last record (position {position})"
        ));
    }
    Ok(last)
}

/// Reads the frames past the index runs, indexes the records of every whole append they hold
/// (writing runs as the memtable fills, so a long tail, such as a whole log being re-indexed,
/// needs no more memory than the writer does), and cuts both files after the last whole
/// append: an append whose last frame is missing, torn or damaged is dropped with it, so that
/// after any crash each append is in the log whole or not at all.
fn reindex_tail(
    index: &Index,
    files: &RecordFiles,
    recovered: &mut Recovered,
    records_len: u64,
) -> Result<(), String> {
    let failed = |e: io::Error| format!("cannot read its record files: {e}");
    let mut reader = io::BufReader::with_capacity(
        1024 * 1024,
        files.reader_at(recovered.bytes).map_err(failed)?,
    );
    let mut chain =
        ChainVerifier::starting_at(recovered.head.next_position, recovered.head.last_hash);
    let first = recovered.head.next_position;
    let mut pending = Reindexed {
        index,
        files,
        entries: Vec::new(),
        offsets: Vec::new(),
        offsets_from: first,
    };
    // The records of the append being read, with their frames' offsets: indexed only once
    // its last frame shows that it is whole.
    let mut append: Vec<(Entry, u64)> = Vec::new();
    // Where the frames read so far end.
    let mut end = recovered.bytes;
    let mut body = Vec::new();
    let interrupted = loop {
        let position = recovered.head.next_position + append.len() as u64;
        if end >= records_len {
            break (!append.is_empty())
                .then(|| "the record file ends before the append's last record".to_string());
        }
        match read_frame(&mut reader, records_len - end, &mut body) {
            Ok((length, part)) => {
                let record = decode_record_at(position, &body).map_err(reason)?;
                chain.push(&record).map_err(|e| e.to_string())?;
                append.push((
                    Entry {
                        position,
                        id: record.event.event_id,
                        account: record.account_id,
                        revision: record.revision,
                    },
                    end,
                ));
                end += length;
                if part == Part::Last {
                    for (entry, offset) in append.drain(..) {
                        encode_offset(offset, &mut pending.offsets);
                        pending.entries.push(entry);
                    }
                    recovered.head = LogHead {
                        next_position: position + 1,
                        last_hash: record.hash,
                    };
                    recovered.last_recorded_at = record.recorded_at;
                    recovered.bytes = end;
                    if pending.entries.len() >= 4096 {
                        pending.write(recovered.bytes)?;
                    }
                }
            }
            // The space the writer prepared past the records (see `RecordFiles::prepare`):
            // where the records end, unless an append was still going on.
            Err(BadFrame::Unwritten) => {
                break (!append.is_empty()).then(|| {
                    format!("no frame was written at position {position}, inside an append")
                })
            }
            Err(bad) => break Some(format!("at position {position}, {}", bad.reason())),
        }
    };
    if let Some(why) = interrupted {
        // The frames past the last whole append were never acknowledged: an append is
        // answered only after the `fdatasync` of its whole group.
        tracing::warn!(
            kept_records = recovered.head.next_position,
            dropped_positions = %format_args!("{}..={}", recovered.head.next_position, recovered.head.next_position + append.len() as u64),
            cut_at_byte = recovered.bytes,
            reason = %why,
            "the log ends in an append a crash interrupted; cutting the append off"
        );
    }
    pending.write(recovered.bytes)?;
    if first < recovered.head.next_position {
        tracing::info!(
            records = recovered.head.next_position - first,
            "indexed the records written since the last index run"
        );
    }
    files
        .truncate(recovered.bytes, recovered.head.next_position)
        .map_err(failed)
}

/// Records re-read past the index runs whose offsets are not yet written nor their entries
/// indexed: written and indexed a few thousand at a time.
struct Reindexed<'a> {
    index: &'a Index,
    files: &'a RecordFiles,
    entries: Vec<Entry>,
    /// The offsets of the records from position `offsets_from`.
    offsets: Vec<u8>,
    offsets_from: u64,
}

impl Reindexed<'_> {
    /// Writes the offsets and indexes the records gathered so far, whose frames end at `bytes`.
    fn write(&mut self, bytes: u64) -> Result<(), String> {
        let files = self.files;
        let failed = |e: io::Error| format!("cannot write its offsets or index: {e}");
        files
            .write(bytes, &[], self.offsets_from, &self.offsets)
            .map_err(failed)?;
        self.offsets_from += self.offsets.len() as u64 / OFFSET_BYTES;
        self.offsets.clear();
        let sync = || files.sync_records().and_then(|_| files.sync_offsets());
        self.index
            .add_written(&mut self.entries, bytes, sync)
            .map_err(failed)
    }
}
