//! The ledger service: the one path by which events enter the log.
//!
//! It puts the domain's rules in front of the [`Log`]: a batch is answered as a retry if it is
//! one, else checked against the expected revision and validated against the account's state,
//! and only then appended. The account's state is cached per account and guarded by a per-account
//! lock, so appends to one account are validated one at a time while appends to different
//! accounts proceed (and share the log's group commit). The lock is not what keeps the log
//! consistent: every append carries the exact revision it was validated against, so a stale
//! cache (another writer on a shared backend) is detected by the log and the append is retried
//! against fresh state.
//!
//! Personal fields are sealed here, under their contact's data key, before the batch reaches
//! the log (see [`crate::privacy`]); `forget_contact` destroys a contact's key and records that
//! it did. Reads return records as stored (sealed): the API opens them through
//! [`Privacy::reveal`], the one place that decrypts.

use lru::LruCache;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::domain::validation::{validate_against, validate_not_forgotten, validate_shape};
use crate::domain::{
    AccountId, AccountState, ContactForgotten, EventId, EventPayload, Policy, ProposedEvent,
    RecordedEvent, Timestamp,
};
use crate::domain::{FieldViolation, ValidationError};
use crate::privacy::{Privacy, PrivacyError};
use crate::store::{
    AppendOutcome, Direction, ExpectedRevision, Log, LogHead, ReadAllFilter, StoreError,
};

/// How often an append whose cached state turned out stale is retried against fresh state.
const STALE_STATE_RETRIES: usize = 3;

