//! The log's records, outside sled: two append-only files in `DATA_DIR/log/`.
//!
//! sled keeps a per-page bookkeeping entry in memory for every page it has ever written, so a
//! log whose records live in sled grows the server's resident memory with every event, and
//! each group commit pays for sled's own write path on top of the fsync. The records are
//! therefore written where a log belongs, at the end of a file (and their stream and event-id
//! indexes in run files beside it, see `index`):
//!
//! - `records`: one frame per record, in position order: `[body length u32 LE][check u32 LE]
//!   [body]`, the body being the stored value of the record (`store::codec`, the same bytes
//!   the hash chain covers), the check its CRC-32, or the CRC-32's complement when more
//!   records of the same append follow ([`Part`]);
//! - `offsets`: one `u64 LE` per position, the byte offset of its frame in `records`, so that
//!   the record at any position is one read away and a page of the log is one contiguous read.
//!
//! `records` may continue past its last frame with zeros: space the writer prepared ahead of
//! the records (see [`RecordFiles::prepare`]). A frame header of zeros is never written (no
//! record has an empty body), so it marks where the records end.
//!
//! The writer appends a group's frames and offsets with one write each and `fdatasync`s
//! `records` before it answers; `offsets` is derived from `records` and synced less often (see
//! `writer` and `recovery`: before an index run is written, both files are synced to its end, so
//! the runs say how far both are durable, and recovery re-reads the frames past them). The
//! check tells a torn or damaged frame from a record, and a record that ends its append from
//! one that does not, so that recovery keeps whole appends only; the hash chain tells a
//! changed record from the one that was written.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The directory of the record files inside a data dir.
pub const LOG_DIR: &str = "log";
/// The frames of the records.
pub const RECORDS_FILE: &str = "records";
/// The frame offset of every position.
pub const OFFSETS_FILE: &str = "offsets";

/// The bytes of a frame before its body: the body's length and its check.
pub const FRAME_HEADER: usize = 8;
/// The bytes of one entry of the offsets file.
pub const OFFSET_BYTES: u64 = 8;
/// The largest body a frame may declare. Far above any record the server accepts (events are
/// limited to a few hundred KB); a larger length can only be damage, and must not make a
/// reader allocate it.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The path of the record files' directory in `dir`.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG_DIR)
}

/// Where a record stands in the append that wrote it, as its frame records it.
///
/// An append's records are written together, but a crash (or a full disk) can leave any prefix
/// of a group's bytes on disk. Every record but the last of an append says that more follow,
/// so recovery can tell an append cut short from a whole one, and keep whole appends only.
/// A frame says it in its check word: the CRC-32 of the body for the last record of an append,
/// and its bitwise complement for the others, so the mark is as well protected as the body and
/// costs no byte. A record file written before the mark existed reads as appends of one record
/// each, which is what recovery then assumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// More records of the same append follow this one.
    More,
    /// The append ends with this record.
    Last,
}

impl Part {
    /// The part of the record at `index` of an append of `count` records.
    pub fn of(index: usize, count: usize) -> Part {
        if index + 1 < count {
            Part::More
        } else {
            Part::Last
        }
    }

    /// The check word of a frame of this part whose body's CRC-32 is `crc`.
    fn check(self, crc: u32) -> u32 {
        match self {
            Part::Last => crc,
            Part::More => !crc,
        }
    }
}

/// Appends the frame of `body`, a record that is the `part` of its append, to `out`.
pub fn encode_frame(body: &[u8], part: Part, out: &mut Vec<u8>) {
    let length = u32::try_from(body.len()).expect("a record body fits in 4 GiB");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&part.check(crc32fast::hash(body)).to_le_bytes());
    out.extend_from_slice(body);
}

/// Why the bytes at a frame's offset are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadFrame {
    /// The bytes end before the frame does: the torn end of an interrupted write, or a cut.
    Truncated,
    /// The frame is whole but does not check: its length is impossible or its CRC differs.
    Damaged(String),
    /// A header of zeros: the space prepared past the records, where no frame was written.
    Unwritten,
}

impl BadFrame {
    pub(crate) fn reason(&self) -> String {
        match self {
            BadFrame::Truncated => "its frame is cut short".to_string(),
            BadFrame::Unwritten => "no frame was written there".to_string(),
            BadFrame::Damaged(reason) => reason.clone(),
        }
    }
}

/// The body length and check word a frame's header declares.
fn parse_header(header: &[u8]) -> Result<(usize, u32), BadFrame> {
    let header: &[u8; FRAME_HEADER] = header.try_into().map_err(|_| BadFrame::Truncated)?;
    let length = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    if length > MAX_BODY {
        return Err(BadFrame::Damaged(format!(
            "its frame declares {length} bytes, more than any record"
        )));
    }
    Ok((
        length,
        u32::from_le_bytes(header[4..].try_into().expect("4 bytes")),
    ))
}

