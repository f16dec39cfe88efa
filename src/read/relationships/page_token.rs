//! List pagination: where a relationship stands in a list's order, and the opaque token that
//! continues a list after the last relationship shown (keyset pagination, so a page never
//! skips or repeats a relationship when accounts are added between pages).

use super::ListOrder;
use crate::domain::projection::AccountProjection;
use crate::domain::{Timestamp, ValidationError};

/// Where a relationship stands in a list's order: the order's own key, then the account id,
/// so the order is total and a page token can name a place in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SortKey {
    /// The order's key, negated where the order is descending (0 for account-id order).
    pub(super) primary: i64,
    /// The account id.
    pub(super) account: String,
}

impl SortKey {
    pub(super) fn of(p: &AccountProjection, order: ListOrder) -> Self {
        let primary = match order {
            ListOrder::AccountId => 0,
            ListOrder::Trust => -i64::from(p.organizational_trust.trust.score),
            ListOrder::Revenue => p.commercial.revenue_minor.saturating_neg(),
        };
        let account = p
            .account_id
            .as_ref()
            .map_or_else(String::new, |id| id.as_str().to_string());
        SortKey { primary, account }
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
        let account = parts.next().ok_or_else(invalid)?.to_string();
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
mod tests {
    use super::*;

    fn token(position: Option<u64>, account: &str) -> PageToken {
        PageToken {
            order: ListOrder::Revenue,
            as_of: Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
            position,
            after: SortKey {
                primary: -42,
                account: account.into(),
            },
        }
    }

    fn same(a: &PageToken, b: &PageToken) -> bool {
        a.order == b.order && a.as_of == b.as_of && a.position == b.position && a.after == b.after
    }

    #[test]
    fn a_token_round_trips_with_its_position_and_a_dotted_account_id() {
        for position in [Some(0), Some(987_654), None] {
            let issued = token(position, "acme.cn:east.1");
            let parsed = PageToken::parse(&issued.format(), ListOrder::Revenue).unwrap();
            assert!(same(&parsed, &issued), "{}", issued.format());
        }
        assert!(token(Some(5), "a").format().starts_with("v3.revenue."));
        // A token issued before lists were pinned continues over the log as it is.
        let v2 = PageToken::parse("v2.revenue.17.-42.acme", ListOrder::Revenue).unwrap();
        assert_eq!(v2.position, None);
        assert_eq!(v2.after.account, "acme");
    }

    #[test]
    fn anything_else_is_refused_naming_the_page_token() {
        let issued = token(Some(5), "acme").format();
        for bad in [
            "",
            "v1.revenue.1.2.a",
            "v3.revenue.1.-2.a",
            "v3.revenue.x.5.-42.a",
            "v3.bogus.1.5.-42.a",
            "v3.revenue.1.5",
        ] {
            let refused = PageToken::parse(bad, ListOrder::Revenue).err().unwrap();
            assert_eq!(refused.violations[0].field, "page_token", "{bad}");
        }
        let other_order = PageToken::parse(&issued, ListOrder::Trust).err().unwrap();
        assert!(other_order.to_string().contains("another order"));
    }
}
