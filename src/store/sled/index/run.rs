//! An index run: the stream and event-id index entries of one contiguous range of positions,
//! sorted, in one immutable file.
//!
//! A run is written once (to a temporary name, synced, then renamed, so a run file that exists
//! is whole) and never changed; merging runs writes a new one. Only its small parts live in
//! memory: a Bloom filter of its ids and one fence key per block of each section. A lookup
//! reads one block from the file (from the page cache, normally), so the process's memory does
//! not grow with the log.
//!
//! # File layout (integers little-endian)
//!
//! | part | content |
//! |---|---|
//! | magic | `RLIDXRN1` |
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

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::bloom::Bloom;

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

/// Tracks a file being written: its offset and a CRC of a stretch of it.
struct Output {
    out: BufWriter<File>,
    at: u64,
    crc: crc32fast::Hasher,
}

impl Output {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.crc.update(bytes);
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// The CRC of what was put since the last call.
    fn take_crc(&mut self) -> u32 {
        std::mem::take(&mut self.crc).finalize()
    }
}

/// Writes one entry of a section keyed by account id, adding a fence when one is due.
fn put_keyed(
    out: &mut Output,
    section_start: u64,
    account: &str,
    fences: &mut Vec<u8>,
    last_fence: &mut Option<u64>,
) -> io::Result<()> {
    let offset = out.at - section_start;
    if last_fence.is_none_or(|last| offset >= last + FENCE_BYTES) {
        fences.extend_from_slice(&offset.to_le_bytes());
        push_account(fences, account);
        *last_fence = Some(offset);
    }
    let mut header = Vec::with_capacity(1 + account.len());
    push_account(&mut header, account);
    out.put(&header)
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

/// Takes an entry's `N` fixed fields and its CRC from `cursor`, and checks them with `id`.
fn checked_fields<const N: usize>(
    cursor: &mut Cursor<'_>,
    id: &str,
    path: &Path,
) -> io::Result<[u8; N]> {
    let taken = cursor.take(N as u64 + 4)?;
    let fields: [u8; N] = taken[..N].try_into().unwrap_or([0; N]);
    let stored = u32::from_le_bytes(taken[N..].try_into().unwrap_or_default());
    if entry_crc(id, &fields) != stored {
        return Err(damaged(
            path,
            &format!("the entry of {id:?} does not check"),
        ));
    }
    Ok(fields)
}

fn push_account(out: &mut Vec<u8>, account: &str) {
    // Account ids are at most 128 bytes (`domain::ids`).
    out.push(u8::try_from(account.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&account.as_bytes()[..account.len().min(255)]);
}

/// Writes a run of `ids` ids (sorted by id) and `groups` (sorted by account) into `dir` and
/// returns it open. The file appears under its name only once it is whole and synced.
pub(crate) fn write(
    dir: &Path,
    range: Range,
    ids: u64,
    id_entries: impl Iterator<Item = io::Result<IdEntry>>,
    groups: impl Iterator<Item = io::Result<Group>>,
    stop: &dyn Fn() -> bool,
) -> io::Result<Run> {
    let path = dir.join(range.file_name());
    let temporary = path.with_extension("tmp");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    let written = write_parts(file, range, ids, id_entries, groups, stop).and_then(|file| {
        file.sync_data()?;
        std::fs::rename(&temporary, &path)?;
        File::open(dir)?.sync_all()
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    Run::open(&path)
}

/// The error of a write given up because the index is closing.
pub(crate) fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the index is closing")
}

fn write_parts(
    file: File,
    range: Range,
    ids: u64,
    id_entries: impl Iterator<Item = io::Result<IdEntry>>,
    groups: impl Iterator<Item = io::Result<Group>>,
    stop: &dyn Fn() -> bool,
) -> io::Result<File> {
    let mut out = Output {
        out: BufWriter::with_capacity(1 << 20, file),
        at: 0,
        crc: crc32fast::Hasher::new(),
    };
    out.put(MAGIC)?;
    out.take_crc();

    let ids_offset = out.at;
    let mut bloom = Bloom::with_capacity(ids);
    let mut id_fences = Vec::new();
    let mut count = 0u64;
    let mut previous: Option<[u8; 16]> = None;
    // Each block's CRC goes into its fence, so that a lookup checks the block it reads: a
    // damaged id entry must not hide an id (and let a duplicate in).
    let mut block_crc = crc32fast::Hasher::new();
    for entry in id_entries {
        let (id, position) = entry?;
        if previous.is_some_and(|p| p >= id) {
            return Err(io::Error::other("the id entries of a run are not sorted"));
        }
        previous = Some(id);
        if count.is_multiple_of(ID_BLOCK) {
            if stop() {
                return Err(stopped());
            }
            if count > 0 {
                let crc = std::mem::take(&mut block_crc).finalize();
                id_fences.extend_from_slice(&crc.to_le_bytes());
            }
            id_fences.extend_from_slice(&id);
        }
        bloom.insert(&id);
        let mut entry = [0; ID_ENTRY as usize];
        entry[..16].copy_from_slice(&id);
        entry[16..].copy_from_slice(&position.to_le_bytes());
        block_crc.update(&entry);
        out.put(&entry)?;
        count += 1;
    }
    if count > 0 {
        id_fences.extend_from_slice(&block_crc.finalize().to_le_bytes());
    }
    if count != ids {
        return Err(io::Error::other(format!(
            "a run was to hold {ids} ids but {count} came"
        )));
    }

    let streams_offset = out.at;
    let (mut stream_fences, mut last_fence) = (Vec::new(), None);
    let mut firsts: Vec<(String, u64)> = Vec::new();
    let mut previous: Option<String> = None;
    for (n, group) in groups.enumerate() {
        let group = group?;
        if previous.as_ref().is_some_and(|p| *p >= group.account) || group.positions.is_empty() {
            return Err(io::Error::other(
                "the stream groups of a run are not sorted or one is empty",
            ));
        }
        if n % 1024 == 0 && stop() {
            return Err(stopped());
        }
        put_keyed(
            &mut out,
            streams_offset,
            &group.account,
            &mut stream_fences,
            &mut last_fence,
        )?;
        let count = u32::try_from(group.positions.len())
            .map_err(|_| io::Error::other("a stream group of a run has over 2^32 records"))?;
        let mut header = [0; 12];
        header[..8].copy_from_slice(&group.first_revision.to_le_bytes());
        header[8..].copy_from_slice(&count.to_le_bytes());
        out.put(&header)?;
        out.put(&entry_crc(&group.account, &header).to_le_bytes())?;
        let mut positions = Vec::with_capacity(group.positions.len() * 8);
        for position in &group.positions {
            positions.extend_from_slice(&position.to_le_bytes());
        }
        out.put(&positions)?;
        if group.first_revision == 0 {
            firsts.push((group.account.clone(), group.positions[0]));
        }
        previous = Some(group.account);
    }
    let streams_len = out.at - streams_offset;

    let accounts_offset = out.at;
    let (mut account_fences, mut last_fence) = (Vec::new(), None);
    for (account, first) in &firsts {
        put_keyed(
            &mut out,
            accounts_offset,
            account,
            &mut account_fences,
            &mut last_fence,
        )?;
        let first = first.to_le_bytes();
        out.put(&first)?;
        out.put(&entry_crc(account, &first).to_le_bytes())?;
    }
    let accounts_len = out.at - accounts_offset;
    let data_crc = out.take_crc();

    let id_fences_offset = out.at;
    out.put(&id_fences)?;
    let stream_fences_offset = out.at;
    out.put(&stream_fences)?;
    let account_fences_offset = out.at;
    out.put(&account_fences)?;
    let bloom_offset = out.at;
    let words = bloom.words();
    let mut bloom_bytes = Vec::with_capacity(words.len() * 8);
    for word in words {
        bloom_bytes.extend_from_slice(&word.to_le_bytes());
    }
    out.put(&bloom_bytes)?;
    let memory_crc = out.take_crc();

    let mut footer = Vec::with_capacity(FOOTER_BYTES as usize);
    for value in [
        range.from,
        range.to,
        range.to_bytes,
        ids_offset,
        count,
        streams_offset,
        streams_len,
        accounts_offset,
        accounts_len,
        id_fences_offset,
        id_fences.len() as u64,
        stream_fences_offset,
        stream_fences.len() as u64,
        account_fences_offset,
        account_fences.len() as u64,
        bloom_offset,
        words.len() as u64,
    ] {
        footer.extend_from_slice(&value.to_le_bytes());
    }
    footer.extend_from_slice(&range.level.to_le_bytes());
    footer.extend_from_slice(&data_crc.to_le_bytes());
    footer.extend_from_slice(&memory_crc.to_le_bytes());
    let footer_crc = crc32fast::hash(&footer);
    footer.extend_from_slice(&footer_crc.to_le_bytes());
    footer.extend_from_slice(MAGIC);
    out.put(&footer)?;
    out.out.into_inner().map_err(|e| e.into_error())
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

    /// The position of the record with event id `id`, if it is in this run.
    pub(crate) fn position_of(&self, id: &[u8; 16]) -> io::Result<Option<u64>> {
        if !self.bloom.may_contain(id) {
            return Ok(None);
        }
        let block = self.id_fences.partition_point(|(fence, _)| fence <= id);
        let Some(block) = block.checked_sub(1) else {
            return Ok(None);
        };
        let first = block as u64 * ID_BLOCK;
        let count = ID_BLOCK.min(self.ids - first);
        let mut bytes = vec![0; (count * ID_ENTRY) as usize];
        self.file
            .read_exact_at(&mut bytes, self.ids_offset + first * ID_ENTRY)?;
        if crc32fast::hash(&bytes) != self.id_fences[block].1 {
            return Err(damaged(
                &self.path,
                &format!("block {block} of its ids does not check"),
            ));
        }
        let entries: Vec<&[u8]> = bytes.chunks_exact(ID_ENTRY as usize).collect();
        Ok(entries
            .binary_search_by(|entry| entry[..16].cmp(id))
            .ok()
            .map(|at| u64::from_le_bytes(entries[at][16..].try_into().unwrap_or_default())))
    }

    /// Where `account`'s group is, if the account has records in this run.
    pub(crate) fn group(&self, account: &str) -> io::Result<Option<GroupAt>> {
        let mut found = None;
        self.scan(&self.streams, account, |cursor, id| {
            let header: [u8; 12] = checked_fields(cursor, id, &self.path)?;
            if id > account {
                return Ok(false);
            }
            let first_revision = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
            let count = u64::from(u32::from_le_bytes(
                header[8..].try_into().unwrap_or_default(),
            ));
            if id == account {
                found = Some(GroupAt {
                    first_revision,
                    count,
                    positions_at: cursor.at,
                });
                return Ok(false);
            }
            cursor.skip(count * 8);
            Ok(true)
        })?;
        Ok(found)
    }

    /// The positions of the records `index..index + count` of a group.
    pub(crate) fn positions(
        &self,
        group: &GroupAt,
        index: u64,
        count: u64,
    ) -> io::Result<Vec<u64>> {
        if index + count > group.count {
            return Err(damaged(&self.path, "a group is shorter than asked"));
        }
        let mut bytes = vec![0; (count * 8) as usize];
        self.file
            .read_exact_at(&mut bytes, group.positions_at + index * 8)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect())
    }

    /// Up to `limit` accounts whose first record is in this run, above `after`, in id order,
    /// with the position of that record.
    pub(crate) fn first_accounts(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> io::Result<Vec<(String, u64)>> {
        let mut found = Vec::new();
        let start = after.unwrap_or("");
        self.scan(&self.accounts, start, |cursor, id| {
            let first = u64::from_le_bytes(checked_fields(cursor, id, &self.path)?);
            let id = id.to_string();
            if after.is_none_or(|after| id.as_str() > after) {
                found.push((id, first));
            }
            Ok(found.len() < limit)
        })?;
        Ok(found)
    }

    /// Walks the keyed `section` from the last fence at or below `key`, calling `each` with a
    /// cursor just past each entry's id, until `each` says stop or the section ends.
    fn scan(
        &self,
        section: &Section,
        key: &str,
        mut each: impl FnMut(&mut Cursor<'_>, &str) -> io::Result<bool>,
    ) -> io::Result<()> {
        let fence = section.fences.partition_point(|(id, _)| &**id <= key);
        let start = match fence.checked_sub(1) {
            Some(fence) => section.fences[fence].1,
            None => 0,
        };
        let end = section.offset + section.len;
        let mut cursor = Cursor {
            file: &self.file,
            at: section.offset + start,
            end,
            window: Vec::new(),
            window_at: 0,
        };
        while cursor.at < end {
            let length = usize::from(cursor.take(1)?[0]);
            let id = String::from_utf8(cursor.take(length as u64)?.to_vec())
                .map_err(|_| damaged(&self.path, "an account id is not text"))?;
            if !each(&mut cursor, &id)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads the id section in order, for a merge.
    pub(crate) fn id_entries(&self) -> impl Iterator<Item = io::Result<IdEntry>> + '_ {
        let mut reader = self.reader(self.ids_offset, self.ids * ID_ENTRY);
        (0..self.ids).map(move |_| {
            let mut entry = [0; ID_ENTRY as usize];
            reader.read_exact(&mut entry)?;
            let id: [u8; 16] = entry[..16].try_into().unwrap_or_default();
            Ok((
                id,
                u64::from_le_bytes(entry[16..].try_into().unwrap_or_default()),
            ))
        })
    }

    /// Reads the stream section in order, for a merge.
    pub(crate) fn groups(&self) -> impl Iterator<Item = io::Result<Group>> + '_ {
        let mut reader = self.reader(self.streams.offset, self.streams.len);
        let mut left = self.streams.len;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let mut read = || -> io::Result<Group> {
                let mut length = [0; 1];
                reader.read_exact(&mut length)?;
                let mut account = vec![0; usize::from(length[0])];
                reader.read_exact(&mut account)?;
                let mut header = [0; 16];
                reader.read_exact(&mut header)?;
                let (fields, stored) = header.split_at(12);
                let account = String::from_utf8(account)
                    .map_err(|_| damaged(&self.path, "an account id is not text"))?;
                if entry_crc(&account, fields).to_le_bytes() != stored {
                    return Err(damaged(
                        &self.path,
                        &format!("the entry of {account:?} does not check"),
                    ));
                }
                let first_revision = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
                let count = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
                let mut bytes = vec![0; count as usize * 8];
                reader.read_exact(&mut bytes)?;
                left = left.saturating_sub(1 + account.len() as u64 + 16 + bytes.len() as u64);
                Ok(Group {
                    account,
                    first_revision,
                    positions: bytes
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                        .collect(),
                })
            };
            let group = read();
            if group.is_err() {
                left = 0;
            }
            Some(group)
        })
    }

    /// The number of ids in the run.
    pub(crate) fn id_count(&self) -> u64 {
        self.ids
    }

    fn reader(&self, offset: u64, len: u64) -> BufReader<FileSlice<'_>> {
        BufReader::with_capacity(
            1 << 20,
            FileSlice {
                file: &self.file,
                at: offset,
                end: offset + len,
            },
        )
    }
}

/// A stretch of a file read in order through `pread`, so that readers share the file.
struct FileSlice<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for FileSlice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.at).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// Reads a section entry by entry through a window of the file, so that skipping a long group
/// reads none of it.
struct Cursor<'a> {
    file: &'a File,
    at: u64,
    end: u64,
    window: Vec<u8>,
    window_at: u64,
}