/// Which part of its append the frame whose check word is `check` holds, if its body checks.
fn check_body(body: &[u8], check: u32) -> Result<Part, BadFrame> {
    let crc = crc32fast::hash(body);
    if check == Part::Last.check(crc) {
        Ok(Part::Last)
    } else if check == Part::More.check(crc) {
        Ok(Part::More)
    } else {
        Err(BadFrame::Damaged(
            "its checksum does not match its bytes".to_string(),
        ))
    }
}

/// Reads the frame at the start of `bytes`: its body and the frame's whole length.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<(&[u8], usize), BadFrame> {
    let (length, check) = parse_header(bytes.get(..FRAME_HEADER).ok_or(BadFrame::Truncated)?)?;
    let body = bytes
        .get(FRAME_HEADER..FRAME_HEADER + length)
        .ok_or(BadFrame::Truncated)?;
    check_body(body, check)?;
    Ok((body, FRAME_HEADER + length))
}

/// Reads the next frame from `reader` into `body`, when at most `left` bytes remain in the
/// file: returns the frame's whole length and the part of its append it holds. A header of
/// zeros is [`BadFrame::Unwritten`]: the records' end in a file with prepared space past them.
pub(crate) fn read_frame(
    reader: &mut impl Read,
    left: u64,
    body: &mut Vec<u8>,
) -> Result<(u64, Part), BadFrame> {
    let mut header = [0; FRAME_HEADER];
    if left < FRAME_HEADER as u64 || reader.read_exact(&mut header).is_err() {
        return Err(BadFrame::Truncated);
    }
    if header == [0; FRAME_HEADER] {
        return Err(BadFrame::Unwritten);
    }
    let (length, check) = parse_header(&header)?;
    if left < (FRAME_HEADER + length) as u64 {
        return Err(BadFrame::Truncated);
    }
    body.resize(length, 0);
    reader.read_exact(body).map_err(|_| BadFrame::Truncated)?;
    let part = check_body(body, check)?;
    Ok(((FRAME_HEADER + length) as u64, part))
}

/// Whether a read may wait for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// An ordinary read, for a thread that may block.
    Allowed,
    /// Only what the page cache holds (`preadv2` with `RWF_NOWAIT`): a read that would wait
    /// for the disk fails at once (with `WouldBlock`, or whatever error a kernel or file system
    /// without the flag gives), so that an async reader can read inline when that costs no
    /// wait and hand the read to a blocking thread when it would.
    Cached,
}

