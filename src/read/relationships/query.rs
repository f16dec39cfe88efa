//! The questions the relationships service answers and the pages it answers lists with.

use crate::domain::projection::{
    AccountProjection, AlertCode, Grade, Level, Quadrant, RelationshipBrief,
};
use crate::domain::{AccountId, AccountScope, Timestamp};
use crate::read::rows::Row;

/// The most relationships one list page holds.
pub const MAX_PAGE_SIZE: usize = 500;
/// The page size when a request names none.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// When the relationship is judged (the business-time axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOf {
    /// Now (see the module table).
    #[default]
    Now,
    /// What the ledger knew when the log ended at this position, judged at that moment.
    Position(u64),
    /// This instant.
    Time(Timestamp),
}

/// Which events and which instant a question means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelationshipQuery {
    /// When the relationship is judged.
    pub as_of: AsOf,
    /// Count only records the ledger had recorded by this instant.
    pub known_at: Option<Timestamp>,
}

/// Which relationships a list returns; empty means any, and all fields must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Any of these quadrants.
    pub quadrants: Vec<Quadrant>,
    /// Any of these levels.
    pub levels: Vec<Level>,
    /// Any of these organizational-trust grades.
    pub grades: Vec<Grade>,
    /// Raising any of these alerts.
    pub alert_codes: Vec<AlertCode>,
    /// Owned by any of these salespeople.
    pub owners: Vec<String>,
    /// Only accounts inside the caller's scope; the others are never read.
    pub scope: AccountScope,
}

impl ListFilter {
    pub(super) fn matches(&self, facts: &Facts<'_>) -> bool {
        fn any<T: PartialEq>(wanted: &[T], value: &T) -> bool {
            wanted.is_empty() || wanted.contains(value)
        }
        any(&self.quadrants, &facts.quadrant)
            && any(&self.levels, &facts.level)
            && any(&self.grades, &facts.grade)
            && (self.owners.is_empty() || self.owners.iter().any(|o| o == facts.owner))
            && (self.alert_codes.is_empty()
                || facts
                    .alert_codes
                    .iter()
                    .any(|c| self.alert_codes.contains(c)))
    }
}

/// What a list filters and orders a relationship by: read from a kept row, or from a projection
/// folded for the list; the two give the same facts for the same events and instant.
pub(super) struct Facts<'a> {
    pub(super) account: &'a AccountId,
    pub(super) quadrant: Quadrant,
    pub(super) level: Level,
    pub(super) grade: Grade,
    pub(super) score: u8,
    pub(super) revenue_minor: i64,
    pub(super) owner: &'a str,
    pub(super) alert_codes: &'a [AlertCode],
}

impl<'a> Facts<'a> {
    /// The facts of `projection`, whose alerts' codes are `alert_codes`.
    pub(super) fn of_projection(
        account: &'a AccountId,
        projection: &'a AccountProjection,
        alert_codes: &'a [AlertCode],
    ) -> Self {
        Facts {
            account,
            quadrant: projection.quadrant.quadrant,
            level: projection.level.level,
            grade: projection.organizational_trust.trust.grade,
            score: projection.organizational_trust.trust.score,
            revenue_minor: projection.commercial.revenue_minor,
            owner: &projection.profile.owner,
            alert_codes,
        }
    }

    /// The facts of a kept row.
    pub(super) fn of_row(account: &'a AccountId, row: &'a Row) -> Self {
        Facts {
            account,
            quadrant: row.summary.quadrant,
            level: row.summary.level,
            grade: row.summary.grade,
            score: row.summary.score,
            revenue_minor: row.summary.revenue_minor,
            owner: &row.owner,
            alert_codes: &row.summary.alert_codes,
        }
    }
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListOrder {
    /// By account id, ascending.
    #[default]
    AccountId,
    /// Organizational trust score, highest first (then account id).
    Trust,
    /// Trailing-365-day revenue, highest first (then account id).
    Revenue,
}

/// A list request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Which relationships.
    pub filter: ListFilter,
    /// In which order.
    pub order: ListOrder,
    /// How many per page; 0 means [`DEFAULT_PAGE_SIZE`], more than [`MAX_PAGE_SIZE`] is refused.
    pub page_size: usize,
    /// The token of the previous page's answer, to continue from it.
    pub page_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The relationships of this page in brief: `get` explains one.
    pub relationships: Vec<RelationshipBrief>,
    /// The token for the next page; `None` on the last one.
    pub next_page_token: Option<String>,
    /// The instant every relationship of the list is judged at (the same on every page).
    pub as_of: Timestamp,
}

/// Which favors the gift register returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GiftFilter {
    /// Only this account.
    pub account: Option<AccountId>,
    /// Only favors to this contact.
    pub contact_id: Option<String>,
    /// Only favors given at or after this instant.
    pub from: Option<Timestamp>,
    /// Only favors given before this instant.
    pub to: Option<Timestamp>,
    /// Only accounts inside the caller's scope; the others are never read.
    pub scope: AccountScope,
}
