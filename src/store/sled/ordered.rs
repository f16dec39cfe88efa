//! [`OrderedProgress`]: how far a replica has applied a replicated log (`store::jetstream`),
//! in a tree of its own of the log's sled database.
//!
//! The `ordered` tree holds one key, `R`: the stream sequence of the last message applied and
//! the log's next position once it was, two u64 big-endian. It is written only after the
//! records of every message up to that sequence are durable in the log, and never flushed on
//! its own: a lost write leaves an older pair, from which the replica finds its place again
//! by comparing the messages after it with the records it holds.

use std::sync::Arc;

use super::{sled_error, Database};
use crate::store::{blocking, StoreError};

const TREE: &str = "ordered";
const KEY: &[u8] = b"R";

/// Where applying a replicated log stands: the last message applied and the log's next
/// position just after it. `(0, 0)`: nothing applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Applied {
    /// The stream sequence of the last message applied (JetStream's start at 1).
    pub sequence: u64,
    /// The log's next position once it was.
    pub next_position: u64,
}

/// The `ordered` tree of the log's database (see the module docs).
#[derive(Clone)]
pub(crate) struct OrderedProgress {
    tree: ::sled::Tree,
    database: Arc<Database>,
}

impl OrderedProgress {
    pub(crate) fn open(database: Arc<Database>) -> Result<OrderedProgress, StoreError> {
        let tree = database.db.open_tree(TREE).map_err(sled_error)?;
        Ok(OrderedProgress { tree, database })
    }

    /// The last pair written; `Applied::default()` before any.
    pub(crate) async fn load(&self) -> Result<Applied, StoreError> {
        let tree = self.tree.clone();
        blocking(move || match tree.get(KEY).map_err(sled_error)? {
            None => Ok(Applied::default()),
            Some(bytes) if bytes.len() == 16 => {
                let word = |i: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&bytes[i..i + 8]);
                    u64::from_be_bytes(b)
                };
                Ok(Applied {
                    sequence: word(0),
                    next_position: word(8),
                })
            }
            Some(bytes) => Err(StoreError::Corrupt(format!(
                "the replica's progress is {} bytes, not 16",
                bytes.len()
            ))),
        })
        .await
    }

    /// Records `applied`; the caller has made its records durable first.
    pub(crate) async fn save(&self, applied: Applied) -> Result<(), StoreError> {
        let (tree, database) = (self.tree.clone(), Arc::clone(&self.database));
        blocking(move || {
            let mut value = [0u8; 16];
            value[..8].copy_from_slice(&applied.sequence.to_be_bytes());
            value[8..].copy_from_slice(&applied.next_position.to_be_bytes());
            tree.insert(KEY, &value[..])
                .map(|_| ())
                .map_err(|e| database.write_failed(e))
        })
        .await
    }
}
