//! The index as the log's writer drives it, reachable from outside the crate for one purpose:
//! `bench/index-engines`, a crate of its own (outside the workspace) that compares it with
//! embedded key-value engines holding the same two indexes. Not an API: hidden from the docs,
//! and it changes whenever the index does.

use std::io;
use std::ops::Range;
use std::path::Path;

pub use super::memtable::Entry;
use crate::domain::{AccountId, EventId};
use crate::store::StoreError;

/// The records a memtable holds before it is written as a run, as the log opens it.
pub const FLUSH_RECORDS: u64 = super::FLUSH_RECORDS;

/// The log's index, with the calls the writer makes.
pub struct Index(super::Index);

impl Index {
    /// Opens the index in `dir`, creating it if there is none, its memtable full at
    /// `flush_records` records.
    pub fn open(dir: &Path, flush_records: u64) -> io::Result<Index> {
        super::Index::open(dir, flush_records).map(|(index, _)| Index(index))
    }

    /// What the writer does once a group is durable: adds its entries, then, if the memtable
    /// is full, freezes it for the index thread (`to_bytes`: the frame bytes before its end).
    pub fn add_group(&self, entries: &[Entry], to_bytes: u64) {
        self.0.add(entries);
        if self.0.is_full() {
            self.0.freeze(to_bytes);
        }
    }

    /// What the writer does at a clean close (writes the memtable as a run), then every merge
    /// that is due: the index is idle when it returns.
    pub fn finish(&self, to_bytes: u64) -> io::Result<()> {
        self.0.flush(to_bytes)?;
        self.0.wait_for_merges();
        Ok(())
    }

    /// See `Index::position_of`.
    pub fn position_of(&self, id: &EventId, end: u64) -> Result<Option<u64>, StoreError> {
        self.0.position_of(id, end)
    }

    /// See `Index::last_revision`.
    pub fn last_revision(&self, account: &AccountId, end: u64) -> Result<Option<u64>, StoreError> {
        self.0.last_revision(account, end)
    }

    /// See `Index::positions`.
    pub fn positions(
        &self,
        account: &AccountId,
        revisions: Range<u64>,
    ) -> Result<Vec<u64>, StoreError> {
        self.0.positions(account, revisions)
    }
}
