//! Reading an open run: the lookups (an id's position, an account's group and its positions,
//! the accounts whose first record is in the run), which read a block or a short window of the
//! file, and the in-order reads of whole sections that a merge takes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{
    damaged, entry_crc, Group, GroupAt, IdEntry, Run, Section, FENCE_BYTES, ID_BLOCK, ID_ENTRY,
};

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

impl Run {
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
