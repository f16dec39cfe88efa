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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use crate::domain::validation::{validate_against, validate_shape};
use crate::domain::ValidationError;
use crate::domain::{AccountId, AccountState, Policy, ProposedEvent, RecordedEvent, Timestamp};
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
    /// Per-account validation state. An entry per account ever appended to since start; each
    /// behind an async lock held for the whole validate-and-append of one request.
    accounts: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<CachedAccount>>>>,
}

impl Ledger {
    /// A ledger over `log` with the rules in `policy`.
    pub fn new(log: Arc<dyn Log>, policy: Policy) -> Self {
        Ledger {
            log,
            policy,
            accounts: Mutex::new(HashMap::new()),
        }
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
        let slot = self.slot(account);
        let mut cached = slot.lock().await;
        // A retry is answered before any other check: the stream has moved on since the first
        // attempt, so neither the expected revision nor the domain rules may hold any more.
        if let Some(outcome) = self.log.find_retry(account, &events).await? {
            return Ok(outcome);
        }
        for _ in 0..STALE_STATE_RETRIES {
            if !cached.loaded {
                *cached = self.load(account).await?;
            }
            if !expected.admits(cached.revision) {
                return Err(StoreError::WrongExpectedRevision {
                    expected,
                    actual: cached.revision,
                }
                .into());
            }
            validate_against(&cached.state, &events, &self.policy)?;
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
        accounts.entry(account.clone()).or_default().clone()
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

/// The server's clock. Read only at the edges: to bound how far in the future an event may be
/// dated, and to date a query that names no instant of its own.
pub(crate) fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Timestamp::from_unix_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}
