//! Forgetting a contact: the contact's data key destroyed, then a `contact_forgotten` event
//! appended, under the account's lock. Apart from the append path because it is the one
//! writer of that event, and answers a repeated request with the event already recorded.

use futures::stream::TryStreamExt;

use super::{Ledger, LedgerError};
use crate::clock::now;
use crate::domain::validation::validate_against;
use crate::domain::{AccountId, ContactForgotten, EventId, EventPayload, ProposedEvent};
use crate::store::{Direction, ExpectedRevision, StoreError};

impl Ledger {
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
        recorded_by: Option<&str>,
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
                recorded_by,
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
