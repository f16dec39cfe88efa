//! The stored signed checkpoints of the hash chain: which key said, and when, that the record
//! at a position has a given hash.
//!
//! The store keeps them as data: it knows nothing of Ed25519 (signing and checking are the
//! audit layer's, `crate::audit`). The audit layer sees only the [`SignedCheckpointStore`]
//! trait, so it runs over any backend of the log. Two backends, like the log's:
//! [`MemorySignedCheckpoints`], the model, and
//! [`SledSignedCheckpoints`](super::SledSignedCheckpoints), a tree of its own in the log's sled
//! database, flushed (fsync) before `insert` returns.
//!
//! One checkpoint per position and key, in position order (and by key within a position): a
//! log restored from an export keeps the checkpoints of the key that signed it beside those of
//! its own key.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::StoreError;
use crate::domain::{ChainHash, Timestamp};

/// A signature over the chain head at `position`: the record there has `hash`, and so every
/// record before it is fixed too. The signed message is `crate::audit::checkpoint_message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The position of the record whose hash is signed.
    pub position: u64,
    /// That record's hash.
    pub hash: ChainHash,
    /// When it was signed (the signer's clock); part of the signed message.
    pub signed_at: Timestamp,
    /// The Ed25519 public key that signed it.
    pub public_key: [u8; 32],
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

/// Stored checkpoints in position order (then by public key). Double-ended, so that the newest
/// of a range is found from the back without reading the rest.
pub type SignedCheckpointIter =
    Box<dyn DoubleEndedIterator<Item = Result<SignedCheckpoint, StoreError>> + Send + 'static>;

/// The durable signed checkpoints of a log. Every method blocks: call them from a blocking
/// thread in async code (the audit layer does all its store work there).
pub trait SignedCheckpointStore: Send + Sync + 'static {
    /// Stores `checkpoint` (replacing one of the same position and key); durable when it
    /// returns.
    fn insert(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError>;

    /// The checkpoints at positions `from..=to`, of any key, in position order.
    fn range(&self, from: u64, to: u64) -> SignedCheckpointIter;

    /// The newest checkpoint at or before `position`, of any key (of the greatest key when
    /// several sign that position).
    fn at_or_before(&self, position: u64) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// The checkpoint of `public_key` at `position`, if there is one.
    fn get(
        &self,
        position: u64,
        public_key: &[u8; 32],
    ) -> Result<Option<SignedCheckpoint>, StoreError>;
}

/// Signed checkpoints in memory: the model, and the store of a log that is not durable.
#[derive(Debug, Default)]
pub struct MemorySignedCheckpoints {
    /// By (position, public key): the order the trait promises. A std mutex suffices: it is
    /// never held across an await.
    checkpoints: Mutex<BTreeMap<(u64, [u8; 32]), SignedCheckpoint>>,
}

