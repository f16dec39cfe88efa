//! The idempotency rule every backend applies before it checks the expected revision.
//!
//! A batch is a retry when every one of its ids is recorded in the same account, in the
//! batch's order, at consecutive positions and revisions, each with the same content digest.
//! Such a batch gets the outcome of the records that hold its ids, with `duplicate = true`, and
//! nothing is written. A batch none of whose ids is recorded proceeds. Anything in between is
//! an [`StoreError::EventIdConflict`] naming the first id at fault.
//!
//! The rule looks at records, not at the appends that wrote them: a retry of a contiguous part
//! of an earlier append, or of two adjacent appends at once, is answered as a duplicate too.
//! Nothing is written either way, and the outcome names exactly the records holding the ids.
//!
//! A batch that names one id twice cannot be a retry (no append records an id twice) and must
//! not be written, so it is refused as [`IdConflict::PartialRetry`]. Callers are expected to
//! refuse such batches before they reach the log; this keeps the log's uniqueness invariant
//! even when they do not.

use std::borrow::Borrow;
use std::collections::HashSet;

use super::codec::content_digest;
use super::{AppendOutcome, IdConflict, StoreError};
use crate::domain::{AccountId, EventId, ProposedEvent};

/// Where an event id is recorded, as the idempotency rule needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedId {
    /// The record's position.
    pub position: u64,
    /// The account whose stream holds it.
    pub account: AccountId,
    /// Its revision in that stream.
    pub revision: u64,
    /// The content digest of the recorded event ([`content_digest`]).
    pub digest: [u8; 32],
}

/// Applies the rule to `events` for `account`, looking ids up with `lookup` (which sees only
/// committed records, plus, in a group commit, the records planned earlier in the group).
pub(crate) fn find_retry_with<E, F>(
    account: &AccountId,
    events: &[E],
    mut lookup: F,
) -> Result<Option<AppendOutcome>, StoreError>
where
    E: Borrow<ProposedEvent>,
    F: FnMut(&EventId) -> Result<Option<RecordedId>, StoreError>,
{
    let events = || events.iter().map(Borrow::<ProposedEvent>::borrow);
    let conflict = |event_id: EventId, conflict: IdConflict| {
        Err(StoreError::EventIdConflict { event_id, conflict })
    };
    let mut seen = HashSet::with_capacity(events().len());
    if let Some(repeated) = events().find(|e| !seen.insert(e.event_id)) {
        return conflict(repeated.event_id, IdConflict::PartialRetry);
    }

    let mut found = Vec::with_capacity(events().len());
    for event in events() {
        found.push(lookup(&event.event_id)?);
    }
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }

    for (event, entry) in events().zip(&found) {
        let Some(entry) = entry else { continue };
        if entry.account != *account {
            return conflict(
                event.event_id,
                IdConflict::OtherAccount(entry.account.clone()),
            );
        }
        if entry.digest != content_digest(event) {
            return conflict(event.event_id, IdConflict::DifferentContent);
        }
    }

    let recorded = events().zip(&found).find(|(_, entry)| entry.is_some());
    let (first_event, first) = match recorded {
        Some((event, Some(entry))) => (event, entry),
        _ => return Ok(None),
    };
    for (offset, entry) in (0u64..).zip(&found) {
        let in_place = entry.as_ref().is_some_and(|entry| {
            entry.position == first.position + offset && entry.revision == first.revision + offset
        });
        if !in_place {
            return conflict(first_event.event_id, IdConflict::PartialRetry);
        }
    }
    let last = found.last().and_then(Option::as_ref).unwrap_or(first);
    Ok(Some(AppendOutcome {
        first_revision: first.revision,
        last_revision: last.revision,
        first_position: first.position,
        last_position: last.position,
        duplicate: true,
    }))
}
