//! The stored signed checkpoints of the hash chain: which key said, and when, that the record
//! at a position has a given hash.
//!
//! The store keeps them as bytes: it knows nothing of Ed25519 (signing and checking are the
//! audit layer's, `crate::audit`). They live in a sled tree of their own (`signed_checkpoints`)
//! in the log's database, like the subscription positions, so the log's keys, recovery and
//! manifest neither see nor depend on them. A checkpoint is flushed (fsync) before `insert`
//! returns.
//!
//! | key | value |
//! |---|---|
//! | position (u64 BE) + public key (32 bytes) | version `1`, hash (32), signed_at (i64 BE ns), signature (64) |
//!
//! One checkpoint per position and key: the key puts them in position order, and a log
//! restored from an export keeps the checkpoints of the key that signed it beside those of its
//! own key.

use std::sync::Arc;

use super::sled::{sled_error, Shared};
use super::StoreError;
use crate::domain::{ChainHash, Timestamp};

/// The name of the sled tree holding the signed checkpoints.
pub(crate) const TREE: &str = "signed_checkpoints";

/// The version byte that starts every stored value.
const VALUE_VERSION: u8 = 1;
const KEY_LEN: usize = 8 + 32;
const VALUE_LEN: usize = 1 + 32 + 8 + 64;

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

impl SignedCheckpoint {
    pub(crate) fn key(&self) -> [u8; KEY_LEN] {
        let mut key = [0; KEY_LEN];
        key[..8].copy_from_slice(&self.position.to_be_bytes());
        key[8..].copy_from_slice(&self.public_key);
        key
    }

    pub(crate) fn value(&self) -> [u8; VALUE_LEN] {
        let mut value = [0; VALUE_LEN];
        value[0] = VALUE_VERSION;
        value[1..33].copy_from_slice(&self.hash.0);
        value[33..41].copy_from_slice(&self.signed_at.unix_nanos().to_be_bytes());
        value[41..].copy_from_slice(&self.signature);
        value
    }

    fn decode(key: &[u8], value: &[u8]) -> Option<SignedCheckpoint> {
        if key.len() != KEY_LEN || value.len() != VALUE_LEN || value[0] != VALUE_VERSION {
            return None;
        }
        Some(SignedCheckpoint {
            position: u64::from_be_bytes(key[..8].try_into().ok()?),
            public_key: key[8..].try_into().ok()?,
            hash: ChainHash(value[1..33].try_into().ok()?),
            signed_at: Timestamp::from_unix_nanos(i64::from_be_bytes(
                value[33..41].try_into().ok()?,
            )),
            signature: value[41..].try_into().ok()?,
        })
    }
}

/// The signed checkpoints in the log's sled database. Every method blocks: call them from a
/// blocking thread in async code. Holds the database, and with it the data dir's lock.
#[derive(Clone)]
pub struct SledSignedCheckpoints {
    /// The `signed_checkpoints` tree.
    tree: ::sled::Tree,
    /// The database (flushed after every insert) and the dir lock that must outlive it.
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SledSignedCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSignedCheckpoints")
            .finish_non_exhaustive()
    }
}

fn decode_entry(
    entry: ::sled::Result<(::sled::IVec, ::sled::IVec)>,
) -> Result<SignedCheckpoint, StoreError> {
    let (key, value) = entry.map_err(sled_error)?;
    SignedCheckpoint::decode(&key, &value).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the signed checkpoint under key {} does not decode",
            hex::encode(&key)
        ))
    })
}

impl SledSignedCheckpoints {
    /// Opens (creating if needed) the `signed_checkpoints` tree of the log's database.
    pub(crate) fn open(shared: Arc<Shared>) -> Result<SledSignedCheckpoints, StoreError> {
        let tree = shared.db.open_tree(TREE).map_err(sled_error)?;
        Ok(SledSignedCheckpoints { tree, shared })
    }

    /// Stores `checkpoint` (replacing one of the same position and key) durably.
    pub fn insert(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        self.tree
            .insert(checkpoint.key(), &checkpoint.value()[..])
            .map_err(sled_error)?;
        self.shared.db.flush().map_err(sled_error)?;
        Ok(())
    }

    /// The checkpoints at positions `from..=to`, in position order.
    pub fn range(
        &self,
        from: u64,
        to: u64,
    ) -> impl DoubleEndedIterator<Item = Result<SignedCheckpoint, StoreError>> + Send + 'static
    {
        let start = from.to_be_bytes().to_vec();
        let iter = match to.checked_add(1) {
            Some(end) => self.tree.range(start..end.to_be_bytes().to_vec()),
            None => self.tree.range(start..),
        };
        iter.map(decode_entry)
    }

    /// The newest checkpoint at or before `position`, of any key.
    pub fn at_or_before(&self, position: u64) -> Result<Option<SignedCheckpoint>, StoreError> {
        let end = position.checked_add(1).map(u64::to_be_bytes);
        let last = match end {
            Some(end) => self.tree.range(..end.to_vec()).next_back(),
            None => self.tree.iter().next_back(),
        };
        last.map(decode_entry).transpose()
    }

    /// The checkpoint of `public_key` at `position`, if there is one.
    pub fn get(
        &self,
        position: u64,
        public_key: &[u8; 32],
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        let mut key = [0; KEY_LEN];
        key[..8].copy_from_slice(&position.to_be_bytes());
        key[8..].copy_from_slice(public_key);
        self.tree
            .get(key)
            .map_err(sled_error)?
            .map(|value| decode_entry(Ok((key[..].into(), value))))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledLog;

    fn checkpoint(position: u64, key: u8) -> SignedCheckpoint {
        SignedCheckpoint {
            position,
            hash: ChainHash([position as u8; 32]),
            signed_at: Timestamp::from_unix_nanos(-5),
            public_key: [key; 32],
            signature: [9; 64],
        }
    }

    #[test]
    fn checkpoints_are_kept_in_position_order_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = SledLog::open(dir.path()).unwrap();
            let store = log.signed_checkpoints().unwrap();
            for c in [checkpoint(300, 1), checkpoint(5, 1), checkpoint(5, 2)] {
                store.insert(&c).unwrap();
            }
        }
        let log = SledLog::open(dir.path()).unwrap();
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
