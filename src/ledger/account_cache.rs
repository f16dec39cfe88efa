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
mod tests {
    use super::*;
    use crate::domain::projection::testkit;
    use crate::domain::{AccountSegment, EventId, Policy, ProposedEvent};
    use crate::ledger::LedgerError;
    use crate::store::{ExpectedRevision, MemoryLog};

    /// The events of a testkit log, with fresh ids, as proposals.
    fn proposals(log: testkit::Log) -> Vec<ProposedEvent> {
        log.events
            .into_iter()
            .map(|r| ProposedEvent {
                event_id: EventId::new_random(),
                ..r.event
            })
            .collect()
    }

    fn id(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn an_account_that_fell_out_of_the_cache_is_validated_against_its_whole_history() {
        let log = Arc::new(MemoryLog::new());
        let mut ledger = Ledger::new(log.clone(), Policy::default());
        ledger.cached_accounts = 2;
        for account in ["a", "b", "c"] {
            let mut history = testkit::Log::opened(AccountSegment::Standard);
            history.contact(1, "boss", crate::domain::ContactRole::DecisionMaker);
            history.promise(2, "p1", Some("boss"), 30);
            ledger
                .append(&id(account), ExpectedRevision::NoStream, proposals(history))
                .await
                .unwrap();
        }
        assert_eq!(ledger.accounts.lock().unwrap().len(), 2, "a fell out");
        assert!(!ledger.accounts.lock().unwrap().contains(&id("a")));

        // a's state is folded again: its promise is known, and making it twice is refused.
        let mut more = testkit::Log::opened(AccountSegment::Standard);
        more.promise(3, "p1", Some("boss"), 40);
        let again = proposals(more).pop().unwrap();
        let refused = ledger
            .append(&id("a"), ExpectedRevision::Any, vec![again])
            .await;
        assert!(
            matches!(refused, Err(LedgerError::Invalid(_))),
            "{refused:?}"
        );
        let mut keep = testkit::Log::opened(AccountSegment::Standard);
        keep.kept(4, "p1");
        let kept = proposals(keep).pop().unwrap();
        let outcome = ledger
            .append(&id("a"), ExpectedRevision::Exact(2), vec![kept])
            .await
            .unwrap();
        assert_eq!(outcome.last_revision, 3);
        assert_eq!(ledger.accounts.lock().unwrap().len(), 2);
    }
}
