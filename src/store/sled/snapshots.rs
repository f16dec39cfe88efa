//! [`SledSnapshots`]: the live projector's checkpoint in the log's own sled database, in a
//! tree of its own (see `store::snapshots` for the contract).
//!
//! Layout of the `projections` tree: `P` holds the [`SnapshotPosition`]; `A` + account id holds
//! the account's summary; `C` + position (u64 big-endian, so keys sort by position) holds the
//! change whose last event is at that position; `S` + account id the checkpoint of the account's
//! state, bytes `read::states` versions itself; `R` + account id the account's row: a version
//! byte (1), the position of its last event (u64 big-endian) and bytes `read::rows` versions
//! itself; `W` is present once the rows are complete. Every other value is a version byte (1)
//! and JSON.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{sled_error, Database};
use crate::domain::projection::{RelationshipChange, RelationshipSummary};
use crate::domain::AccountId;
use crate::store::blocking;
use crate::store::{SnapshotPosition, SnapshotStore, StoreError, StoredRow};

/// The name of the sled tree holding the checkpoint.
const TREE: &str = "projections";
/// The key of the position the checkpoint reflects.
const POSITION_KEY: &[u8] = b"P";
/// The prefix of each account's summary.
const ACCOUNT_PREFIX: u8 = b'A';
/// The prefix of each change of the change log.
const CHANGE_PREFIX: u8 = b'C';
/// The prefix of each account state's checkpoint (its bytes as `read::states` encodes them).
const STATE_PREFIX: u8 = b'S';
/// The prefix of each account's row.
const ROW_PREFIX: u8 = b'R';
/// The key present once every account has its row.
const ROWS_COMPLETE_KEY: &[u8] = b"W";
/// The version byte that starts every stored value.
const VALUE_VERSION: u8 = 1;

/// The checkpoint in the log's sled database (see the module docs). Holds the database, and
/// with it the data dir's lock, until dropped.
#[derive(Clone)]
pub struct SledSnapshots {
    /// The `projections` tree.
    tree: ::sled::Tree,
    /// The database (told of a failed write) and the dir lock that must outlive it.
    database: Arc<Database>,
}

impl std::fmt::Debug for SledSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledSnapshots").finish_non_exhaustive()
    }
}

impl SledSnapshots {
    /// Opens (creating if needed) the `projections` tree of the log's database.
    pub(crate) fn open(database: Arc<Database>) -> Result<SledSnapshots, StoreError> {
        let tree = database.db.open_tree(TREE).map_err(sled_error)?;
        Ok(SledSnapshots { tree, database })
    }
}

fn account_key(account: &AccountId) -> Vec<u8> {
    prefixed(ACCOUNT_PREFIX, account)
}

fn prefixed(prefix: u8, account: &AccountId) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(account.as_str().as_bytes());
    key
}

/// A row's value: the version byte, its position, its bytes.
fn row_value(row: &StoredRow) -> Vec<u8> {
    let mut value = Vec::with_capacity(9 + row.bytes.len());
    value.push(VALUE_VERSION);
    value.extend_from_slice(&row.position.to_be_bytes());
    value.extend_from_slice(&row.bytes);
    value
}

/// The position and bytes of a row's value.
fn row_of(value: &[u8], account: &AccountId) -> Result<(u64, Vec<u8>), StoreError> {
    match value.split_first() {
        Some((&VALUE_VERSION, rest)) if rest.len() >= 8 => {
            let (position, bytes) = rest.split_at(8);
            let position = u64::from_be_bytes(position.try_into().unwrap_or([0xff; 8]));
            Ok((position, bytes.to_vec()))
        }
        _ => Err(StoreError::Corrupt(format!(
            "the stored row of {account} has an unknown version"
        ))),
    }
}

