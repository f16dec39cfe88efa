//! The memtable: the entries of the newest records, in memory until they are written as a run.

use std::collections::HashMap;
use std::ops::Range as Revisions;

use super::FLUSH_RECORDS;
use crate::domain::{AccountId, EventId};

/// The entries of one record, as the writer adds them. `pub` only for [`super::comparison`].
#[derive(Debug, Clone)]
pub struct Entry {
    pub position: u64,
    pub account: AccountId,
    pub revision: u64,
    pub id: EventId,
}

/// One account's records in the memtable: consecutive revisions from `first_revision`.
#[derive(Debug, Clone)]
pub(super) struct Tail {
    pub(super) first_revision: u64,
    pub(super) positions: Vec<u64>,
}

/// The entries of the records from `from` to `to` that no run holds yet.
#[derive(Debug, Clone)]
pub(super) struct Memtable {
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) ids: HashMap<[u8; 16], u64>,
    pub(super) streams: HashMap<AccountId, Tail>,
}

impl Memtable {
    /// An empty memtable from position `from`, with room for the ids of `records` records
    /// (at most [`FLUSH_RECORDS`], the default size at which it is written as a run: about
    /// 2 MB of table): the writer adds to it on the append path, and a table that grows by
    /// doubling rehashes every id it holds each time (perf showed the rehashes and their page
    /// faults on the writer thread).
    pub(super) fn new(from: u64, records: u64) -> Memtable {
        let reserved = usize::try_from(records.min(FLUSH_RECORDS)).unwrap_or(0);
        Memtable {
            from,
            to: from,
            ids: HashMap::with_capacity(reserved),
            streams: HashMap::new(),
        }
    }

    /// Adds the entries of records after its end, in position order.
    pub(super) fn add(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.ids.insert(*entry.id.as_bytes(), entry.position);
            match self.streams.get_mut(&entry.account) {
                Some(tail) => tail.positions.push(entry.position),
                None => {
                    let tail = Tail {
                        first_revision: entry.revision,
                        positions: vec![entry.position],
                    };
                    self.streams.insert(entry.account.clone(), tail);
                }
            }
            self.to = entry.position + 1;
        }
    }

    pub(super) fn records(&self) -> u64 {
        self.to - self.from
    }

    pub(super) fn position_of(&self, id: &[u8; 16], end: u64) -> Option<u64> {
        self.ids.get(id).copied().filter(|&p| p < end)
    }

    /// The last revision of `account` here whose position is below `end`.
    pub(super) fn last_revision(&self, account: &AccountId, end: u64) -> Option<u64> {
        let tail = self.streams.get(account)?;
        let below = tail.positions.partition_point(|&p| p < end) as u64;
        below.checked_sub(1).map(|last| tail.first_revision + last)
    }

    /// Adds to `out` the positions of `revisions` held here (ascending revisions).
    pub(super) fn positions(
        &self,
        account: &AccountId,
        revisions: &Revisions<u64>,
        out: &mut Vec<(u64, u64)>,
    ) {
        let Some(tail) = self.streams.get(account) else {
            return;
        };
        let (first, last) = (
            tail.first_revision,
            tail.first_revision + tail.positions.len() as u64,
        );
        for revision in revisions.start.max(first)..revisions.end.min(last) {
            out.push((revision, tail.positions[(revision - first) as usize]));
        }
    }

    /// The accounts whose first record is here, below `end`, above `after`.
    pub(super) fn first_accounts(&self, after: Option<&AccountId>, end: u64) -> Vec<AccountId> {
        self.streams
            .iter()
            .filter(|(account, tail)| {
                tail.first_revision == 0
                    && tail.positions[0] < end
                    && after.is_none_or(|after| *account > after)
            })
            .map(|(account, _)| account.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
