//! The id index: where each event id is recorded, for idempotency that holds forever.
//!
//! # Why it has two parts
//!
//! sled 0.34 keeps bookkeeping in memory for every page of its tree, evicted or not, and a page
//! that keeps receiving inserts keeps its fragments. Event ids are random, so one `E` key per
//! event spreads inserts over every page of the index: measured, that costs about 65 bytes of
//! resident memory per event and grows without bound (docs/BENCHMARKS.md, "Memory per
//! account"), most of what a large log costs in memory. The log's own keys are written in order
//! and cost a few bytes per event once their pages are evicted.
//!
//! So the index has:
//! - a **recent part**: one `E` key per event, written by the writer in the record's own batch
//!   (so the index never disagrees with the log), bounded by compaction to about
//!   [`DEFAULT_RECENT_LIMIT`] entries;
//! - **runs**: compaction moves every recent entry of a committed record, sorted by id, into a
//!   new run: `R` chunks of [`keys::RUN_CHUNK_IDS`] entries each, then the run's Bloom filter
//!   (`B`), flushed durably, then registered in memory, and only then are the moved `E` keys
//!   removed. At every moment a committed id is in the recent part or in a registered run (or
//!   both, which is harmless: the entries are equal). The filters stay in memory (about 1.5
//!   bytes per event); a chunk is read only when a filter says the id may be in its run.
//!
//! A lookup reads the recent part, then the runs newest first whose filter may hold the id.
//!
//! # Crashes
//!
//! A run whose filter was not written did not finish: nothing reads it, and its chunks are
//! removed at the next open or before the next compaction writes a run with its number. A run
//! whose `E` keys were not all removed leaves entries in both parts, which the next compaction
//! moves again.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use ::sled::{Batch, Db};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::keys::{self, RUN_CHUNK_IDS, RUN_ENTRY_BYTES};
use super::read::sled_error;
use super::Shared;
use crate::domain::EventId;
use crate::store::{LogHead, StoreError};

/// How many recent entries trigger a compaction unless configured: about 17 MB of sled's memory
/// for the recent part, and one run (and one filter to probe per lookup) per 262,144 events.
pub const DEFAULT_RECENT_LIMIT: u64 = 1 << 18;

/// Bits of Bloom filter per id: with [`PROBES`] probes in one 512-bit block, about 0.6% of the
/// lookups of an id a run does not hold read one of its chunks for nothing.
const BITS_PER_ID: u64 = 12;
/// Bit probes per id, all in one 64-byte block so that a probe costs one cache miss.
const PROBES: u32 = 7;
/// u64 words per block.
const BLOCK_WORDS: usize = 8;
/// The version byte of an encoded filter.
const BLOOM_V1: u8 = 1;
/// Chunks written per sled batch while building a run.
const CHUNKS_PER_BATCH: usize = 64;
/// Recent keys removed per sled batch after a run is registered.
const REMOVALS_PER_BATCH: usize = 4096;

/// Where an id is recorded: its position and its event's content digest.
pub(crate) type IdEntry = (u64, [u8; 32]);

/// The id index's runs and the size of its recent part.
pub(crate) struct IdIndex {
    /// Registered runs, oldest first.
    runs: RwLock<Vec<Run>>,
    /// The number of `E` keys.
    recent: AtomicU64,
    /// Compact once `recent` reaches this.
    recent_limit: u64,
    /// The number of compactions this process finished (run registered, its recent entries
    /// removed), for whoever waits on compaction.
    compactions: watch::Sender<u64>,
}

struct Run {
    number: u64,
    filter: Bloom,
}

impl IdIndex {
    /// Loads the runs' filters, removes the chunks of any run that did not finish, and counts
    /// the recent part.
    pub(crate) fn load(db: &Db, recent_limit: u64) -> Result<IdIndex, StoreError> {
        let mut runs = Vec::new();
        for entry in db.scan_prefix(keys::run_blooms_prefix()) {
            let (key, value) = entry.map_err(sled_error)?;
            let number = keys::run_of_bloom_key(&key)
                .ok_or_else(|| corrupt("a Bloom filter key does not decode".into()))?;
            let filter = Bloom::decode(&value).ok_or_else(|| {
                corrupt(format!(
                    "the Bloom filter of id index run {number} does not decode"
                ))
            })?;
            runs.push(Run { number, filter });
        }
        let next = runs.last().map_or(0, |run| run.number + 1);
        remove_chunks_from(db, next)?;
        let recent = db.scan_prefix(keys::event_id_prefix()).count() as u64;
        Ok(IdIndex {
            runs: RwLock::new(runs),
            recent: AtomicU64::new(recent),
            recent_limit: recent_limit.max(1),
            compactions: watch::channel(0).0,
        })
    }

