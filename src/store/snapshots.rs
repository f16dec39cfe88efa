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
//! The checkpoint also keeps the *change log*: every [`RelationshipChange`] the projector
//! found, by the position of the last event it covers, written in the same batch as the
//! summaries, so the change log, the summaries and the position always agree. The
//! relationship change feed pages through it ([`SnapshotStore::changes_after`]).
//!
//! It keeps every account's *row* (`read::rows`: the relationship in brief as of now), those of
//! a page's accounts in the page's batch and those the rows' refresher folds again as it goes,
//! so that a restarted projector answers lists and the portfolio from the rows it loads instead
//! of folding every account's history again (see [`SnapshotStore::rows`]).
//!
//! Beside the checkpoint it keeps checkpoints of long histories' account states (`read::states`),
//! each at its own position, so that a state the memory cache dropped, or a restarted server,
//! reads one record and the account's tail instead of its whole history.
//!
//! Two backends, like the log's: [`MemorySnapshots`], the model, and `SledSnapshots`
//! (`store/sled/snapshots.rs`), a tree of its own (`projections`) in the log's sled database.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::projection::{RelationshipChange, RelationshipSummary};
use crate::domain::AccountId;

/// Where the checkpoint stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPosition {
    /// The last log position whose event is reflected.
    pub position: u64,
    /// The scoring rules the summaries were computed with.
    pub params_version: String,
}

/// A kept row (`read::rows`) as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    /// The account.
    pub account: AccountId,
    /// The position of the account's last event the row counts: a row of an earlier position
    /// never replaces it.
    pub position: u64,
    /// The row, as `read::rows` encodes it.
    pub bytes: Vec<u8>,
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

    /// The summaries of `accounts`, in their order: one read for a page's accounts instead of
    /// one each.
    async fn summaries_of(
        &self,
        accounts: Vec<AccountId>,
    ) -> Result<Vec<Option<RelationshipSummary>>, StoreError> {
        let mut summaries = Vec::with_capacity(accounts.len());
        for account in &accounts {
            summaries.push(self.summary(account).await?);
        }
        Ok(summaries)
    }

    /// Stores `summaries` and `rows` (replacing those of the same accounts), appends `changes`
    /// to the change log (each under the position of the last event it covers) and stores
    /// `position`, atomically.
    async fn commit(
        &self,
        summaries: Vec<RelationshipSummary>,
        changes: Vec<RelationshipChange>,
        rows: Vec<StoredRow>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError>;

    /// Keeps rows folded again, each replacing its account's unless the row stored there counts
    /// a later event (a page committed it meanwhile).
    async fn keep_rows(&self, rows: Vec<StoredRow>) -> Result<(), StoreError>;

    /// Notes that every account with events up to the checkpoint's position has its row
    /// stored, as every later commit keeps true (until [`SnapshotStore::clear`]).
    async fn rows_complete(&self) -> Result<(), StoreError>;

    /// Every stored row, in account id order, once they are complete; `None` before.
    async fn rows(&self) -> Result<Option<Vec<StoredRow>>, StoreError>;

    /// At most `limit` changes of the change log whose position (that of the last event each
    /// covers) is after `after` (every change when `None`), in position order.
    async fn changes_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RelationshipChange>, StoreError>;

    /// The checkpoint of `account`'s projection state, as `read::states` encoded it, if one
    /// was kept.
    async fn account_state(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Keeps checkpoints of account states (replacing those of the same accounts). Each is a
    /// state of its account's events up to a position the log already holds, so it needs no
    /// batch with the position above: a crash loses at most the latest, and the log rebuilds.
    async fn keep_account_states(
        &self,
        states: Vec<(AccountId, Vec<u8>)>,
    ) -> Result<(), StoreError>;

    /// Forgets everything (summaries, rows, change log, position, account states), for a
    /// rebuild from position 0.
    async fn clear(&self) -> Result<(), StoreError>;
}

/// What [`MemorySnapshots`] holds.
#[derive(Debug, Default)]
struct MemoryState {
    /// Where the checkpoint stands.
    position: Option<SnapshotPosition>,
    /// Each account's summary.
    summaries: BTreeMap<AccountId, RelationshipSummary>,
    /// The change log, by the position of the last event each change covers.
    changes: BTreeMap<u64, RelationshipChange>,
    /// Checkpoints of account states.
    account_states: BTreeMap<AccountId, Vec<u8>>,
    /// Each account's row: the position of its last event, and its bytes.
    rows: BTreeMap<AccountId, (u64, Vec<u8>)>,
    /// Whether every account has its row stored.
    rows_complete: bool,
}

/// The checkpoint in memory: the model, and the store of a log that is not durable.
#[derive(Debug, Default)]
pub struct MemorySnapshots {
    /// A std mutex suffices: it is never held across an await.
    state: Mutex<MemoryState>,
}

impl MemorySnapshots {
    /// An empty checkpoint.
    pub fn new() -> Self {
        MemorySnapshots::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // Every change replaces whole values, so a panic cannot leave them half changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl SnapshotStore for MemorySnapshots {
    async fn position(&self) -> Result<Option<SnapshotPosition>, StoreError> {
        Ok(self.lock().position.clone())
    }

    async fn summary(
        &self,
        account: &AccountId,
    ) -> Result<Option<RelationshipSummary>, StoreError> {
        Ok(self.lock().summaries.get(account).cloned())
    }

    async fn summaries(&self) -> Result<Vec<RelationshipSummary>, StoreError> {
        Ok(self.lock().summaries.values().cloned().collect())
    }

    async fn commit(
        &self,
        summaries: Vec<RelationshipSummary>,
        changes: Vec<RelationshipChange>,
        rows: Vec<StoredRow>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        for summary in summaries {
            state.summaries.insert(summary.account_id.clone(), summary);
        }
        for row in rows {
            state.rows.insert(row.account, (row.position, row.bytes));
        }
        for change in changes {
            state.changes.insert(change.position(), change);
        }
        state.position = Some(position);
        Ok(())
    }

    async fn changes_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RelationshipChange>, StoreError> {
        let state = self.lock();
        let changes = match after {
            None => state.changes.range(..),
            Some(after) => match after.checked_add(1) {
                Some(from) => state.changes.range(from..),
                None => return Ok(Vec::new()),
            },
        };
        Ok(changes.take(limit).map(|(_, c)| c.clone()).collect())
    }

    async fn keep_rows(&self, rows: Vec<StoredRow>) -> Result<(), StoreError> {
        let mut state = self.lock();
        for row in rows {
            let later = state
                .rows
                .get(&row.account)
                .is_some_and(|(p, _)| *p > row.position);
            if !later {
                state.rows.insert(row.account, (row.position, row.bytes));
            }
        }
        Ok(())
    }

    async fn rows_complete(&self) -> Result<(), StoreError> {
        self.lock().rows_complete = true;
        Ok(())
    }

    async fn rows(&self) -> Result<Option<Vec<StoredRow>>, StoreError> {
        let state = self.lock();
        Ok(state.rows_complete.then(|| {
            state
                .rows
                .iter()
                .map(|(account, (position, bytes))| StoredRow {
                    account: account.clone(),
                    position: *position,
                    bytes: bytes.clone(),
                })
                .collect()
        }))
    }

    async fn account_state(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().account_states.get(account).cloned())
    }

    async fn keep_account_states(
        &self,
        states: Vec<(AccountId, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.lock().account_states.extend(states);
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        *self.lock() = MemoryState::default();
        Ok(())
    }
}
