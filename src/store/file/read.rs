//! Blocking reads of the record files and their index: the committed view the readers and the
//! writer share.
//!
//! Every function takes the committed end of the log (`LogHead::next_position` when the read
//! began) and ignores what lies at or past it: records the writer has applied but not yet
//! flushed are invisible until the head moves past them.

use std::future::Future;
use std::ops::Range;

use futures::future::Either;

use super::records::{decode_frame, RecordFiles, Wait, FRAME_HEADER};
use super::Shared;
use crate::domain::{AccountId, EventId, RecordedEvent};
use crate::store::codec::{content_digest, decode_checked_record_at};
use crate::store::idempotency::RecordedId;
use crate::store::page::Fetched;
use crate::store::{Direction, ReadAllFilter, StoreError};

/// A failure to read the record files.
pub(crate) fn file_error(error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot read the log's records: {error}"))
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt(reason)
}

/// Frames read from the record files and checked (length and CRC), not yet decoded.
///
/// A page read is done in two steps: reading and checking the page's frames ([`load_all`],
/// [`load_stream`]: inline when the page cache holds them, else on the blocking pool), and
/// decoding them ([`decode_all`], [`decode_stream`]) by the reader that takes the records,
/// when the page reaches it. Decoding allocates a record's
/// text, a dozen strings, and the reader frees them once it has used the record (encoded it
/// for the wire, folded it): decoded by the reader, they are allocated and freed on the same
/// thread. Decoded on the blocking pool, every one was a free the allocator had to hand back to
/// another thread's heap (docs/decisions/0008-records-decoded-by-their-reader.md).
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// The frames as read, back to back.
    bytes: Vec<u8>,
    /// Each frame's position and where its body lies in `bytes`, in read order.
    bodies: Vec<(u64, Range<usize>)>,
    /// The error that stopped the read after these frames, if one did.
    error: Option<StoreError>,
}

impl Frames {
    /// The frames of a read that failed before it read any.
    fn failed(error: StoreError) -> Frames {
        Frames {
            error: Some(error),
            ..Frames::default()
        }
    }

    /// The frames of a read that may wait, from [`load_all`]: it never finds them uncached.
    pub(crate) fn waited(loaded: Result<Frames, Uncached>) -> Frames {
        loaded.unwrap_or_else(|Uncached| Frames::failed(not_cached()))
    }

    /// How many frames were read.
    pub(crate) fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Each frame's position and body, in read order.
    fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.bodies
            .iter()
            .map(|(position, body)| (*position, &self.bytes[body.clone()]))
    }

    /// Calls `each` with every frame's record, decoded and checked against its position, in
    /// read order; then returns the error that stopped the read, if one did. Stops at the
    /// first record that does not decode or that `each` refuses.
    fn decode(
        self,
        mut each: impl FnMut(RecordedEvent) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for (position, body) in self.iter() {
            each(decode_checked_record_at(position, body)?)?;
        }
        self.error.map_or(Ok(()), Err)
    }
}

/// Why a read of frames stopped before its end.
enum Stop {
    /// Part of it is not in the page cache, and the read was not to wait for the disk
    /// ([`Wait::Cached`]): it is to be done again by a thread that may wait.
    Uncached,
    /// A frame could not be read.
    Failed(StoreError),
}

impl Stop {
    /// The error a read that may wait reports (it never stops as [`Stop::Uncached`]).
    fn into_error(self) -> StoreError {
        match self {
            Stop::Failed(error) => error,
            Stop::Uncached => not_cached(),
        }
    }
}

/// What a read reports when a read of the page cache only stood in for a read that may wait.
fn not_cached() -> StoreError {
    StoreError::Unavailable("a read of the log's records was refused as not cached".to_string())
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Stop {
        Stop::Failed(error)
    }
}

/// A read of the files that failed: with [`Wait::Cached`] whatever the error, the read is
/// to be done again by a thread that may wait (which then reports a real failure).
fn file_stop(
    wait: Wait,
    error: std::io::Error,
    failed: impl FnOnce(std::io::Error) -> StoreError,
) -> Stop {
    match wait {
        Wait::Cached => Stop::Uncached,
        Wait::Allowed => Stop::Failed(failed(error)),
    }
}