impl Cursor<'_> {
    /// The next `n` bytes; an error if the section ends first.
    fn take(&mut self, n: u64) -> io::Result<&[u8]> {
        if self.at + n > self.end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an index run's entry runs past its section",
            ));
        }
        let window_end = self.window_at + self.window.len() as u64;
        if self.at < self.window_at || self.at + n > window_end {
            let len = (self.end - self.at).min(n.max(FENCE_BYTES));
            self.window.resize(len as usize, 0);
            self.file.read_exact_at(&mut self.window, self.at)?;
            self.window_at = self.at;
        }
        let start = (self.at - self.window_at) as usize;
        self.at += n;
        Ok(&self.window[start..start + n as usize])
    }

    fn skip(&mut self, n: u64) {
        self.at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> [u8; 16] {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        id[8..].copy_from_slice(&n.to_be_bytes());
        id
    }

    fn group(account: &str, first_revision: u64, positions: Vec<u64>) -> Group {
        Group {
            account: account.to_string(),
            first_revision,
            positions,
        }
    }

    /// A run of `accounts` accounts with `per` records each, interleaved: account `a`'s
    /// revision `r` is at position `r * accounts + a`, its id `id(position)`.
    fn sample(dir: &Path, accounts: u64, per: u64) -> Run {
        let mut ids: Vec<_> = (0..accounts * per).map(|p| (id(p), p)).collect();
        ids.sort();
        let mut groups: Vec<_> = (0..accounts)
            .map(|a| {
                group(
                    &format!("acct-{a:05}"),
                    0,
                    (0..per).map(|r| r * accounts + a).collect(),
                )
            })
            .collect();
        groups.sort_by(|a, b| a.account.cmp(&b.account));
        let range = Range {
            from: 0,
            to: accounts * per,
            to_bytes: 1000,
            level: 0,
        };
        write(
            dir,
            range,
            ids.len() as u64,
            ids.into_iter().map(Ok),
            groups.into_iter().map(Ok),
            &|| false,
        )
        .unwrap()
    }

    #[test]
    fn every_entry_is_found_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let run = sample(dir.path(), 700, 9);
        for position in (0..6300).step_by(7) {
            assert_eq!(run.position_of(&id(position)).unwrap(), Some(position));
        }
        assert_eq!(run.position_of(&id(6300)).unwrap(), None);
        assert_eq!(run.position_of(&[0xff; 16]).unwrap(), None);
        let at = run.group("acct-00421").unwrap().unwrap();
        assert_eq!((at.first_revision, at.count), (0, 9));
        assert_eq!(run.positions(&at, 2, 3).unwrap(), vec![1821, 2521, 3221]);
        assert!(run.positions(&at, 8, 2).is_err());
        assert_eq!(run.group("acct-00700").unwrap(), None);
        assert_eq!(run.group("acct-0042").unwrap(), None);
        assert_eq!(run.group("a").unwrap(), None);
        let firsts = run.first_accounts(Some("acct-00697"), 10).unwrap();
        assert_eq!(
            firsts,
            vec![
                ("acct-00698".to_string(), 698),
                ("acct-00699".to_string(), 699)
            ]
        );
        assert_eq!(run.first_accounts(None, 2).unwrap()[1].0, "acct-00001");
        assert!(
            run.streams.fences.len() > 1,
            "the sample spans several fences"
        );
    }

    #[test]
    fn a_reopened_run_reads_back_what_was_written_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let run = sample(dir.path(), 30, 4);
        let reopened = Run::open(&run.path).unwrap();
        assert_eq!(reopened.range, run.range);
        let ids: Vec<_> = reopened.id_entries().map(Result::unwrap).collect();
        assert_eq!(ids.len(), 120);
        assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
        let groups: Vec<_> = reopened.groups().map(Result::unwrap).collect();
        assert_eq!(groups.len(), 30);
        assert_eq!(groups[3], group("acct-00003", 0, vec![3, 33, 63, 93]));
    }

    #[test]
    fn a_damaged_or_misnamed_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = sample(dir.path(), 30, 4);
        let length = std::fs::metadata(&run.path).unwrap().len();
        // A bit of the Bloom filter (just before the footer) flipped.
        let file = OpenOptions::new().write(true).open(&run.path).unwrap();
        let at = length - FOOTER_BYTES - 3;
        let mut byte = [0];
        File::open(&run.path)
            .unwrap()
            .read_exact_at(&mut byte, at)
            .unwrap();
        file.write_all_at(&[byte[0] ^ 1], at).unwrap();
        let error = Run::open(&run.path).unwrap_err().to_string();
        assert!(error.contains("do not check"), "{error}");
        let renamed = dir.path().join(
            Range {
                from: 0,
                to: 99,
                to_bytes: 0,
                level: 0,
            }
            .file_name(),
        );
        std::fs::rename(&run.path, &renamed).unwrap();
        let error = Run::open(&renamed).unwrap_err().to_string();
        assert!(error.contains("not its name"), "{error}");
    }

    #[test]
    fn a_damaged_id_block_is_reported_not_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let run = sample(dir.path(), 700, 9);
        // A byte of the first id entry of the second block (entries 256..512) changed.
        let at = MAGIC.len() as u64 + ID_BLOCK * ID_ENTRY + 3;
        let file = OpenOptions::new().write(true).open(&run.path).unwrap();
        let mut byte = [0];
        File::open(&run.path)
            .unwrap()
            .read_exact_at(&mut byte, at)
            .unwrap();
        file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
        let run = Run::open(&run.path).unwrap();
        let ids: Vec<_> = run.id_entries().map(Result::unwrap).collect();
        let (in_second_block, _) = ids[300];
        let error = run.position_of(&in_second_block).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("block 1"), "{error}");
        // The other blocks still answer.
        let (in_first_block, position) = ids[10];
        assert_eq!(run.position_of(&in_first_block).unwrap(), Some(position));
    }

    #[test]
    fn a_damaged_stream_entry_is_reported_not_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let run = sample(dir.path(), 30, 4);
        // The account id of one group changed (a letter of "acct-00012").
        let bytes = std::fs::read(&run.path).unwrap();
        let at = bytes.windows(10).position(|w| w == b"acct-00012").unwrap() as u64;
        let file = OpenOptions::new().write(true).open(&run.path).unwrap();
        file.write_all_at(b"b", at).unwrap();
        let run = Run::open(&run.path).unwrap();
        for account in ["acct-00012", "acct-00013"] {
            let error = run.group(account).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{account}");
            assert!(error.to_string().contains("does not check"), "{error}");
        }
        assert!(
            run.groups().any(|g| g.is_err()),
            "a merge would refuse it too"
        );
    }

    #[test]
    fn unsorted_entries_are_refused_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let range = Range {
            from: 0,
            to: 2,
            to_bytes: 10,
            level: 0,
        };
        let ids = vec![Ok((id(2), 1)), Ok((id(1), 0))];
        let ids = if ids[0].as_ref().unwrap().0 < ids[1].as_ref().unwrap().0 {
            ids.into_iter().rev().collect()
        } else {
            ids
        };
        let groups = vec![Ok(group("a", 0, vec![0, 1]))];
        assert!(write(
            dir.path(),
            range,
            2,
            ids.into_iter(),
            groups.into_iter(),
            &|| false
        )
        .is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(Range::parse_file_name(&range.file_name()), Some((0, 2, 0)));
        assert_eq!(Range::parse_file_name("00-01-00.tmp"), None);
    }
}
