//! Portfolio concentration (docs/scoring.md §10; docs/domain.md §7: 70% of volume from one
//! contractor): each account's share of trailing revenue, the Herfindahl-Hirschman index, and
//! the accounts whose share is critical.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::ids::{AccountId, EventId};

use super::alerts::{Alert, AlertCode};
use super::params::Params;
use super::AccountProjection;

/// One account's place in the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountShare {
    /// The account.
    pub account_id: AccountId,
    /// Its trailing revenue in minor units (negative revenue counts as none).
    pub revenue_minor: i64,
    /// Its share of the portfolio's revenue, 0..1.
    pub share: f64,
    /// Share at least the major threshold (10%).
    pub major: bool,
    /// At least the high threshold (25%).
    pub high: bool,
    /// At least the critical threshold (50%): `CONCENTRATION_CRITICAL`.
    pub critical: bool,
}

/// The portfolio's concentration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Portfolio {
    /// The parameter set of the thresholds.
    pub params_version: &'static str,
    /// The sum of the accounts' trailing revenue.
    pub total_revenue_minor: i64,
    /// `10000 * sum(share^2)`: 10000 for one account, near 0 for many small ones.
    pub hhi: f64,
    /// Every account, by account id.
    pub accounts: Vec<AccountShare>,
    /// `CONCENTRATION_CRITICAL` per critical account, by account id.
    pub alerts: Vec<(AccountId, Alert)>,
}

/// `revenue / total >= bp / 10000`, in integers so that exactly 50% is critical.
fn at_least(revenue: i64, total: i64, bp: u32) -> bool {
    total > 0 && i128::from(revenue) * 10_000 >= i128::from(total) * i128::from(bp)
}

/// What the portfolio needs of one account's projection: its trailing revenue, and the orders
/// behind it, which a `CONCENTRATION_CRITICAL` alert cites. A few bytes per account, so that a
/// portfolio of a million accounts is summed without holding a million projections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRevenue {
    /// Trailing revenue in minor units, as the projection gives it.
    pub revenue_minor: i64,
    /// The business evidence of the projection's quadrant (its orders).
    pub event_ids: Vec<EventId>,
}

impl AccountRevenue {
    /// The part of `projection` the portfolio reads.
    pub fn of(projection: &AccountProjection) -> Self {
        AccountRevenue {
            revenue_minor: projection.commercial.revenue_minor,
            event_ids: projection.quadrant.business.event_ids.clone(),
        }
    }
}

/// The concentration of `accounts`, each with its projection (normally all as of the same
/// instant). An account listed twice counts once, with its last projection.
pub fn portfolio(accounts: &[(AccountId, AccountProjection)], params: &Params) -> Portfolio {
    let revenues = accounts
        .iter()
        .map(|(id, p)| (id.clone(), AccountRevenue::of(p)))
        .collect();
    concentration(revenues, params)
}

/// [`portfolio`] from each account's [`AccountRevenue`]: the same answer.
pub fn concentration(mut accounts: Vec<(AccountId, AccountRevenue)>, params: &Params) -> Portfolio {
    // By account id, each once (its last entry): a walk or the kept rows give them in id order
    // already, and then nothing is moved.
    let in_order = accounts.windows(2).all(|pair| pair[0].0 < pair[1].0);
    if !in_order {
        let by_id: BTreeMap<AccountId, AccountRevenue> = accounts.into_iter().collect();
        accounts = by_id.into_iter().collect();
    }
    let by_id = accounts;
    let revenue = |p: &AccountRevenue| p.revenue_minor.max(0);
    let total = by_id
        .iter()
        .fold(0_i64, |sum, (_, p)| sum.saturating_add(revenue(p)));
    let mut hhi_sum = 0.0;
    let mut shares = Vec::with_capacity(by_id.len());
    let mut alerts = Vec::new();
    for (id, projection) in by_id {
        let rev = revenue(&projection);
        let share = if total > 0 {
            rev as f64 / total as f64
        } else {
            0.0
        };
        hhi_sum += share * share;
        let critical = at_least(rev, total, params.concentration_critical_bp);
        if critical {
            let message = format!(
                "Account {id} brings {:.1}% of the portfolio's revenue of the last {} days: losing it would be critical.",
                100.0 * share,
                params.trailing_days
            );
            let event_ids = projection.event_ids;
            alerts.push((
                id.clone(),
                Alert {
                    code: AlertCode::ConcentrationCritical,
                    message,
                    event_ids,
                },
            ));
        }
        shares.push(AccountShare {
            account_id: id,
            revenue_minor: rev,
            share,
            major: at_least(rev, total, params.concentration_major_bp),
            high: at_least(rev, total, params.concentration_high_bp),
            critical,
        });
    }
    Portfolio {
        params_version: params.params_version,
        total_revenue_minor: total,
        hhi: 10_000.0 * hhi_sum,
        accounts: shares,
        alerts,
    }
}

#[cfg(test)]
mod tests;