/// Adds to `frames` the frames of the positions of `page` in `direction`'s order, all of them
/// below `committed_end`, whose frames end at or before `committed_bytes`: one read of their
/// offsets and one of their frames. Stops at the first that cannot be read (its error names
/// it); the frames before it are kept.
fn read_frames(
    files: &RecordFiles,
    committed_bytes: u64,
    page: Range<u64>,
    direction: Direction,
    committed_end: u64,
    wait: Wait,
    frames: &mut Frames,
) -> Result<(), Stop> {
    if page.is_empty() {
        return Ok(());
    }
    // The frame after the page tells where the page's frames end; after the last committed
    // record the writer's published end does (it is never below the committed frames' end).
    let bounded = page.end < committed_end;
    let offsets = files
        .offsets(page.start, page.end + u64::from(bounded), wait)
        .map_err(|e| file_stop(wait, e, |e| short_offsets(e, page.start)))?;
    let start = offsets[0];
    // Never past the committed frames: a damaged offset must not make the read huge.
    let end = if bounded {
        offsets[offsets.len() - 1].min(committed_bytes)
    } else {
        committed_bytes
    };
    let base = frames.bytes.len();
    files
        .read_into(start, end, wait, &mut frames.bytes)
        .map_err(|e| file_stop(wait, e, file_error))?;
    // Where the body of the frame at `index` lies in `frames.bytes`, once its frame checks.
    let body = |bytes: &[u8], index: usize, position: u64| {
        let at = offsets[index]
            .checked_sub(start)
            .and_then(|at| usize::try_from(at).ok())
            .and_then(|at| at.checked_add(base))
            .filter(|&at| at <= bytes.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "the record at position {position}: its offset is outside the log"
                ))
            })?;
        let (body, _) = decode_frame(&bytes[at..]).map_err(|bad| {
            corrupt(format!(
                "the record at position {position}: {}",
                bad.reason()
            ))
        })?;
        let from = at + FRAME_HEADER;
        Ok::<_, StoreError>(from..from + body.len())
    };
    let count = usize::try_from(page.end - page.start).unwrap_or(usize::MAX);
    let indexes: Box<dyn Iterator<Item = usize>> = match direction {
        Direction::Forwards => Box::new(0..count),
        Direction::Backwards => Box::new((0..count).rev()),
    };
    frames.bodies.reserve(count);
    for index in indexes {
        let position = page.start + index as u64;
        let range = body(&frames.bytes, index, position)?;
        frames.bodies.push((position, range));
    }
    Ok(())
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
    let mut frames = Frames::default();
    let read = read_frames(
        files,
        committed_bytes,
        page,
        direction,
        committed_end,
        Wait::Allowed,
        &mut frames,
    );
    for (position, body) in frames.iter() {
        each(position, body)?;
    }
    read.map_err(Stop::into_error)
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

/// A read of frames that was not to wait for the disk found part of them uncached
/// ([`Wait::Cached`]).
#[derive(Debug)]
pub(crate) struct Uncached;

/// The frames of the positions of `page`, in `direction`'s order, up to the first that cannot
/// be read: the first half of a page of `read_all` (see [`Frames`]). With [`Wait::Cached`] it
/// reads only from the page cache, and fails if that does not hold the page.
pub(crate) fn load_all(
    shared: &Shared,
    page: Range<u64>,
    direction: Direction,
    committed_end: u64,
    wait: Wait,
) -> Result<Frames, Uncached> {
    let mut frames = Frames::default();
    let bytes = shared.committed_bytes();
    match read_frames(
        &shared.files,
        bytes,
        page,
        direction,
        committed_end,
        wait,
        &mut frames,
    ) {
        Ok(()) => {}
        Err(Stop::Uncached) => return Err(Uncached),
        Err(Stop::Failed(error)) => frames.error = Some(error),
    }
    Ok(frames)
}

/// The records of `frames` (from [`load_all`]) that pass `filter`, up to the first that cannot
/// be read.
pub(crate) fn decode_all(frames: Frames, filter: &ReadAllFilter) -> Fetched {
    let mut records = Vec::with_capacity(frames.len());
    let outcome = frames.decode(|record| {
        if filter.matches(&record) {
            records.push(record);
        }
        Ok(())
    });
    Fetched::new(records, outcome)
}

