//! An index run: the stream and event-id index entries of one contiguous range of positions,
//! sorted, in one immutable file.
//!
//! A run is written once (to a temporary name, synced, then renamed, so a run file that exists
//! is whole) and never changed; merging runs writes a new one. Only its small parts live in
//! memory: a Bloom filter of its ids and one fence key per block of each section. A lookup
//! reads one block from the file (from the page cache, normally), so the process's memory does
//! not grow with the log.
//!
//! The layout and the opening of a run are here; its reads are in `read`, its writing in `write`.
//!
//! # File layout (integers little-endian)
//!
//! | part | content |
//! |---|---|
//! | magic | `RLIDXRN3` |
//! | ids | per record, sorted by id: id (16 bytes), position (u64) |
//! | streams | per account, sorted by id: id length (u8), id, first revision (u64), count (u32), the CRC-32 of those, then `count` positions (u64): the account's records in the run's range, whose revisions are consecutive |
//! | accounts | per account whose first record is in the range, sorted: id length (u8), id, position of its first record (u64), the CRC-32 of those |
//! | id fences | per block of [`ID_BLOCK`] entries of `ids`: its first id, and the CRC-32 of the block (u32) |
//! | stream fences, account fences | for the first entry that starts at or after each [`FENCE_BYTES`] of the section: its offset in the section (u64), id length (u8), id |
//! | bloom | the ids' Bloom filter (u64 words) |
//! | footer | [`FOOTER_BYTES`]: the range (from, to, the frame bytes before `to`), the level, each part's offset and length, CRC-32s of the data parts and of the rest, the magic again |
//!
//! Revisions of one account are consecutive within a run because every record of the account
//! in the run's range is in the run: its stream is one group, and merging adjacent runs
//! concatenates groups.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::bloom::Bloom;

mod read;
mod write;
pub(crate) use self::write::write;

const MAGIC: &[u8; 8] = b"RLIDXRN3";
/// Entries of the id section per fence.
pub(crate) const ID_BLOCK: u64 = 256;
/// Bytes of an id entry.
const ID_ENTRY: u64 = 24;
/// Bytes of an id fence: the block's first id and its CRC-32.
const ID_FENCE: u64 = 20;
/// A fence at least every this many bytes of the stream and account sections.
const FENCE_BYTES: u64 = 4096;
/// The footer: 17 u64s, 3 u32s + 1 padding u32, the magic.
const FOOTER_BYTES: u64 = 17 * 8 + 4 * 4 + 8;
/// The file name's extension.
const EXTENSION: &str = "run";

/// An id entry: the event id's bytes and the record's position.
pub(crate) type IdEntry = ([u8; 16], u64);

/// What a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// The first position.
    pub from: u64,
    /// The position after the last.
    pub to: u64,
    /// The byte length of the record frames before `to`: how long the records file must at
    /// least be (a shorter one lost records).
    pub to_bytes: u64,
    /// How many merges made it: a run flushed from memory is level 0, a merge of runs of level
    /// `l` is level `l + 1`.
    pub level: u32,
}

impl Range {
    /// The file name of the run, which is how `open` finds runs and their ranges.
    pub(crate) fn file_name(&self) -> String {
        format!(
            "{:020}-{:020}-{:02}.{EXTENSION}",
            self.from, self.to, self.level
        )
    }

    /// The range a run file's name declares; `None` for any other file.
    pub(crate) fn parse_file_name(name: &str) -> Option<(u64, u64, u32)> {
        let stem = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
        let mut parts = stem.split('-');
        let from = parts.next()?.parse().ok()?;
        let to = parts.next()?.parse().ok()?;
        let level = parts.next()?.parse().ok()?;
        (parts.next().is_none() && from < to).then_some((from, to, level))
    }
}

/// One account's records in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub account: String,
    pub first_revision: u64,
    pub positions: Vec<u64>,
}

/// Where an account's group is in a run file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupAt {
    pub first_revision: u64,
    pub count: u64,
    /// The file offset of its first position.
    positions_at: u64,
}

/// One section's place in the file and its fences (offsets relative to the section).
#[derive(Debug)]
struct Section {
    offset: u64,
    len: u64,
    fences: Vec<(Box<str>, u64)>,
}

/// An open run: its file and what lookups keep in memory.
#[derive(Debug)]
pub(crate) struct Run {
    pub range: Range,
    pub path: PathBuf,
    file: File,
    ids_offset: u64,
    ids: u64,
    /// Per block of the id section: its first id and its CRC-32.
    id_fences: Vec<([u8; 16], u32)>,
    streams: Section,
    accounts: Section,
    bloom: Bloom,
}

/// The CRC-32 of a keyed entry's head: its id (length and bytes) and the fixed fields after it.
/// Checked by every lookup that reads the entry, so that a damaged id or count cannot make an
/// account look absent (and hand out a revision it already has).
fn entry_crc(account: &str, fields: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[u8::try_from(account.len()).unwrap_or(u8::MAX)]);
    crc.update(account.as_bytes());
    crc.update(fields);
    crc.finalize()
}

