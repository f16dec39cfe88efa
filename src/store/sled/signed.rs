//! [`SledSignedCheckpoints`]: the signed checkpoints in the log's own sled database, in a tree
//! of their own (see `store::signed` for the contract).
//!
//! The tree (`signed_checkpoints`) is separate from the log's keys, like the subscription
//! positions, so the log's keys, recovery and manifest neither see nor depend on it. A
//! checkpoint is flushed (fsync) before `insert` returns.
//!
//! | key | value |
//! |---|---|
//! | position (u64 BE) + public key (32 bytes) | version `1`, hash (32), signed_at (i64 BE ns), signature (64) |
//! | the same | version `2`, the same fields, then `requested_by` (UTF-8, to the end) |
//!
//! The key puts the checkpoints in position order, and keeps one per position and key.

use std::sync::Arc;

use super::{sled_error, Database};
use crate::domain::{ChainHash, Timestamp};
use crate::store::{SignedCheckpoint, SignedCheckpointIter, SignedCheckpointStore, StoreError};

/// The name of the sled tree holding the signed checkpoints.
pub(crate) const TREE: &str = "signed_checkpoints";

/// The version byte of a value without `requested_by`.
const VALUE_VERSION: u8 = 1;
/// The version byte of a value with `requested_by` after the fixed fields.
const VALUE_VERSION_REQUESTED: u8 = 2;
const KEY_LEN: usize = 8 + 32;
const VALUE_LEN: usize = 1 + 32 + 8 + 64;

/// The tree key of the checkpoint of `public_key` at `position`.
fn key(position: u64, public_key: &[u8; 32]) -> [u8; KEY_LEN] {
    let mut key = [0; KEY_LEN];
    key[..8].copy_from_slice(&position.to_be_bytes());
    key[8..].copy_from_slice(public_key);
    key
}

/// The tree key of `checkpoint`.
pub(crate) fn checkpoint_key(checkpoint: &SignedCheckpoint) -> [u8; KEY_LEN] {
    key(checkpoint.position, &checkpoint.public_key)
}

/// The stored value of `checkpoint`.
pub(crate) fn checkpoint_value(checkpoint: &SignedCheckpoint) -> Vec<u8> {
    let requested_by = checkpoint.requested_by.as_deref();
    let mut value = vec![0; VALUE_LEN];
    value[0] = match requested_by {
        None => VALUE_VERSION,
        Some(_) => VALUE_VERSION_REQUESTED,
    };
    value[1..33].copy_from_slice(&checkpoint.hash.0);
    value[33..41].copy_from_slice(&checkpoint.signed_at.unix_nanos().to_be_bytes());
    value[41..VALUE_LEN].copy_from_slice(&checkpoint.signature);
    if let Some(name) = requested_by {
        value.extend_from_slice(name.as_bytes());
    }
    value
}

/// The checkpoint a key and value of the tree hold; `None` for anything `checkpoint_key` and
/// `checkpoint_value` did not write.
fn decode(key: &[u8], value: &[u8]) -> Option<SignedCheckpoint> {
    if key.len() != KEY_LEN || value.len() < VALUE_LEN {
        return None;
    }
    let requested_by = match (value[0], &value[VALUE_LEN..]) {
        (VALUE_VERSION, []) => None,
        (VALUE_VERSION_REQUESTED, name) if !name.is_empty() => {
            Some(std::str::from_utf8(name).ok()?.to_string())
        }
        _ => return None,
    };
    Some(SignedCheckpoint {
        position: u64::from_be_bytes(key[..8].try_into().ok()?),
        public_key: key[8..].try_into().ok()?,
        hash: ChainHash(value[1..33].try_into().ok()?),
        signed_at: Timestamp::from_unix_nanos(i64::from_be_bytes(value[33..41].try_into().ok()?)),
        signature: value[41..VALUE_LEN].try_into().ok()?,
        requested_by,
    })
}

fn decode_entry(
    entry: ::sled::Result<(::sled::IVec, ::sled::IVec)>,
) -> Result<SignedCheckpoint, StoreError> {
    let (key, value) = entry.map_err(sled_error)?;
    decode(&key, &value).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the signed checkpoint under key {} does not decode",
            hex::encode(&key)
        ))
    })
}

/// The signed checkpoints in the log's sled database (see the module docs). Every method
/// blocks: call them from a blocking thread in async code. Holds the database, and with it the
/// data dir's lock, until dropped.
#[derive(Clone)]
pub struct SledSignedCheckpoints {
    /// The `signed_checkpoints` tree.
    tree: ::sled::Tree,
    /// The database (flushed after every insert) and the dir lock that must outlive it.
    database: Arc<Database>,
}

impl std::fmt::Debug for SledSignedCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSignedCheckpoints")
            .finish_non_exhaustive()
    }
}

impl SledSignedCheckpoints {
    /// Opens (creating if needed) the `signed_checkpoints` tree of the log's database.
    pub(crate) fn open(database: Arc<Database>) -> Result<SledSignedCheckpoints, StoreError> {
        let tree = database.db.open_tree(TREE).map_err(sled_error)?;
        Ok(SledSignedCheckpoints { tree, database })
    }
}

impl SignedCheckpointStore for SledSignedCheckpoints {
    fn insert(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        self.tree
            .insert(
                checkpoint_key(checkpoint),
                &checkpoint_value(checkpoint)[..],
            )
            .map_err(|e| self.database.write_failed(e))?;
        self.database.flush()?;
        Ok(())
    }

    fn range(&self, from: u64, to: u64) -> SignedCheckpointIter {
        let start = from.to_be_bytes().to_vec();
        let iter = match to.checked_add(1) {
            Some(end) => self.tree.range(start..end.to_be_bytes().to_vec()),
            None => self.tree.range(start..),
        };
        Box::new(iter.map(decode_entry))
    }

    fn at_or_before(&self, position: u64) -> Result<Option<SignedCheckpoint>, StoreError> {
        let end = position.checked_add(1).map(u64::to_be_bytes);
        let last = match end {
            Some(end) => self.tree.range(..end.to_vec()).next_back(),
            None => self.tree.iter().next_back(),
        };
        last.map(decode_entry).transpose()
    }

    fn get(
        &self,
        position: u64,
        public_key: &[u8; 32],
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        let key = key(position, public_key);
        self.tree
            .get(key)
            .map_err(sled_error)?
            .map(|value| decode_entry(Ok((key[..].into(), value))))
            .transpose()
    }
}
