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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The principal that asked for it (`Audit.SignCheckpoint` on a server with
    /// authentication), inside the signed message; `None` for a checkpoint the server signed
    /// on its own or on a server without authentication.
    pub requested_by: Option<String>,
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
        self.lock().insert(
            (checkpoint.position, checkpoint.public_key),
            checkpoint.clone(),
        );
        Ok(())
    }

    fn range(&self, from: u64, to: u64) -> SignedCheckpointIter {
        // A copy, so the iterator holds no lock while the caller reads it.
        let found: Vec<_> = if from > to {
            Vec::new()
        } else {
            self.lock()
                .range((from, [0; 32])..=(to, [u8::MAX; 32]))
                .map(|(_, checkpoint)| Ok(checkpoint.clone()))
                .collect()
        };
        Box::new(found.into_iter())
    }

    fn at_or_before(&self, position: u64) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self
            .lock()
            .range(..=(position, [u8::MAX; 32]))
            .next_back()
            .map(|(_, checkpoint)| checkpoint.clone()))
    }

    fn get(
        &self,
        position: u64,
        public_key: &[u8; 32],
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        Ok(self.lock().get(&(position, *public_key)).cloned())
    }
}

#[cfg(test)]
mod tests;