/// The frames of `account` at the revisions of `page`, in `direction`'s order, up to the first
/// that cannot be read: the first half of a page of `read_stream` (see [`Frames`]), on a
/// thread that may wait (the stream index may read its run files).
pub(crate) fn load_stream(
    shared: &Shared,
    account: &AccountId,
    page: Range<u64>,
    direction: Direction,
    committed_end: u64,
) -> Frames {
    let mut frames = Frames::default();
    let read = (|| {
        let mut positions = shared.index.positions(account, page)?;
        if direction == Direction::Backwards {
            positions.reverse();
        }
        let bytes = shared.committed_bytes();
        for position in positions {
            read_frames(
                &shared.files,
                bytes,
                position..position + 1,
                Direction::Forwards,
                committed_end,
                Wait::Allowed,
                &mut frames,
            )
            .map_err(Stop::into_error)?;
        }
        Ok(())
    })();
    frames.error = read.err();
    frames
}

/// The records of `frames` (from [`load_stream`] of the same `account`, `page` and
/// `direction`), each checked to be the revision the stream index said it was, up to the first
/// that cannot be read.
pub(crate) fn decode_stream(
    frames: Frames,
    account: &AccountId,
    page: Range<u64>,
    direction: Direction,
) -> Fetched {
    let mut revisions: Box<dyn Iterator<Item = u64> + Send> = match direction {
        Direction::Forwards => Box::new(page),
        Direction::Backwards => Box::new(page.rev()),
    };
    let mut records = Vec::with_capacity(frames.len());
    let outcome = frames.decode(|record| {
        // `load_stream` reads at most one frame per revision of the page.
        let revision = revisions.next().ok_or_else(|| {
            corrupt(format!(
                "the stream index of {account} has more entries than revisions"
            ))
        })?;
        if record.account_id != *account || record.revision != revision {
            return Err(corrupt(format!(
                "the stream index puts {account} revision {revision} at position {}, \
                 which holds {} revision {}",
                record.position, record.account_id, record.revision
            )));
        }
        records.push(record);
        Ok(())
    });
    Fetched::new(records, outcome)
}

/// One page fetch: `load` reads the page's frames on tokio's blocking pool, handed to it now
/// (as `store::page::paged_pages` requires: the read starts before anyone waits for it); the
/// future is the wait, and then `decode` turns the frames into records on the reader's own
/// thread (why there: [`Frames`]).
pub(super) fn fetch<L, D>(load: L, decode: D) -> impl Future<Output = Fetched> + Send + 'static
where
    L: FnOnce() -> Frames + Send + 'static,
    D: FnOnce(Frames) -> Fetched + Send + 'static,
{
    let task = tokio::task::spawn_blocking(load);
    async move {
        match task.await {
            Ok(frames) => decode(frames),
            Err(e) => Fetched::failed(StoreError::Unavailable(format!("a read task failed: {e}"))),
        }
    }
}

/// One page fetch that reads the page at once, on the calling thread, when the page cache
/// holds it (`load(Wait::Cached)`), and as [`fetch`] does when it does not. A subscriber
/// catching up or following the head reads what was written recently, nearly always cached:
/// read inline it costs no thread hop and no wake-up, and its bytes stay in this core's cache
/// for the decoding (docs/decisions/0008-records-decoded-by-their-reader.md).
pub(super) fn fetch_cached_first<L, D>(
    load: L,
    decode: D,
) -> impl Future<Output = Fetched> + Send + 'static
where
    L: Fn(Wait) -> Result<Frames, Uncached> + Send + 'static,
    D: FnOnce(Frames) -> Fetched + Send + 'static,
{
    match load(Wait::Cached) {
        Ok(frames) => Either::Left(async move {
            // A page read inline never waits, and a reader that takes many in a row (the
            // projector catching up, a walk over the log) would hold its runtime worker for as
            // long: each full page gives the other tasks a turn first, as a wait on the
            // blocking pool did. A short page (a reader at the head) goes straight on.
            if frames.len() as u64 >= crate::store::READ_PAGE_LEN {
                tokio::task::yield_now().await;
            }
            decode(frames)
        }),
        Err(Uncached) => Either::Right(fetch(move || Frames::waited(load(Wait::Allowed)), decode)),
    }
}
