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
//!
//! - this file: [`Ledger`], its errors, and the reads;
//! - `append`: the append path, from the checks of a batch to the log;
//! - `forget`: `forget_contact`, which destroys a contact's key and records that it did;
//! - `account_cache`: each account's validation state and lock, folded from the log.

use lru::LruCache;
use std::sync::{Arc, Mutex};

use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::domain::ValidationError;
use crate::domain::{AccountId, Policy, RecordedEvent};
use crate::privacy::{Privacy, PrivacyError};
use crate::store::{Direction, Log, LogHead, ReadAllFilter, StoreError};

mod account_cache;
mod append;
mod forget;

use account_cache::{CachedAccount, CACHED_ACCOUNTS};
pub use forget::Forgotten;

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
}
