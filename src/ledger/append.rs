//! The append path: a batch's shape checked, then under the account's lock the retry check,
//! the expected revision and validation, sealing, and the append, retried against fresh state
//! when the cached one was stale. `forget_contact` appends through it too.

use super::account_cache::CachedAccount;
use super::{Ledger, LedgerError};
use crate::clock::now;
use crate::domain::validation::{validate_against, validate_not_forgotten, validate_shape};
use crate::domain::{AccountId, EventPayload, ProposedEvent};
use crate::domain::{FieldViolation, ValidationError};
use crate::store::{AppendOutcome, ExpectedRevision, StoreError};

/// How often an append whose cached state turned out stale is retried against fresh state.
const STALE_STATE_RETRIES: usize = 3;

impl Ledger {
    /// Appends a batch to `account` if it is valid and `expected` holds; a retry of an earlier
    /// append returns that append's outcome with `duplicate = true`.
    pub async fn append(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, LedgerError> {
        self.append_by(account, expected, events, None).await
    }

    /// [`Ledger::append`] by `recorded_by`, the authenticated principal, which is recorded
    /// with each record.
    pub async fn append_by(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
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
        self.append_sealed(account, expected, sealed, recorded_by, &mut cached)
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
    pub(super) async fn append_sealed(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
        cached: &mut CachedAccount,
    ) -> Result<AppendOutcome, LedgerError> {
        let mut caught_up = false;
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
                if let Some(outcome) = self.log.find_retry(account, &events).await? {
                    return Ok(outcome);
                }
                // A replica's copy of a shared log may not yet hold another replica's
                // appends: the refusal stands only against the log as it is now.
                if !caught_up && self.log.catch_up_needed() {
                    self.log.catch_up().await?;
                    caught_up = true;
                    cached.loaded = false;
                    continue;
                }
                return Err(refused);
            }
            let validated_against = cached
                .revision
                .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            match self
                .log
                .append_by(account, validated_against, events.clone(), recorded_by)
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
