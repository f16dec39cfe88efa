//! Writing a run file: its sections in order, their fences, CRCs and Bloom filter, under a
//! temporary name until it is whole and synced.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::store::file::sync_dir;

use super::{
    entry_crc, Bloom, Group, IdEntry, Range, Run, FENCE_BYTES, FOOTER_BYTES, ID_BLOCK, ID_ENTRY,
    MAGIC,
};

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
        sync_dir(dir)
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    Run::open(&path)
}

/// The error of a write given up because the index is closing.
fn stopped() -> io::Error {
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