fn change_key(position: u64) -> [u8; 9] {
    let mut key = [CHANGE_PREFIX; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
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

    async fn summaries_of(
        &self,
        accounts: Vec<AccountId>,
    ) -> Result<Vec<Option<RelationshipSummary>>, StoreError> {
        let tree = self.tree.clone();
        blocking(move || {
            accounts
                .iter()
                .map(|account| {
                    tree.get(account_key(account))
                        .map_err(sled_error)?
                        .map(|bytes| decode(&bytes, account.as_str()))
                        .transpose()
                })
                .collect()
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
        changes: Vec<RelationshipChange>,
        rows: Vec<StoredRow>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError> {
        let (tree, database) = (self.tree.clone(), Arc::clone(&self.database));
        blocking(move || {
            let mut batch = ::sled::Batch::default();
            for summary in &summaries {
                batch.insert(account_key(&summary.account_id), encode(summary)?);
            }
            for row in &rows {
                batch.insert(prefixed(ROW_PREFIX, &row.account), row_value(row));
            }
            for change in &changes {
                batch.insert(&change_key(change.position())[..], encode(change)?);
            }
            batch.insert(POSITION_KEY, encode(&position)?);
            tree.apply_batch(batch)
                .map_err(|e| database.write_failed(e))
        })
        .await
    }

    async fn changes_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RelationshipChange>, StoreError> {
        let from = match after {
            None => 0,
            Some(after) => match after.checked_add(1) {
                Some(from) => from,
                None => return Ok(Vec::new()),
            },
        };
        let tree = self.tree.clone();
        blocking(move || {
            tree.range(change_key(from)..=change_key(u64::MAX))
                .take(limit)
                .map(|entry| {
                    let (key, value) = entry.map_err(sled_error)?;
                    decode(&value, &format!("the change at key {key:?}"))
                })
                .collect()
        })
        .await
    }

    async fn keep_rows(&self, rows: Vec<StoredRow>) -> Result<(), StoreError> {
        let (tree, database) = (self.tree.clone(), Arc::clone(&self.database));
        blocking(move || {
            for row in rows {
                let (key, value) = (prefixed(ROW_PREFIX, &row.account), row_value(&row));
                // Compared and swapped, so that a page's commit between the read and the write
                // (a later event) is never overwritten.
                loop {
                    let stored = tree.get(&key).map_err(sled_error)?;
                    if let Some(stored) = &stored {
                        if row_of(stored, &row.account)?.0 > row.position {
                            break;
                        }
                    }
                    let swapped = tree
                        .compare_and_swap(&key, stored, Some(value.as_slice()))
                        .map_err(|e| database.write_failed(e))?;
                    if swapped.is_ok() {
                        break;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn rows_complete(&self) -> Result<(), StoreError> {
        let (tree, database) = (self.tree.clone(), Arc::clone(&self.database));
        blocking(move || {
            tree.insert(ROWS_COMPLETE_KEY, encode(&true)?)
                .map(drop)
                .map_err(|e| database.write_failed(e))
        })
        .await
    }

    async fn rows(&self) -> Result<Option<Vec<StoredRow>>, StoreError> {
        let tree = self.tree.clone();
        blocking(move || {
            if !tree.contains_key(ROWS_COMPLETE_KEY).map_err(sled_error)? {
                return Ok(None);
            }
            tree.scan_prefix([ROW_PREFIX])
                .map(|entry| {
                    let (key, value) = entry.map_err(sled_error)?;
                    let account = std::str::from_utf8(&key[1..])
                        .ok()
                        .and_then(|id| AccountId::parse(id).ok())
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("a stored row's key {key:?} is no account"))
                        })?;
                    let (position, bytes) = row_of(&value, &account)?;
                    Ok(StoredRow {
                        account,
                        position,
                        bytes,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
        .await
    }

    async fn account_state(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, key) = (self.tree.clone(), prefixed(STATE_PREFIX, account));
        blocking(move || {
            Ok(tree
                .get(key)
                .map_err(sled_error)?
                .map(|bytes| bytes.to_vec()))
        })
        .await
    }

    async fn keep_account_states(
        &self,
        states: Vec<(AccountId, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let (tree, database) = (self.tree.clone(), Arc::clone(&self.database));
        blocking(move || {
            let mut batch = ::sled::Batch::default();
            for (account, bytes) in states {
                batch.insert(prefixed(STATE_PREFIX, &account), bytes);
            }
            tree.apply_batch(batch)
                .map_err(|e| database.write_failed(e))
        })
        .await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let (tree, database) = (self.tree.clone(), Arc::clone(&self.database));
        blocking(move || tree.clear().map_err(|e| database.write_failed(e))).await
    }
}