/// Reads into `buf` from byte `at` of `file` until `buf` is full or the file ends: how many
/// bytes were read.
fn fill(file: &File, buf: &mut [u8], at: u64, wait: Wait) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let offset = at + filled as u64;
        let read = match wait {
            Wait::Allowed => file.read_at(&mut buf[filled..], offset),
            Wait::Cached => read_cached(file, &mut buf[filled..], offset),
        };
        match read {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// One read of what the page cache holds of `file` from byte `at` on; see [`Wait::Cached`].
#[cfg(target_os = "linux")]
fn read_cached(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    use rustix::io::{preadv2, ReadWriteFlags};
    Ok(preadv2(
        file,
        &mut [io::IoSliceMut::new(buf)],
        at,
        ReadWriteFlags::NOWAIT,
    )?)
}

/// Without `RWF_NOWAIT` every read may wait: it is left to a blocking thread.
#[cfg(not(target_os = "linux"))]
fn read_cached(_: &File, _: &mut [u8], _: u64) -> io::Result<usize> {
    Err(io::ErrorKind::WouldBlock.into())
}

/// The two files, open for reading and appending. Reads are positioned (`pread`), so any
/// number of readers share the handles with the one writer.
pub(crate) struct RecordFiles {
    records: File,
    offsets: File,
}

impl RecordFiles {
    /// Opens the files in `dir`'s `log/`, creating the directory and empty files if there are
    /// none (and syncing the new directory entries, so a new log survives a power failure).
    pub(crate) fn open(dir: &Path) -> io::Result<RecordFiles> {
        let log = log_path(dir);
        let created = !log.exists();
        std::fs::create_dir_all(&log)?;
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(log.join(name))
        };
        let files = RecordFiles {
            records: open(RECORDS_FILE)?,
            offsets: open(OFFSETS_FILE)?,
        };
        super::sync_dir(&log)?;
        if created {
            super::sync_dir(dir)?;
        }
        Ok(files)
    }

    /// The lengths in bytes of `records` and `offsets`.
    pub(crate) fn lengths(&self) -> io::Result<(u64, u64)> {
        Ok((
            self.records.metadata()?.len(),
            self.offsets.metadata()?.len(),
        ))
    }

    /// The frame offsets of positions `from..to`.
    pub(crate) fn offsets(&self, from: u64, to: u64, wait: Wait) -> io::Result<Vec<u64>> {
        let count = usize::try_from(to.saturating_sub(from)).map_err(io::Error::other)?;
        let mut bytes = vec![0; count * OFFSET_BYTES as usize];
        if fill(&self.offsets, &mut bytes, from * OFFSET_BYTES, wait)? < bytes.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(bytes
            .chunks_exact(OFFSET_BYTES as usize)
            .map(|entry| u64::from_le_bytes(entry.try_into().expect("8 bytes")))
            .collect())
    }

    /// A sequential reader of `records` from byte `at` (for recovery, which reads the frames
    /// past the last index run one by one). It shares the file's cursor, which nothing else uses:
    /// every other read and write is positioned.
    pub(crate) fn reader_at(&self, at: u64) -> io::Result<File> {
        let mut file = self.records.try_clone()?;
        file.seek(SeekFrom::Start(at))?;
        Ok(file)
    }

    /// The bytes of `records` from `from` to `to`, or up to its end if that comes first.
    #[cfg(test)]
    pub(crate) fn read(&self, from: u64, to: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read_into(from, to, Wait::Allowed, &mut bytes)?;
        Ok(bytes)
    }

    /// Appends to `bytes` the bytes of `records` from `from` to `to`, or up to its end if that
    /// comes first. On an error `bytes` is as it was.
    pub(crate) fn read_into(
        &self,
        from: u64,
        to: u64,
        wait: Wait,
        bytes: &mut Vec<u8>,
    ) -> io::Result<()> {
        let want = usize::try_from(to.saturating_sub(from)).map_err(io::Error::other)?;
        let base = bytes.len();
        bytes.resize(base + want, 0);
        match fill(&self.records, &mut bytes[base..], from, wait) {
            Ok(filled) => {
                bytes.truncate(base + filled);
                Ok(())
            }
            Err(error) => {
                bytes.truncate(base);
                Err(error)
            }
        }
    }

    /// Writes `frames` at byte `at` of `records` and `offsets` (the entries of the positions
    /// from `first_position`), without syncing either.
    pub(crate) fn write(
        &self,
        at: u64,
        frames: &[u8],
        first_position: u64,
        offsets: &[u8],
    ) -> io::Result<()> {
        self.write_frames(at, frames)?;
        self.write_offsets(first_position, offsets)
    }

    /// Writes `frames` at byte `at` of `records`, without syncing it.
    pub(crate) fn write_frames(&self, at: u64, frames: &[u8]) -> io::Result<()> {
        self.records.write_all_at(frames, at)
    }

    /// Writes `offsets`, the entries of the positions from `first_position`, to `offsets`,
    /// without syncing it.
    pub(crate) fn write_offsets(&self, first_position: u64, offsets: &[u8]) -> io::Result<()> {
        self.offsets
            .write_all_at(offsets, first_position * OFFSET_BYTES)
    }

    /// Makes what was written to `records` durable (`fdatasync`, which also persists its
    /// growing length).
    pub(crate) fn sync_records(&self) -> io::Result<()> {
        self.records.sync_data()
    }

    /// Writes zeros to `records` from byte `from` to `to` and syncs them: space prepared past
    /// the records' end, which the writer's next groups overwrite.
    ///
    /// Why: a group written past the file's end makes the file grow, and ext4's `fdatasync`
    /// then writes the inode (the new length and block map) after the data, a second device
    /// write each group commit waits for; a write into blocks that are already allocated, in a
    /// file whose length does not change, is data only. Zeros, not `fallocate`: ext4 allocates
    /// unwritten extents, and the first write into one changes the extent map again. What
    /// PostgreSQL does with its WAL segments.
    pub(crate) fn prepare(&self, from: u64, to: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let mut at = from;
        while at < to {
            let length = usize::try_from(to - at).map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
            self.records.write_all_at(&ZEROS[..length], at)?;
            at += length as u64;
        }
        self.records.sync_data()
    }

    /// Makes what was written to `offsets` durable.
    pub(crate) fn sync_offsets(&self) -> io::Result<()> {
        self.offsets.sync_data()
    }

    /// Cuts both files to `records_len` bytes and `positions` entries, and syncs them: the end
    /// of a recovery, which drops a torn frame past the last whole record.
    pub(crate) fn truncate(&self, records_len: u64, positions: u64) -> io::Result<()> {
        self.records.set_len(records_len)?;
        self.offsets.set_len(positions * OFFSET_BYTES)?;
        self.records.sync_data()?;
        self.offsets.sync_data()
    }
}

/// Appends the offset entry of a frame at `offset` to `out`.
pub(crate) fn encode_offset(offset: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&offset.to_le_bytes());
}

/// Appends the frame of `body`, the `part` of its append, to `frames` and its offset, `*end`
/// (the records file's length before it), to `offsets`, and moves `*end` past it: one record on
/// its way to the files.
pub(crate) fn push_frame(
    body: &[u8],
    part: Part,
    end: &mut u64,
    frames: &mut Vec<u8>,
    offsets: &mut Vec<u8>,
) {
    encode_offset(*end, offsets);
    let start = frames.len();
    encode_frame(body, part, frames);
    *end += (frames.len() - start) as u64;
}

#[cfg(test)]
mod tests;
