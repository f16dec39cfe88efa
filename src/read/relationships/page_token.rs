//! List pagination: where a relationship stands in a list's order, and the opaque token that
//! continues a list after the last relationship shown (keyset pagination, so a page never
//! skips or repeats a relationship when accounts are added between pages).

use super::query::Facts;
use super::ListOrder;
use crate::domain::{AccountId, Timestamp, ValidationError};

/// Where a relationship stands in a list's order: the order's own key, then the account id,
/// so the order is total and a page token can name a place in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SortKey {
    /// The order's key, negated where the order is descending (0 for account-id order).
    pub(super) primary: i64,
    /// The account id.
    pub(super) account: AccountId,
}

impl SortKey {
    pub(super) fn of(facts: &Facts<'_>, order: ListOrder) -> Self {
        let primary = match order {
            ListOrder::AccountId => 0,
            ListOrder::Trust => -i64::from(facts.score),
            ListOrder::Revenue => facts.revenue_minor.saturating_neg(),
        };
        SortKey {
            primary,
            account: facts.account.clone(),
        }
    }
}

/// The continuation of a list: its order, the instant it is judged at, the last position of
/// the log it counts, and the sort key of the last relationship shown. Opaque to clients; its
/// form may change.
pub(super) struct PageToken {
    pub(super) order: ListOrder,
    pub(super) as_of: Timestamp,
    /// `None` in tokens issued before lists were pinned to a position (`v2`): such a list
    /// continues over the log as it is when the next page is asked for.
    pub(super) position: Option<u64>,
    pub(super) after: SortKey,
}

impl PageToken {
    pub(super) fn format(&self) -> String {
        let order = match self.order {
            ListOrder::AccountId => "id",
            ListOrder::Trust => "trust",
            ListOrder::Revenue => "revenue",
        };
        match self.position {
            Some(position) => format!(
                "v3.{order}.{}.{position}.{}.{}",
                self.as_of.unix_nanos(),
                self.after.primary,
                self.after.account
            ),
            None => format!(
                "v2.{order}.{}.{}.{}",
                self.as_of.unix_nanos(),
                self.after.primary,
                self.after.account
            ),
        }
    }

    /// Parses a token issued for a list in `order`.
    pub(super) fn parse(token: &str, order: ListOrder) -> Result<PageToken, ValidationError> {
        let invalid = || ValidationError::single("page_token", "is not a token this server issued");
        // The account id comes last: it may itself contain dots.
        let (pinned, rest) = match (token.strip_prefix("v3."), token.strip_prefix("v2.")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(invalid()),
        };
        let mut parts = rest.splitn(if pinned { 5 } else { 4 }, '.');
        let token_order = match parts.next() {
            Some("id") => ListOrder::AccountId,
            Some("trust") => ListOrder::Trust,
            Some("revenue") => ListOrder::Revenue,
            _ => return Err(invalid()),
        };
        if token_order != order {
            return Err(ValidationError::single(
                "page_token",
                "was issued for a list in another order; pass the same order_by and filters",
            ));
        }
        let as_of = parts
            .next()
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(invalid)?;
        let position = match pinned {
            true => Some(
                parts
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(invalid)?,
            ),
            false => None,
        };
        let primary = parts
            .next()
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(invalid)?;
        let account = parts
            .next()
            .and_then(|id| AccountId::parse(id).ok())
            .ok_or_else(invalid)?;
        let as_of = Timestamp::from_unix_nanos(as_of);
        Ok(PageToken {
            order,
            as_of,
            position,
            after: SortKey { primary, account },
        })
    }
}

#[cfg(test)]
mod tests;