/// What can go wrong in the ledger. The variant docs say which gRPC status each becomes.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The request breaks a rule (`INVALID_ARGUMENT`, with every violated field).
    #[error("invalid request: {0}")]
    Invalid(#[from] ValidationError),
    /// The account has no events (`NOT_FOUND`).
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    /// The contact was never added to the account (`NOT_FOUND`).
    #[error("contact {contact_id:?} is not a contact of account {account}")]
    ContactNotFound {
        /// The account.
        account: AccountId,
        /// The contact asked for.
        contact_id: String,
    },
    /// The data keys could not be created, read or destroyed (status by [`PrivacyError`]
    /// variant).
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// The log refused or failed (status by [`StoreError`] variant).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The validation state of one account, as of `revision`.
#[derive(Default)]
struct CachedAccount {
    /// The stream revision `state` reflects; `None` for a stream with no events.
    revision: Option<u64>,
    /// What validation needs of the account's history.
    state: AccountState,
    /// False until the state has been folded from the log (or after an append failed in a way
    /// that leaves it unknown), so the next append reloads it.
    loaded: bool,
}

/// The ledger service over a log.
pub struct Ledger {
    /// The event log: the source of truth.
    log: Arc<dyn Log>,
    /// Ledger-wide rules such as the currency and batch limit.
    policy: Policy,
    /// Seals personal fields before they reach the log; destroys a forgotten contact's key.
    privacy: Arc<Privacy>,
    /// Per-account validation state of recently used accounts (at most [`CACHED_ACCOUNTS`]
    /// idle ones), each behind an async lock held for the whole validate-and-append of one
    /// request. An account that falls out is folded from the log again on its next append.
    accounts: Mutex<LruCache<AccountId, Arc<tokio::sync::Mutex<CachedAccount>>>>,
    /// How many idle accounts `accounts` keeps: [`CACHED_ACCOUNTS`] but in tests.
    cached_accounts: usize,
}

/// How many accounts' validation state the ledger keeps. The state grows with an account's
/// history (every promise, order and invoice id it must check against), so keeping every
/// account's would grow memory with the ledger; one that falls out costs one read of its
/// stream on its next append.
const CACHED_ACCOUNTS: usize = 10_000;

impl Ledger {
    /// A ledger over `log` with the rules in `policy`, keeping data keys in memory only: for
    /// tests and tools whose personal data need not outlive the process.
    pub fn new(log: Arc<dyn Log>, policy: Policy) -> Self {
        Ledger::with_privacy(log, policy, Arc::new(Privacy::in_memory()))
    }

    /// A ledger over `log` with the rules in `policy`, sealing personal fields with `privacy`.
    pub fn with_privacy(log: Arc<dyn Log>, policy: Policy, privacy: Arc<Privacy>) -> Self {
        Ledger {
            log,
            policy,
            privacy,
            accounts: Mutex::new(LruCache::unbounded()),
            cached_accounts: CACHED_ACCOUNTS,
        }
    }

    /// The service that seals and opens personal fields.
    pub fn privacy(&self) -> &Arc<Privacy> {
        &self.privacy
    }

    /// The rules this ledger enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The log underneath.
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.log
    }

    /// Appends a batch to `account` if it is valid and `expected` holds; a retry of an earlier
    /// append returns that append's outcome with `duplicate = true`.
    pub async fn append(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, LedgerError> {
        validate_shape(&events, &self.policy, now())?;
        refuse_contact_forgotten(&events)?;
        let slot = self.slot(account);
        let mut cached = slot.lock().await;
        if !cached.loaded {
            *cached = self.load(account).await?;
        }
        // Before sealing, which would make a new key for a contact whose key was destroyed.
        validate_not_forgotten(&cached.state, &events)?;
        // Sealing is deterministic (see `privacy::cipher`), so a retry seals to the stored
        // bytes and the retry check below compares like with like. A batch the checks refuse
        // is sealed only with the keys that exist, so that a refused request writes nothing,
        // not even a new contact's data key; it can still be a retry, whose keys exist.
        let sealed = match self.check(&cached, expected, &events) {
            Ok(()) => self.privacy.seal(account, events).await?,
            Err(refused) => match self.privacy.seal_existing(account, events).await? {
                Some(sealed) => sealed,
                None => return Err(refused),
            },
        };
        self.append_sealed(account, expected, sealed, &mut cached)
            .await
    }

    /// The expected revision and the domain rules, against the account as cached.
    fn check(
        &self,
        cached: &CachedAccount,
        expected: ExpectedRevision,
        events: &[ProposedEvent],
    ) -> Result<(), LedgerError> {
        if expected.admits(cached.revision) {
            validate_against(&cached.state, events, &self.policy).map_err(LedgerError::from)
        } else {
            Err(StoreError::WrongExpectedRevision {
                expected,
                actual: cached.revision,
            }
            .into())
        }
    }

    /// The retry check, the expected revision, validation and the append of a sealed batch,
    /// under the account's lock (`cached`).
    async fn append_sealed(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        cached: &mut CachedAccount,
    ) -> Result<AppendOutcome, LedgerError> {
        for _ in 0..STALE_STATE_RETRIES {
            if !cached.loaded {
                *cached = self.load(account).await?;
            }
            if let Err(refused) = self.check(cached, expected, &events) {
                // A retry is answered as a retry whatever the checks say: the stream has moved
                // on since the first attempt, so neither the expected revision nor the domain
                // rules may hold any more. Asked only now: when the checks pass, the log's
                // append recognises a retry itself (before its own revision check, writing
                // nothing), so an append that is not refused costs no separate lookup.
                return match self.log.find_retry(account, &events).await? {
                    Some(outcome) => Ok(outcome),
                    None => Err(refused),
                };
            }
            let validated_against = cached
                .revision
                .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            match self
                .log
                .append(account, validated_against, events.clone())
                .await
            {
                Ok(outcome) => {
                    if !outcome.duplicate {
                        events.iter().for_each(|e| cached.state.apply(e));
                        cached.revision = Some(outcome.last_revision);
                    }
                    return Ok(outcome);
                }
                Err(StoreError::WrongExpectedRevision { .. }) => {
                    // Someone else appended to the stream: reload and check again.
                    cached.loaded = false;
                }
                Err(conflict @ StoreError::EventIdConflict { .. }) => {
                    // An id used before, not as a retry: the log wrote nothing, and the state
                    // is still the stream's.
                    return Err(conflict.into());
                }
                Err(err) => {
                    cached.loaded = false;
                    return Err(err.into());
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "account {account} kept changing under this append; try again"
        ))
        .into())
    }

    /// Forgets `contact_id` of `account`: destroys the contact's data key, durably, then
    /// appends a `contact_forgotten` event (by `actor`, for `reason`). A contact already
    /// forgotten is answered with that event and `already_forgotten = true`, writing nothing.
    ///
    /// The key goes first so that a failure in between errs on the side of the person: the
    /// fields are erased (every read shows it) and only the record of it is missing, which the
    /// client's retry writes (the key is gone, so the retry only appends). The account's lock
    /// is held throughout, so no append of the account slips in between.
    pub async fn forget_contact(
        &self,
        account: &AccountId,
        contact_id: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Forgotten, LedgerError> {
        let slot = self.slot(account);
        let mut cached = slot.lock().await;
        if !cached.loaded {
            *cached = self.load(account).await?;
        }
        let Some(revision) = cached.revision else {
            return Err(LedgerError::AccountNotFound(account.clone()));
        };
        let Some(contact) = cached.state.contacts.get(contact_id) else {
            return Err(LedgerError::ContactNotFound {
                account: account.clone(),
                contact_id: contact_id.to_string(),
            });
        };
        if contact.forgotten {
            // Destroying again costs nothing and covers a key restored from an old backup.
            self.privacy.destroy(account, contact_id).await?;
            return self.earlier_forgetting(account, contact_id).await;
        }
        let event = ProposedEvent {
            event_id: EventId::new_random(),
            occurred_at: now(),
            actor: actor.to_string(),
            metadata: Default::default(),
            payload: EventPayload::ContactForgotten(ContactForgotten {
                contact_id: contact_id.to_string(),
                reason: reason.to_string(),
            }),
        };
        validate_against(&cached.state, std::slice::from_ref(&event), &self.policy)?;
        let destroyed = self.privacy.destroy(account, contact_id).await?;
        tracing::info!(%account, destroyed, "destroyed a contact's data key");
        let outcome = self
            .append_sealed(
                account,
                ExpectedRevision::Exact(revision),
                vec![event],
                &mut cached,
            )
            .await?;
        Ok(Forgotten {
            position: outcome.last_position,
            revision: outcome.last_revision,
            already_forgotten: false,
        })
    }

    /// The `contact_forgotten` event already recorded for `contact_id`.
    async fn earlier_forgetting(
        &self,
        account: &AccountId,
        contact_id: &str,
    ) -> Result<Forgotten, LedgerError> {
        let mut records = self
            .log
            .read_stream(account, None, Direction::Backwards, None);
        while let Some(record) = records.try_next().await? {
            if let EventPayload::ContactForgotten(c) = &record.event.payload {
                if c.contact_id == contact_id {
                    return Ok(Forgotten {
                        position: record.position,
                        revision: record.revision,
                        already_forgotten: true,
                    });
                }
            }
        }
        Err(StoreError::Corrupt(format!(
            "account {account} says contact {contact_id:?} was forgotten, but its stream has no contact_forgotten event for it"
        ))
        .into())
    }

    /// Streams `account`'s events; `AccountNotFound` when it has none.
    pub async fn read_stream(
        &self,
        account: &AccountId,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
    ) -> Result<BoxStream<'static, Result<RecordedEvent, LedgerError>>, LedgerError> {
        if self.log.stream_revision(account).await?.is_none() {
            return Err(LedgerError::AccountNotFound(account.clone()));
        }
        Ok(self
            .log
            .read_stream(account, from, direction, limit)
            .err_into()
            .boxed())
    }

    /// Streams the global log.
    pub fn read_all(
        &self,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        filter: ReadAllFilter,
    ) -> BoxStream<'static, Result<RecordedEvent, LedgerError>> {
        self.log
            .read_all(from, direction, limit, filter)
            .err_into()
            .boxed()
    }

    /// The committed head of the log.
    pub fn head(&self) -> LogHead {
        self.log.head()
    }

    /// The lock-guarded cache slot of `account`, created on first use.
    fn slot(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<CachedAccount>> {
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
    async fn load(&self, account: &AccountId) -> Result<CachedAccount, StoreError> {
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

/// Where a contact's `contact_forgotten` event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    /// Its global position.
    pub position: u64,
    /// Its revision in the account's stream.
    pub revision: u64,
    /// True when the contact had been forgotten before: nothing was written now.
    pub already_forgotten: bool,
}

/// Refuses a `contact_forgotten` event in a client's append: recording one without destroying
/// the key would claim an erasure that did not happen. `forget_contact` records it.
fn refuse_contact_forgotten(events: &[ProposedEvent]) -> Result<(), ValidationError> {
    let violations: Vec<FieldViolation> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.payload, EventPayload::ContactForgotten(_)))
        .map(|(i, _)| {
            FieldViolation::new(
                format!("events[{i}].contact_forgotten"),
                "is recorded only by Ledger.ForgetContact, which destroys the contact's data key first",
            )
        })
        .collect();
    ValidationError::check(violations)
}

/// The server's clock. Read only at the edges: to bound how far in the future an event may be
/// dated, and to date a query that names no instant of its own.
pub(crate) fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Timestamp::from_unix_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::projection::testkit;
    use crate::domain::AccountSegment;
    use crate::store::MemoryLog;

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