fn damaged(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("index run {} is damaged: {what}", path.display()),
    )
}

/// Reads the fences of a keyed section: (offset u64, id length u8, id) entries.
fn parse_fences(bytes: &[u8], path: &Path) -> io::Result<Vec<(Box<str>, u64)>> {
    let mut fences = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (offset, after) = split_u64(rest).ok_or_else(|| damaged(path, "a fence is cut"))?;
        let (account, after) =
            split_account(after).ok_or_else(|| damaged(path, "a fence is cut"))?;
        fences.push((account.into(), offset));
        rest = after;
    }
    Ok(fences)
}

fn split_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (value, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*value), rest))
}

fn split_account(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let (account, rest) = rest.split_at_checked(usize::from(len))?;
    Some((std::str::from_utf8(account).ok()?, rest))
}

impl Run {
    /// Opens the run file at `path`: reads its footer, fences and Bloom filter, and checks
    /// them against their CRCs and the range its name declares.
    pub(crate) fn open(path: &Path) -> io::Result<Run> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        if length < MAGIC.len() as u64 + FOOTER_BYTES {
            return Err(damaged(path, "it is shorter than its footer"));
        }
        let mut footer = vec![0; FOOTER_BYTES as usize];
        file.read_exact_at(&mut footer, length - FOOTER_BYTES)?;
        let (body, tail) = footer.split_at(FOOTER_BYTES as usize - 12);
        let stored_crc = u32::from_le_bytes(tail[..4].try_into().unwrap_or_default());
        if &tail[4..] != MAGIC || crc32fast::hash(body) != stored_crc {
            return Err(damaged(path, "its footer does not check"));
        }
        let mut values = body
            .chunks_exact(8)
            .take(17)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()));
        let mut next = || values.next().unwrap_or_default();
        let (from, to, to_bytes) = (next(), next(), next());
        let (ids_offset, ids) = (next(), next());
        let (streams_offset, streams_len) = (next(), next());
        let (accounts_offset, accounts_len) = (next(), next());
        let (id_fences_offset, id_fences_len) = (next(), next());
        let (stream_fences_offset, stream_fences_len) = (next(), next());
        let (account_fences_offset, account_fences_len) = (next(), next());
        let (bloom_offset, bloom_words) = (next(), next());
        let u32_at =
            |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap_or_default());
        let (level, memory_crc) = (u32_at(17 * 8), u32_at(17 * 8 + 8));
        let range = Range {
            from,
            to,
            to_bytes,
            level,
        };
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Range::parse_file_name);
        if named != Some((from, to, level)) {
            return Err(damaged(path, "its footer's range is not its name's"));
        }
        // The parts kept in memory are contiguous from the id fences to the footer.
        let memory_end = bloom_offset.saturating_add(bloom_words.saturating_mul(8));
        if id_fences_offset > memory_end
            || memory_end != length - FOOTER_BYTES
            || stream_fences_offset != id_fences_offset + id_fences_len
            || account_fences_offset != stream_fences_offset + stream_fences_len
            || bloom_offset != account_fences_offset + account_fences_len
            || ids_offset.saturating_add(ids.saturating_mul(ID_ENTRY)) != streams_offset
            || streams_offset + streams_len != accounts_offset
            || accounts_offset + accounts_len != id_fences_offset
            || id_fences_len != ids.div_ceil(ID_BLOCK) * ID_FENCE
        {
            return Err(damaged(path, "its parts do not fit together"));
        }
        let mut memory = vec![0; usize::try_from(memory_end - id_fences_offset).unwrap_or(0)];
        file.read_exact_at(&mut memory, id_fences_offset)?;
        if crc32fast::hash(&memory) != memory_crc {
            return Err(damaged(path, "its fences or Bloom filter do not check"));
        }
        let (id_fences, rest) = memory.split_at(id_fences_len as usize);
        let (stream_fences, rest) = rest.split_at(stream_fences_len as usize);
        let (account_fences, bloom) = rest.split_at(account_fences_len as usize);
        let bloom = Bloom::from_words(
            bloom
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        )
        .ok_or_else(|| damaged(path, "its Bloom filter has no blocks"))?;
        Ok(Run {
            range,
            path: path.to_path_buf(),
            id_fences: id_fences
                .chunks_exact(ID_FENCE as usize)
                .map(|c| {
                    let id: [u8; 16] = c[..16].try_into().unwrap_or_default();
                    let crc = u32::from_le_bytes(c[16..].try_into().unwrap_or_default());
                    (id, crc)
                })
                .collect(),
            streams: Section {
                offset: streams_offset,
                len: streams_len,
                fences: parse_fences(stream_fences, path)?,
            },
            accounts: Section {
                offset: accounts_offset,
                len: accounts_len,
                fences: parse_fences(account_fences, path)?,
            },
            file,
            ids_offset,
            ids,
            bloom,
        })
    }
}

#[cfg(test)]
mod tests;
