//! The facts of a projection whose changes a sales manager is told about: quadrant, level,
//! grade and the set of alerts, with the score and revenue that order a list.
//!
//! The live projector keeps one summary per account, as the account stood when its last event
//! was recorded, and the change feed reports every event that changes one.

use serde::{Deserialize, Serialize};

use super::alerts::{Alert, AlertCode};
use super::level::Level;
use super::quadrant::Quadrant;
use super::trust::{Grade, TrustScore};
use super::{AccountProfile, AccountProjection};
use crate::domain::ids::{AccountId, EventId};
use crate::domain::time::Timestamp;

/// An account's relationship in brief, as of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipSummary {
    /// The account.
    pub account_id: AccountId,
    /// The global position of the event it reflects (the account's last counted).
    pub position: u64,
    /// That event's id.
    pub event_id: EventId,
    /// The instant the projection was judged at.
    pub as_of: Timestamp,
    /// The scoring rules used.
    pub params_version: String,
    /// Outsider, Friend, Supplier or Partner.
    pub quadrant: Quadrant,
    /// None, Price, Service or Interdependence.
    pub level: Level,
    /// The organizational-trust grade.
    pub grade: Grade,
    /// The organizational-trust score, 0..100.
    pub score: u8,
    /// The codes of the account's alerts, in code order.
    pub alert_codes: Vec<AlertCode>,
    /// Trailing-365-day revenue, minor units.
    pub revenue_minor: i64,
}

impl RelationshipSummary {
    /// The summary of `projection`, which reflects the event `event_id` at `position` of
    /// `account`.
    pub fn of(
        account: &AccountId,
        position: u64,
        event_id: EventId,
        projection: &AccountProjection,
    ) -> Self {
        let mut alert_codes: Vec<AlertCode> = projection.alerts.iter().map(|a| a.code).collect();
        alert_codes.sort();
        alert_codes.dedup();
        RelationshipSummary {
            account_id: account.clone(),
            position,
            event_id,
            as_of: projection.as_of,
            params_version: projection.params_version.to_string(),
            quadrant: projection.quadrant.quadrant,
            level: projection.level.level,
            grade: projection.organizational_trust.trust.grade,
            score: projection.organizational_trust.trust.score,
            alert_codes,
            revenue_minor: projection.commercial.revenue_minor,
        }
    }

    /// Whether the change from `before` to `self` is one the change feed reports: the
    /// quadrant, the level, the grade or the set of alerts differs (scores and revenue move
    /// with every event and are not news on their own).
    pub fn is_news_after(&self, before: Option<&RelationshipSummary>) -> bool {
        before.is_none_or(|b| {
            b.quadrant != self.quadrant
                || b.level != self.level
                || b.grade != self.grade
                || b.alert_codes != self.alert_codes
        })
    }
}

/// An account's relationship as a list shows it: who the account is, its organizational trust
/// (without contributions), quadrant, level, the money a list orders and warns on, and its
/// alerts. Everything of a list entry, and no more, so that the live projector's rows can keep
/// it for every account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelationshipBrief {
    /// The account (none when it has no events).
    pub account_id: Option<AccountId>,
    /// Name, owner and segment.
    pub profile: AccountProfile,
    /// The instant judged at.
    pub as_of: Timestamp,
    /// The rules used.
    pub params_version: &'static str,
    /// The organizational trust score, with its trend.
    pub trust: TrustScore,
    /// Outsider, Friend, Supplier or Partner.
    pub quadrant: Quadrant,
    /// None, Price, Service or Interdependence.
    pub level: Level,
    /// Trailing revenue of won orders, minor units.
    pub revenue_minor: i64,
    /// Margin of those orders whose margin is known, minor units.
    pub margin_minor: i64,
    /// Receivables past due, minor units.
    pub receivables_overdue_minor: i64,
    /// The account's alerts, in the order of their codes.
    pub alerts: Vec<Alert>,
}

impl RelationshipBrief {
    /// The brief of `projection`.
    pub fn of(projection: &AccountProjection) -> Self {
        RelationshipBrief {
            account_id: projection.account_id.clone(),
            profile: projection.profile.clone(),
            as_of: projection.as_of,
            params_version: projection.params_version,
            trust: projection.organizational_trust.trust.clone(),
            quadrant: projection.quadrant.quadrant,
            level: projection.level.level,
            revenue_minor: projection.commercial.revenue_minor,
            margin_minor: projection.commercial.margin_minor,
            receivables_overdue_minor: projection.commercial.receivables_overdue_minor,
            alerts: projection.alerts.clone(),
        }
    }
}

/// Events of one account that changed its quadrant, level, grade or alerts: what the change
/// feed reports, and what the projector's checkpoint keeps (in position order) for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipChange {
    /// The account's summary before the events; `None` before its first event.
    pub before: Option<RelationshipSummary>,
    /// After them; `after.position` and `after.event_id` name the last of them.
    pub after: RelationshipSummary,
    /// The position of the first of them: `after.position` when one event made the change,
    /// earlier when the projector judged several of the account's events together (catching
    /// up, see `Projector::project_page`). The change covers the account's events in
    /// `first_position..=after.position`.
    pub first_position: u64,
}

impl RelationshipChange {
    /// The position of the last event the change covers: where it sits in the change log.
    pub fn position(&self) -> u64 {
        self.after.position
    }
}

#[cfg(test)]
mod tests;