impl MemorySignedCheckpoints {
    /// An empty store.
    pub fn new() -> Self {
        MemorySignedCheckpoints::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(u64, [u8; 32]), SignedCheckpoint>> {
        // Every change is one insert, so a panic cannot have left the map half changed.
        self.checkpoints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SignedCheckpointStore for MemorySignedCheckpoints {
    fn insert(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        self.lock()
            .insert((checkpoint.position, checkpoint.public_key), *checkpoint);
        Ok(())
    }

    fn range(&self, from: u64, to: u64) -> SignedCheckpointIter {
        // A copy, so the iterator holds no lock while the caller reads it.
        let found: Vec<_> = if from > to {
            Vec::new()
        } else {
            self.lock()
                .range((from, [0; 32])..=(to, [u8::MAX; 32]))
                .map(|(_, checkpoint)| Ok(*checkpoint))
                .collect()
        };
        Box::new(found.into_iter())
    }

    fn at_or_before(&self, position: u64) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self
            .lock()
            .range(..=(position, [u8::MAX; 32]))
            .next_back()
            .map(|(_, checkpoint)| *checkpoint))
    }

    fn get(
        &self,
        position: u64,
        public_key: &[u8; 32],
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self.lock().get(&(position, *public_key)).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileLog;

    fn checkpoint(position: u64, key: u8) -> SignedCheckpoint {
        SignedCheckpoint {
            position,
            hash: ChainHash([position as u8; 32]),
            signed_at: Timestamp::from_unix_nanos(-5),
            public_key: [key; 32],
            signature: [9; 64],
        }
    }

    /// Every question the audit layer asks, answered by `store` after the same inserts
    /// (including a replacement of one position and key, and the ends of the position range).
    fn answers(store: &dyn SignedCheckpointStore) -> Vec<String> {
        let mut answers = Vec::new();
        let ranges = [
            (0, u64::MAX),
            (5, 5),
            (6, 299),
            (5, 300),
            (301, u64::MAX),
            (7, 3),
        ];
        for (from, to) in ranges {
            let found: Vec<_> = store.range(from, to).map(Result::unwrap).collect();
            answers.push(format!("range {from}..={to}: {found:?}"));
            let newest = store.range(from, to).next_back().map(Result::unwrap);
            answers.push(format!("newest of {from}..={to}: {newest:?}"));
        }
        for position in [0, 4, 5, 6, 299, 300, u64::MAX - 1, u64::MAX] {
            let found = store.at_or_before(position).unwrap();
            answers.push(format!("at or before {position}: {found:?}"));
        }
        for (position, key) in [(5, 1), (5, 2), (5, 3), (6, 1), (300, 1), (u64::MAX, 2)] {
            let found = store.get(position, &[key; 32]).unwrap();
            answers.push(format!("get {position} of key {key}: {found:?}"));
        }
        answers
    }

    #[test]
    fn the_sled_store_answers_like_the_memory_model() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path()).unwrap();
        let sled = log.signed_checkpoints().unwrap();
        let memory = MemorySignedCheckpoints::new();
        let mut replaced = checkpoint(5, 2);
        replaced.signature = [1; 64];
        let inserts = [
            checkpoint(300, 1),
            checkpoint(5, 2),
            checkpoint(5, 1),
            replaced,
            checkpoint(u64::MAX, 2),
        ];
        for c in &inserts {
            sled.insert(c).unwrap();
            memory.insert(c).unwrap();
        }
        let expected = answers(&memory);
        assert_eq!(answers(&sled), expected);
        // The model itself answers what the contract says.
        assert_eq!(
            memory
                .range(0, u64::MAX)
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
            [
                checkpoint(5, 1),
                replaced,
                checkpoint(300, 1),
                checkpoint(u64::MAX, 2)
            ]
        );
        assert_eq!(memory.at_or_before(299).unwrap(), Some(replaced));
        assert_eq!(memory.at_or_before(4).unwrap(), None);
        assert_eq!(memory.get(5, &[2; 32]).unwrap(), Some(replaced));
        assert_eq!(memory.range(7, 3).count(), 0);
    }

    #[test]
    fn checkpoints_are_kept_in_position_order_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = FileLog::open(dir.path()).unwrap();
            let store = log.signed_checkpoints().unwrap();
            for c in [checkpoint(300, 1), checkpoint(5, 1), checkpoint(5, 2)] {
                store.insert(&c).unwrap();
            }
        }
        let log = FileLog::open(dir.path()).unwrap();
        let store = log.signed_checkpoints().unwrap();
        let all: Vec<_> = store.range(0, u64::MAX).map(Result::unwrap).collect();
        assert_eq!(
            all,
            [checkpoint(5, 1), checkpoint(5, 2), checkpoint(300, 1)]
        );
        assert_eq!(store.range(6, 299).count(), 0);
        assert_eq!(store.at_or_before(299).unwrap(), Some(checkpoint(5, 2)));
        assert_eq!(store.at_or_before(4).unwrap(), None);
        assert_eq!(
            store.at_or_before(u64::MAX).unwrap(),
            Some(checkpoint(300, 1))
        );
        assert_eq!(store.get(5, &[1; 32]).unwrap(), Some(checkpoint(5, 1)));
        assert_eq!(store.get(6, &[1; 32]).unwrap(), None);
    }
}
