//! [`SledCheckpoints`]: the acknowledged positions of named subscriptions in the log's own
//! sled database, in a tree of their own (see `store::checkpoints` for the contract).

use std::sync::Arc;

use async_trait::async_trait;

use super::{sled_error, Database};
use crate::domain::SubscriptionName;
use crate::store::blocking;
use crate::store::{AckedPosition, CheckpointStore, StoreError};

/// The name of the sled tree holding the acknowledged positions.
const TREE: &str = "subscriptions";

/// Acknowledged positions in the log's sled database (see the module docs). Holds the
/// database, and with it the data dir's lock, until dropped.
#[derive(Clone)]
pub struct SledCheckpoints {
    /// The `subscriptions` tree.
    tree: ::sled::Tree,
    /// The database (flushed after every ack) and the dir lock that must outlive it.
    database: Arc<Database>,
}

impl std::fmt::Debug for SledCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledCheckpoints").finish_non_exhaustive()
    }
}

impl SledCheckpoints {
    /// Opens (creating if needed) the `subscriptions` tree of the log's database.
    pub(crate) fn open(database: Arc<Database>) -> Result<SledCheckpoints, StoreError> {
        let tree = database.db.open_tree(TREE).map_err(sled_error)?;
        Ok(SledCheckpoints { tree, database })
    }
}

fn corrupt_value(name: &[u8]) -> StoreError {
    StoreError::Corrupt(format!(
        "the acknowledged position of subscription {:?} does not decode",
        String::from_utf8_lossy(name)
    ))
}

#[async_trait]
impl CheckpointStore for SledCheckpoints {
    async fn ack(
        &self,
        name: &SubscriptionName,
        ack: AckedPosition,
    ) -> Result<AckedPosition, StoreError> {
        let (tree, database, name) = (self.tree.clone(), Arc::clone(&self.database), name.clone());
        blocking(move || {
            let key = name.as_str().as_bytes();
            // `update_and_fetch` is atomic per key, so concurrent acks of one name cannot move
            // it backwards; a value that does not decode is kept and reported.
            let mut undecodable = false;
            let stored = tree
                .update_and_fetch(key, |old| {
                    let old = match old.map(AckedPosition::decode) {
                        Some(None) => {
                            undecodable = true;
                            return old.map(<[u8]>::to_vec);
                        }
                        Some(Some(old)) => Some(old),
                        None => None,
                    };
                    Some(AckedPosition::merge(old, ack).encode().to_vec())
                })
                .map_err(|e| database.write_failed(e))?;
            if undecodable {
                return Err(corrupt_value(key));
            }
            let stored = stored
                .as_deref()
                .and_then(AckedPosition::decode)
                .ok_or_else(|| corrupt_value(key))?;
            // One fsync per ack: an acknowledgement is answered only once it survives a crash.
            database.flush()?;
            Ok(stored)
        })
        .await
    }

    async fn acked(&self, name: &SubscriptionName) -> Result<Option<AckedPosition>, StoreError> {
        let (tree, name) = (self.tree.clone(), name.clone());
        blocking(move || {
            let key = name.as_str().as_bytes();
            match tree.get(key).map_err(sled_error)? {
                None => Ok(None),
                Some(value) => AckedPosition::decode(&value)
                    .map(Some)
                    .ok_or_else(|| corrupt_value(key)),
            }
        })
        .await
    }

    async fn list(&self) -> Result<Vec<(SubscriptionName, AckedPosition)>, StoreError> {
        let tree = self.tree.clone();
        blocking(move || {
            let mut list = Vec::new();
            for entry in tree.iter() {
                let (key, value) = entry.map_err(sled_error)?;
                let name = std::str::from_utf8(&key)
                    .ok()
                    .and_then(|name| SubscriptionName::parse(name).ok())
                    .ok_or_else(|| corrupt_value(&key))?;
                let acked = AckedPosition::decode(&value).ok_or_else(|| corrupt_value(&key))?;
                list.push((name, acked));
            }
            Ok(list)
        })
        .await
    }
}
