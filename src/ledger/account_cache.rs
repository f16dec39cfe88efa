//! The per-account validation state: what validation needs of each recently used account,
//! folded from the log, each behind the lock held for one request's validate-and-append.
//! Kept apart from the paths that use it, since what it keeps bounds the ledger's memory.

use std::sync::Arc;

use futures::stream::TryStreamExt;

use super::Ledger;
use crate::domain::{AccountId, AccountState};
use crate::store::{Direction, StoreError};

/// The validation state of one account, as of `revision`.
#[derive(Default)]
pub(super) struct CachedAccount {
    /// The stream revision `state` reflects; `None` for a stream with no events.
    pub(super) revision: Option<u64>,
    /// What validation needs of the account's history.
    pub(super) state: AccountState,
    /// False until the state has been folded from the log (or after an append failed in a way
    /// that leaves it unknown), so the next append reloads it.
    pub(super) loaded: bool,
}

/// How many accounts' validation state the ledger keeps. The state grows with an account's
/// history (every promise, order and invoice id it must check against), so keeping every
/// account's would grow memory with the ledger; one that falls out costs one read of its
/// stream on its next append.
pub(super) const CACHED_ACCOUNTS: usize = 10_000;

impl Ledger {
    /// The lock-guarded cache slot of `account`, created on first use.
    pub(super) fn slot(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<CachedAccount>> {
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = accounts
            .get_or_insert(account.clone(), Default::default)
            .clone();
        // Evicting a slot in use would let a second request for that account take another
        // lock: still correct (the log checks the revision each append was validated at, and
        // a stale state is retried), but wasteful, so busy slots stay until they are idle.
        while accounts.len() > self.cached_accounts {
            match accounts.peek_lru() {
                Some((_, lru)) if Arc::strong_count(lru) == 1 => drop(accounts.pop_lru()),
                _ => break,
            }
        }
        slot
    }

    /// Folds `account`'s validation state from the log.
    pub(super) async fn load(&self, account: &AccountId) -> Result<CachedAccount, StoreError> {
        let mut events = self
            .log
            .read_stream(account, None, Direction::Forwards, None);
        let mut cached = CachedAccount {
            loaded: true,
            ..CachedAccount::default()
        };
        while let Some(record) = events.try_next().await? {
            cached.state.apply(&record.event);
            cached.revision = Some(record.revision);
        }
        Ok(cached)
    }
}

#[cfg(test)]
mod tests;
