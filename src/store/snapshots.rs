//! The live projector's checkpoint: each account's [`RelationshipSummary`] and the log
//! position they all reflect.
//!
//! Projections are derived data: the log can always rebuild them. The checkpoint exists so a
//! restart replays only the tail of the log, and so the change feed knows each account's
//! state before the next event without re-projecting history. Summaries and the position are
//! written in one atomic batch, so they always agree; they are not fsync'd on their own (a
//! crash loses at most the last batches, which the projector replays from the log).
//!
//! The checkpoint also names the scoring rules (`params_version`) it was computed with: a
//! server with other rules starts over from position 0 instead of mixing two rule sets.
//!
//! Two backends, like the log's: [`MemorySnapshots`], the model, and [`SledSnapshots`], a tree
//! of its own (`projections`) in the log's sled database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sled::Shared;
use super::StoreError;
use crate::domain::projection::RelationshipSummary;
use crate::domain::AccountId;

/// The name of the sled tree holding the checkpoint.
const TREE: &str = "projections";
/// The key of the position the checkpoint reflects.
const POSITION_KEY: &[u8] = b"P";
/// The prefix of each account's summary.
const ACCOUNT_PREFIX: u8 = b'A';
/// The version byte that starts every stored value.
const VALUE_VERSION: u8 = 1;

/// Where the checkpoint stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPosition {
    /// The last log position whose event is reflected.
    pub position: u64,
    /// The scoring rules the summaries were computed with.
    pub params_version: String,
}

/// The projector's durable checkpoint.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Where the checkpoint stands; `None` when nothing was projected yet.
    async fn position(&self) -> Result<Option<SnapshotPosition>, StoreError>;

    /// The summary of `account`, if it has one.
    async fn summary(&self, account: &AccountId)
        -> Result<Option<RelationshipSummary>, StoreError>;

    /// Every account's summary, by account id.
    async fn summaries(&self) -> Result<Vec<RelationshipSummary>, StoreError>;

    /// Stores `summaries` (replacing those of the same accounts) and `position`, atomically.
    async fn commit(
        &self,
        summaries: Vec<RelationshipSummary>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError>;

    /// Forgets everything, for a rebuild from position 0.
    async fn clear(&self) -> Result<(), StoreError>;
}

/// The checkpoint in memory: the model, and the store of a log that is not durable.
#[derive(Debug, Default)]
pub struct MemorySnapshots {
    /// A std mutex suffices: it is never held across an await.
    state: Mutex<(
        Option<SnapshotPosition>,
        BTreeMap<AccountId, RelationshipSummary>,
    )>,
}

impl MemorySnapshots {
    /// An empty checkpoint.
    pub fn new() -> Self {
        MemorySnapshots::default()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        (
            Option<SnapshotPosition>,
            BTreeMap<AccountId, RelationshipSummary>,
        ),
    > {
        // Every change replaces whole values, so a panic cannot leave them half changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl SnapshotStore for MemorySnapshots {
    async fn position(&self) -> Result<Option<SnapshotPosition>, StoreError> {
        Ok(self.lock().0.clone())
    }

    async fn summary(
        &self,
        account: &AccountId,
    ) -> Result<Option<RelationshipSummary>, StoreError> {
        Ok(self.lock().1.get(account).cloned())
    }

    async fn summaries(&self) -> Result<Vec<RelationshipSummary>, StoreError> {
        Ok(self.lock().1.values().cloned().collect())
    }

    async fn commit(
        &self,
        summaries: Vec<RelationshipSummary>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        for summary in summaries {
            state.1.insert(summary.account_id.clone(), summary);
        }
        state.0 = Some(position);
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        *self.lock() = (None, BTreeMap::new());
        Ok(())
    }
}

/// The checkpoint in the log's sled database (see the module docs). Holds the database, and
/// with it the data dir's lock, until dropped.
#[derive(Clone)]
pub struct SledSnapshots {
    /// The `projections` tree.
    tree: ::sled::Tree,
    /// The database and the dir lock that must outlive it.
    _shared: Arc<Shared>,
}

impl std::fmt::Debug for SledSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSnapshots").finish_non_exhaustive()
    }
}

impl SledSnapshots {
    /// Opens (creating if needed) the `projections` tree of the log's database.
    pub(crate) fn open(shared: Arc<Shared>) -> Result<SledSnapshots, StoreError> {
        let tree = shared.db.open_tree(TREE).map_err(sled_error)?;
        Ok(SledSnapshots {
            tree,
            _shared: shared,
        })
    }
}

fn sled_error(error: ::sled::Error) -> StoreError {
    match error {
        ::sled::Error::Corruption { .. } => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

fn account_key(account: &AccountId) -> Vec<u8> {
    let mut key = vec![ACCOUNT_PREFIX];
    key.extend_from_slice(account.as_str().as_bytes());
    key
}

/// A value: the version byte, then JSON.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![VALUE_VERSION];
    serde_json::to_writer(&mut bytes, value).map_err(|e| {
        StoreError::Unavailable(format!("a projection checkpoint does not encode: {e}"))
    })?;
    Ok(bytes)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&VALUE_VERSION, json)) => serde_json::from_slice(json).map_err(|e| {
            StoreError::Corrupt(format!(
                "the projection checkpoint of {what} does not decode: {e}"
            ))
        }),
        _ => Err(StoreError::Corrupt(format!(
            "the projection checkpoint of {what} has an unknown version"
        ))),
    }
}

/// Runs blocking sled work on tokio's blocking pool.
async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("a projection checkpoint task failed: {e}")))?
}

#[async_trait]
impl SnapshotStore for SledSnapshots {
    async fn position(&self) -> Result<Option<SnapshotPosition>, StoreError> {
        let tree = self.tree.clone();
        blocking(move || {
            tree.get(POSITION_KEY)
                .map_err(sled_error)?
                .map(|bytes| decode(&bytes, "the log position"))
                .transpose()
        })
        .await
    }

    async fn summary(
        &self,
        account: &AccountId,
    ) -> Result<Option<RelationshipSummary>, StoreError> {
        let (tree, account) = (self.tree.clone(), account.clone());
        blocking(move || {
            tree.get(account_key(&account))
                .map_err(sled_error)?
                .map(|bytes| decode(&bytes, account.as_str()))
                .transpose()
        })
        .await
    }

    async fn summaries(&self) -> Result<Vec<RelationshipSummary>, StoreError> {
        let tree = self.tree.clone();
        blocking(move || {
            tree.scan_prefix([ACCOUNT_PREFIX])
                .map(|entry| {
                    let (key, value) = entry.map_err(sled_error)?;
                    decode(&value, &String::from_utf8_lossy(&key[1..]))
                })
                .collect()
        })
        .await
    }

    async fn commit(
        &self,
        summaries: Vec<RelationshipSummary>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError> {
        let tree = self.tree.clone();
        blocking(move || {
            let mut batch = ::sled::Batch::default();
            for summary in &summaries {
                batch.insert(account_key(&summary.account_id), encode(summary)?);
            }
            batch.insert(POSITION_KEY, encode(&position)?);
            tree.apply_batch(batch).map_err(sled_error)
        })
        .await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let tree = self.tree.clone();
        blocking(move || tree.clear().map_err(sled_error)).await
    }
}
