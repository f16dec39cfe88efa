//! The gifts-and-hospitality register (docs/scoring.md §12; docs/domain.md §2, lever 6, and
//! §8): every favor, listed for an auditor, with the compliance alerts it raised.
//!
//! A favor is over the limit when its own value is above the per-item limit, or when the
//! contact's favors in the rolling year ending at it (`(t - 365 d, t]`, by `occurred_at`)
//! add up to more than the yearly limit. A rolling year rather than a calendar year, so that
//! splitting gifts across New Year does not escape the limit, and it depends only on the
//! events, never on the query.

use serde::Serialize;

use crate::domain::event::{EventPayload, FavorKind};
use crate::domain::ids::{AccountId, EventId};
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::alerts::AlertCode;
use super::params::Params;
use super::roster::Roster;

/// One favor in the register.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GiftEntry {
    /// The account.
    pub account_id: AccountId,
    /// The `favor_given` event.
    pub event_id: EventId,
    /// The recipient.
    pub contact_id: String,
    /// When it was given.
    pub occurred_at: Timestamp,
    /// Its value in minor units.
    pub value_minor: i64,
    /// Its currency.
    pub currency: String,
    /// Meal, drinks, gift...
    pub kind: FavorKind,
    /// The business purpose.
    pub purpose: String,
    /// The recipient is a public official: flagged on the contact or on the event.
    pub public_official: bool,
    /// The compliance approval, empty when none.
    pub approval_reference: String,
    /// The contact's favors in the rolling year ending at this one, this one included.
    pub contact_year_total_minor: i64,
    /// `GIFT_OVER_LIMIT` and/or `GIFT_TO_PUBLIC_OFFICIAL`.
    pub alerts: Vec<AlertCode>,
}

/// The register rows of `events` (one account's, in log order), whose contacts are `roster`.
pub(crate) fn entries(
    events: &[&RecordedEvent],
    roster: &Roster,
    params: &Params,
) -> Vec<GiftEntry> {
    let favors: Vec<(&RecordedEvent, &crate::domain::event::FavorGiven)> = events
        .iter()
        .filter_map(|r| match &r.event.payload {
            EventPayload::FavorGiven(f) => Some((*r, f)),
            _ => None,
        })
        .collect();
    favors
        .iter()
        .map(|(record, favor)| {
            let at = record.event.occurred_at;
            let year_total = favors
                .iter()
                .filter(|(r, f)| {
                    f.contact_id == favor.contact_id && {
                        let age = at.days_since(r.event.occurred_at);
                        (0..i64::from(params.gift_year_days)).contains(&age)
                            && r.event.occurred_at <= at
                    }
                })
                .fold(0_i64, |sum, (_, f)| sum.saturating_add(f.value.minor_units));
            let public_official = favor.recipient_is_public_official
                || roster
                    .contacts
                    .get(&favor.contact_id)
                    .is_some_and(|c| c.public_official);
            let mut alerts = Vec::new();
            if favor.value.minor_units > params.gift_item_limit_minor
                || year_total > params.gift_year_limit_minor
            {
                alerts.push(AlertCode::GiftOverLimit);
            }
            if public_official && favor.approval_reference.trim().is_empty() {
                alerts.push(AlertCode::GiftToPublicOfficial);
            }
            GiftEntry {
                account_id: record.account_id.clone(),
                event_id: record.event.event_id,
                contact_id: favor.contact_id.clone(),
                occurred_at: at,
                value_minor: favor.value.minor_units,
                currency: favor.value.currency.clone(),
                kind: favor.kind,
                purpose: favor.purpose.clone(),
                public_official,
                approval_reference: favor.approval_reference.clone(),
                contact_year_total_minor: year_total,
                alerts,
            }
        })
        .collect()
}

/// The gifts-and-hospitality register of one account: every `favor_given`, in log order.
/// It has no `as_of`: an auditor reads the whole history and filters by contact and period.
pub fn gift_register(account_events: &[RecordedEvent], params: &Params) -> Vec<GiftEntry> {
    let events: Vec<&RecordedEvent> = account_events.iter().collect();
    entries(&events, &Roster::read(&events), params)
}

#[cfg(test)]
mod tests;
