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
//! Two backends, like the log's: [`MemorySnapshots`], the model, and `SledSnapshots`
//! (`store/sled/snapshots.rs`), a tree of its own (`projections`) in the log's sled database.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::projection::RelationshipSummary;
use crate::domain::AccountId;

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
