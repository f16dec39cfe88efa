//! The acknowledged positions of durable (named) subscriptions.
//!
//! A consumer that wants the server to keep its place acknowledges the last position it has
//! processed; a later `Subscribe` by the same name resumes right after it. The store keeps one
//! [`AckedPosition`] per name and only ever moves it forwards: an acknowledgement behind the
//! stored one is ignored (not refused), so a consumer that retries an old ack, or two workers
//! that ack out of order, cannot move the subscription back and make it deliver again what
//! was already processed. The answer always says what is stored now.
//!
//! Two backends, like the log's: [`MemoryCheckpoints`], the model, and
//! [`SledCheckpoints`](super::SledCheckpoints), a tree of its own (`subscriptions`) in the log's
//! sled database, flushed (fsync) before an acknowledgement is answered. The tree is separate
//! from the log's keys, so the log's recovery and manifest checks neither see nor depend on it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{SubscriptionName, Timestamp};

/// The version byte that starts every stored value; an unknown one is reported as corrupt.
const VALUE_VERSION: u8 = 1;

/// Where a named subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckedPosition {
    /// The last position the consumer has processed: a resume starts after it.
    pub position: u64,
    /// When the server stored that position (its clock).
    pub acked_at: Timestamp,
}

impl AckedPosition {
    /// The stored form: version, position (u64 BE), acked_at (i64 BE nanoseconds).
    pub(crate) fn encode(self) -> [u8; 17] {
        let mut bytes = [0u8; 17];
        bytes[0] = VALUE_VERSION;
        bytes[1..9].copy_from_slice(&self.position.to_be_bytes());
        bytes[9..17].copy_from_slice(&self.acked_at.unix_nanos().to_be_bytes());
        bytes
    }

    /// The value `encode` wrote; `None` for anything else.
    pub(crate) fn decode(bytes: &[u8]) -> Option<AckedPosition> {
        let (&version, rest) = bytes.split_first()?;
        if version != VALUE_VERSION || rest.len() != 16 {
            return None;
        }
        let position = u64::from_be_bytes(rest[..8].try_into().ok()?);
        let nanos = i64::from_be_bytes(rest[8..].try_into().ok()?);
        Some(AckedPosition {
            position,
            acked_at: Timestamp::from_unix_nanos(nanos),
        })
    }

    /// The later of what is stored and what is acknowledged now: positions only move forwards.
    pub(crate) fn merge(stored: Option<AckedPosition>, ack: AckedPosition) -> AckedPosition {
        match stored {
            Some(stored) if stored.position >= ack.position => stored,
            _ => ack,
        }
    }
}

/// Durable acknowledged positions, by subscription name.
#[async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// Stores `ack` for `name` unless a position at or past it is stored already; returns what
    /// is stored now. Durable when it returns.
    async fn ack(
        &self,
        name: &SubscriptionName,
        ack: AckedPosition,
    ) -> Result<AckedPosition, StoreError>;

    /// What is stored for `name`; `None` when it was never acknowledged.
    async fn acked(&self, name: &SubscriptionName) -> Result<Option<AckedPosition>, StoreError>;

    /// Every named subscription, by name.
    async fn list(&self) -> Result<Vec<(SubscriptionName, AckedPosition)>, StoreError>;
}

/// Acknowledged positions in memory: the model, and the store of a log that is not durable.
#[derive(Debug, Default)]
pub struct MemoryCheckpoints {
    /// A std mutex suffices: it is never held across an await.
    positions: Mutex<BTreeMap<SubscriptionName, AckedPosition>>,
}

impl MemoryCheckpoints {
    /// An empty store.
    pub fn new() -> Self {
        MemoryCheckpoints::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<SubscriptionName, AckedPosition>> {
        // Every change is one insert, so a panic cannot have left the map half changed.
        self.positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn ack(
        &self,
        name: &SubscriptionName,
        ack: AckedPosition,
    ) -> Result<AckedPosition, StoreError> {
        let mut positions = self.lock();
        let stored = AckedPosition::merge(positions.get(name).copied(), ack);
        positions.insert(name.clone(), stored);
        Ok(stored)
    }

    async fn acked(&self, name: &SubscriptionName) -> Result<Option<AckedPosition>, StoreError> {
        Ok(self.lock().get(name).copied())
    }

    async fn list(&self) -> Result<Vec<(SubscriptionName, AckedPosition)>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .map(|(name, acked)| (name.clone(), *acked))
            .collect())
    }
}

#[cfg(test)]
mod tests;