    /// Where `id` is recorded, if it is (committed or not: callers judge the position).
    pub(crate) fn find(&self, db: &Db, id: &EventId) -> Result<Option<IdEntry>, StoreError> {
        if let Some(value) = db.get(keys::event_id_key(id)).map_err(sled_error)? {
            return keys::parse_event_id_value(&value)
                .map(Some)
                .ok_or_else(|| corrupt(format!("the id index entry of {id} does not decode")));
        }
        let probe = Probe::of(id.as_bytes());
        for run in self.read_runs().iter().rev() {
            if run.filter.may_hold(probe) {
                if let Some(found) = find_in_run(db, run.number, id.as_bytes())? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// Counts `records` new recent entries; true when a compaction is due.
    pub(crate) fn recorded(&self, records: u64) -> bool {
        self.recent.fetch_add(records, Ordering::Relaxed) + records >= self.recent_limit
    }

    /// The number of runs.
    pub(crate) fn runs(&self) -> usize {
        self.read_runs().len()
    }

    /// Follows the number of compactions this process finished.
    pub(crate) fn watch_compactions(&self) -> watch::Receiver<u64> {
        self.compactions.subscribe()
    }

    fn due(&self) -> bool {
        self.recent.load(Ordering::Relaxed) >= self.recent_limit
    }

    fn next_run(&self) -> u64 {
        self.read_runs().last().map_or(0, |run| run.number + 1)
    }

    fn register(&self, run: Run) {
        self.runs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(run);
    }

    fn read_runs(&self) -> std::sync::RwLockReadGuard<'_, Vec<Run>> {
        // Registering a run is one push: a panic elsewhere leaves the list consistent.
        self.runs.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts the compaction thread. It compacts when woken and the recent part is over its limit,
/// and stops when the waker (the writer) is gone, abandoning a compaction midway if need be.
pub(crate) fn spawn_compactor(
    shared: Arc<Shared>,
    head: watch::Receiver<LogHead>,
    wake: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("relledger-id-index".to_string())
        .spawn(move || {
            let stopped = || matches!(wake.try_recv(), Err(TryRecvError::Disconnected));
            while wake.recv().is_ok() {
                if !shared.ids.due() {
                    continue;
                }
                let cut = head.borrow().next_position;
                match compact(&shared, cut, &stopped) {
                    Ok(moved) => tracing::debug!(moved, cut, "compacted the id index"),
                    Err(error) => {
                        // Nothing is lost: the recent part keeps every entry it had, and the
                        // next wake-up tries again.
                        tracing::warn!(%error, "could not compact the id index")
                    }
                }
            }
        })
}

/// Moves every recent entry of a record before `cut` into a new run (see the module docs).
/// Returns how many entries the run holds; 0 if there was nothing to move or `stopped` said to
/// stop before the run was registered.
pub(crate) fn compact(
    shared: &Shared,
    cut: u64,
    stopped: &dyn Fn() -> bool,
) -> Result<u64, StoreError> {
    let (db, ids) = (&shared.db, &shared.ids);
    let number = ids.next_run();
    remove_chunks_from(db, number)?;
    let mut filter = Bloom::sized(ids.recent.load(Ordering::Relaxed));
    let mut chunk: Vec<u8> = Vec::with_capacity(RUN_CHUNK_IDS * RUN_ENTRY_BYTES);
    let mut first: Option<[u8; 16]> = None;
    let mut batch = Batch::default();
    let mut chunks_in_batch = 0;
    let mut moved = 0u64;
    for entry in db.scan_prefix(keys::event_id_prefix()) {
        let (key, value) = entry.map_err(sled_error)?;
        let (id, position) = recent_entry(&key, &value)?;
        if position >= cut {
            continue;
        }
        filter.insert(Probe::of(&id));
        first.get_or_insert(id);
        chunk.extend_from_slice(&id);
        chunk.extend_from_slice(&value);
        moved += 1;
        if chunk.len() == RUN_CHUNK_IDS * RUN_ENTRY_BYTES {
            let full = std::mem::take(&mut chunk);
            if let Some(first) = first.take() {
                batch.insert(&keys::run_chunk_key(number, &first)[..], full);
            }
            chunks_in_batch += 1;
            if chunks_in_batch == CHUNKS_PER_BATCH {
                db.apply_batch(std::mem::take(&mut batch))
                    .map_err(sled_error)?;
                chunks_in_batch = 0;
                if stopped() {
                    return Ok(0);
                }
            }
        }
    }
    if let Some(first) = first {
        batch.insert(&keys::run_chunk_key(number, &first)[..], chunk);
    }
    db.apply_batch(batch).map_err(sled_error)?;
    if moved == 0 || stopped() {
        return Ok(0);
    }
    db.insert(keys::run_bloom_key(number), filter.encode())
        .map_err(sled_error)?;
    // The run must be on disk before any entry it replaces leaves the recent part.
    shared.flush()?;
    ids.register(Run { number, filter });
    remove_moved(shared, cut, stopped)?;
    ids.compactions.send_modify(|n| *n += 1);
    Ok(moved)
}

/// Removes the recent entries of records before `cut`, now that a registered run holds them.
fn remove_moved(shared: &Shared, cut: u64, stopped: &dyn Fn() -> bool) -> Result<(), StoreError> {
    let db = &shared.db;
    let prefix = keys::event_id_prefix();
    let mut after: Option<::sled::IVec> = None;
    loop {
        let range = match &after {
            None => db.range::<&[u8], _>((Bound::Included(&prefix[..]), Bound::Unbounded)),
            Some(key) => db.range::<&[u8], _>((Bound::Excluded(&key[..]), Bound::Unbounded)),
        };
        let mut batch = Batch::default();
        let mut removed = 0u64;
        let mut last = None;
        for entry in range {
            let (key, value) = entry.map_err(sled_error)?;
            if !key.starts_with(&prefix) {
                break;
            }
            if recent_entry(&key, &value)?.1 < cut {
                batch.remove(key.clone());
                removed += 1;
            }
            last = Some(key);
            if removed as usize == REMOVALS_PER_BATCH {
                break;
            }
        }
        let Some(last) = last else {
            return Ok(());
        };
        db.apply_batch(batch).map_err(sled_error)?;
        shared.ids.recent.fetch_sub(removed, Ordering::Relaxed);
        if (removed as usize) < REMOVALS_PER_BATCH || stopped() {
            return Ok(());
        }
        after = Some(last);
    }
}

/// The id and position of a recent entry.
fn recent_entry(key: &[u8], value: &[u8]) -> Result<([u8; 16], u64), StoreError> {
    let id = keys::event_id_of_key(key)
        .ok_or_else(|| corrupt("an id index key does not decode".into()))?;
    let (position, _) = keys::parse_event_id_value(value)
        .ok_or_else(|| corrupt("an id index entry does not decode".into()))?;
    Ok((id, position))
}

/// The entry for `id` in run `number`, if the run holds it.
fn find_in_run(db: &Db, number: u64, id: &[u8; 16]) -> Result<Option<IdEntry>, StoreError> {
    let start = keys::run_chunk_prefix(number);
    let end = keys::run_chunk_key(number, id);
    let Some(entry) = db.range(&start[..]..=&end[..]).next_back() else {
        return Ok(None);
    };
    let (_, chunk) = entry.map_err(sled_error)?;
    if chunk.len() % RUN_ENTRY_BYTES != 0 {
        return Err(corrupt(format!(
            "a chunk of id index run {number} does not decode"
        )));
    }
    let entries: Vec<&[u8]> = chunk.chunks_exact(RUN_ENTRY_BYTES).collect();
    let Ok(at) = entries.binary_search_by(|entry| entry[..16].cmp(&id[..])) else {
        return Ok(None);
    };
    keys::parse_event_id_value(&entries[at][16..])
        .map(Some)
        .ok_or_else(|| corrupt(format!("a chunk of id index run {number} does not decode")))
}

/// Removes every chunk of run `number` and later: what an unfinished compaction left.
fn remove_chunks_from(db: &Db, number: u64) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    let mut any = false;
    let prefix = keys::run_chunks_prefix();
    for key in db.range(&keys::run_chunk_prefix(number)[..]..).keys() {
        let key = key.map_err(sled_error)?;
        if !key.starts_with(&prefix) {
            break;
        }
        if keys::run_of_chunk_key(&key).is_some() {
            batch.remove(key);
            any = true;
        }
    }
    if any {
        tracing::info!(
            run = number,
            "removing the chunks of an unfinished id index run"
        );
        db.apply_batch(batch).map_err(sled_error)?;
    }
    Ok(())
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt(reason)
}

/// Where an id's bits are: a block and bit positions derived from SHA-256 of the id, so that
/// the filters on disk mean the same to every build (std's hashers promise no stable output).
#[derive(Clone, Copy)]
struct Probe {
    block: u64,
    bits: u64,
}

impl Probe {
    fn of(id: &[u8; 16]) -> Probe {
        let digest = Sha256::digest(id);
        let word = |i: usize| u64::from_le_bytes(digest[i..i + 8].try_into().unwrap_or_default());
        Probe {
            block: word(0),
            bits: word(8),
        }
    }

    /// The `i`th bit position inside a 512-bit block.
    fn bit(self, i: u32) -> usize {
        ((self.bits >> (9 * i)) & 511) as usize
    }
}

/// A blocked Bloom filter: every probe of one id falls in one 64-byte block.
#[derive(Debug, PartialEq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    /// A filter for about `ids` ids.
    fn sized(ids: u64) -> Bloom {
        let bits = ids.max(1) * BITS_PER_ID;
        let blocks = bits.div_ceil(64 * BLOCK_WORDS as u64).max(1) as usize;
        Bloom {
            words: vec![0; blocks * BLOCK_WORDS],
        }
    }

    fn blocks(&self) -> u64 {
        (self.words.len() / BLOCK_WORDS) as u64
    }

    fn insert(&mut self, probe: Probe) {
        let base = (probe.block % self.blocks()) as usize * BLOCK_WORDS;
        for i in 0..PROBES {
            let bit = probe.bit(i);
            self.words[base + bit / 64] |= 1 << (bit % 64);
        }
    }

    fn may_hold(&self, probe: Probe) -> bool {
        let base = (probe.block % self.blocks()) as usize * BLOCK_WORDS;
        (0..PROBES).all(|i| {
            let bit = probe.bit(i);
            self.words[base + bit / 64] & (1 << (bit % 64)) != 0
        })
    }

    /// Version byte, then the words, little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + self.words.len() * 8);
        bytes.push(BLOOM_V1);
        for word in &self.words {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Bloom> {
        let (&version, words) = bytes.split_first()?;
        if version != BLOOM_V1 || words.is_empty() || words.len() % (8 * BLOCK_WORDS) != 0 {
            return None;
        }
        let words = words
            .chunks_exact(8)
            .map(|word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
            .collect();
        Some(Bloom { words })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_holds_every_id_inserted_and_few_others() {
        let ids: Vec<[u8; 16]> = (0..10_000)
            .map(|_| *EventId::new_random().as_bytes())
            .collect();
        let mut filter = Bloom::sized(ids.len() as u64);
        for id in &ids {
            filter.insert(Probe::of(id));
        }
        let decoded = Bloom::decode(&filter.encode()).expect("it decodes");
        assert_eq!(decoded, filter);
        assert!(ids.iter().all(|id| decoded.may_hold(Probe::of(id))));
        let others = (0..10_000)
            .filter(|_| decoded.may_hold(Probe::of(EventId::new_random().as_bytes())))
            .count();
        // About 0.6% expected; 2% would mean the probes are not independent.
        assert!(others < 200, "{others} false positives in 10,000");
    }

    #[test]
    fn a_damaged_filter_is_refused() {
        assert_eq!(Bloom::decode(&[]), None);
        assert_eq!(Bloom::decode(&[BLOOM_V1]), None);
        assert_eq!(Bloom::decode(&[BLOOM_V1, 0, 0, 0]), None);
        let mut encoded = Bloom::sized(10).encode();
        encoded[0] = 9;
        assert_eq!(Bloom::decode(&encoded), None);
    }
}
