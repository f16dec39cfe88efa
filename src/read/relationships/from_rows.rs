//! Lists and the portfolio "now" from the live projector's kept rows (`read::rows`), instead of
//! a walk that folds every account.
//!
//! The answer is the walk's, byte for byte: one state of the log (the rows' position, at least
//! the head when the question arrived, so a client reads its own appends) judged at one instant
//! (now, or the newest `occurred_at` among the accounts in scope if later). A row answers for
//! that instant when it was judged no later and holds until after it; the few that do not (their
//! instant passed before the refresher got to them) are folded here, at that instant, over the
//! same state of the log.

use std::sync::Arc;
use std::time::Duration;

use super::listing::{Listing, ListingKey};
use super::page_token::SortKey;
use super::query::Facts;
use super::walk::{blocking_fold, read_account};
use super::{Cut, Judged, ListQuery, Relationships};
use crate::domain::projection::{concentration, project_unexplained, AccountRevenue, Portfolio};
use crate::domain::{AccountId, AccountScope, Timestamp};
use crate::ledger::LedgerError;
use crate::read::projector::{events_up_to, judge_each};
use crate::read::rows::Row;

/// How long a question waits for the projector to reach the head it found before it walks the
/// log instead: the projector is nudged to skip its pacing, so this is a bound for a projector
/// that is failing or still building its rows, not a wait anyone sees.
const ROWS_WAIT: Duration = Duration::from_secs(5);

/// How many rows past their instant one fold on the blocking pool takes.
const STALE_CHUNK: usize = 64;

/// What a question gathered from the rows: the state of the log and the instant it is of.
pub(super) struct Gathered<T> {
    /// The last position counted.
    pub(super) position: u64,
    /// The instant judged at.
    pub(super) as_of: Timestamp,
    /// What `pick` took from each row in scope.
    pub(super) picked: Vec<T>,
    /// Whether `picked` is in account id order: every row held, none was folded here.
    pub(super) in_id_order: bool,
}

impl Relationships {
    /// Applies `pick` to the row of every account inside `scope`, each judged at one instant
    /// (`moment`, or the newest `occurred_at` in scope if later) over one state of the log (see
    /// the module docs); `None` when there are no rows to
    /// answer from (no projector, an empty log, rows still being built, a projector that does
    /// not reach the head in [`ROWS_WAIT`]): the caller walks the log instead.
    pub(super) async fn gather_rows<T: Send>(
        &self,
        moment: Timestamp,
        scope: &AccountScope,
        pick: impl Fn(&AccountId, &Row) -> Option<T> + Send + Sync,
    ) -> Result<Option<Gathered<T>>, LedgerError> {
        let Some(live) = self.rows.as_ref().filter(|live| live.rows.is_built()) else {
            return Ok(None);
        };
        let Some(head) = self.log.head().next_position.checked_sub(1) else {
            return Ok(None);
        };
        if live.rows.reach(head, Duration::ZERO).await.is_none() {
            live.hurry();
            if live.rows.reach(head, ROWS_WAIT).await.is_none() {
                return Ok(None);
            }
        }
        let (position, (as_of, mut picked, stale)) = live.rows.at(|rows| {
            let in_scope = || rows.accounts().filter(|(account, _)| scope.covers(account));
            let as_of = Judged::NoEarlierThan(moment).instant(in_scope().map(|(_, r)| r.newest()));
            let (mut picked, mut stale) = (Vec::new(), Vec::new());
            for (account, kept) in in_scope() {
                match kept.at(as_of) {
                    Some(row) => picked.extend(pick(account, row)),
                    None => stale.push((account.clone(), kept.position())),
                }
            }
            (as_of, picked, stale)
        });
        let in_id_order = stale.is_empty();
        if !stale.is_empty() {
            // Chunk by chunk on the blocking pool, as many at once as it has fold slots.
            let refolds = stale
                .chunks(STALE_CHUNK)
                .map(|chunk| self.refold(chunk.to_vec(), as_of));
            let refolded = futures::future::try_join_all(refolds).await?;
            let refolded: Vec<(AccountId, Row)> = refolded.into_iter().flatten().collect();
            picked.extend(refolded.iter().filter_map(|(a, row)| pick(a, row)));
            live.rows.refreshed(refolded);
        }
        Ok(Some(Gathered {
            position,
            as_of,
            picked,
            in_id_order,
        }))
    }

    /// The rows of `accounts` (each with the position of its last event) judged at `as_of`.
    async fn refold(
        &self,
        accounts: Vec<(AccountId, u64)>,
        as_of: Timestamp,
    ) -> Result<Vec<(AccountId, Row)>, LedgerError> {
        let accounts = accounts
            .into_iter()
            .map(|(account, position)| (account, position, Some(as_of)))
            .collect();
        let events = events_up_to(&*self.log, &self.histories, &self.states, accounts).await?;
        let params = self.params.clone();
        blocking_fold(move || judge_each(events, &params)).await
    }

    /// A list judged at `moment` (now) from the rows, with the cut its pages are folded over; `None` when the rows
    /// cannot answer.
    pub(super) async fn listing_from_rows(
        &self,
        query: &ListQuery,
        moment: Timestamp,
    ) -> Result<Option<(Arc<Listing>, Cut, Timestamp)>, LedgerError> {
        let (filter, order) = (query.filter.clone(), query.order);
        let gathered = self
            .gather_rows(moment, &query.filter.scope, move |account, row| {
                let facts = Facts::of_row(account, row);
                filter.matches(&facts).then(|| SortKey::of(&facts, order))
            })
            .await?;
        let Some(Gathered {
            position,
            as_of,
            picked: mut listing,
            in_id_order,
        }) = gathered
        else {
            return Ok(None);
        };
        if in_id_order {
            // Ties keep the id order they were gathered in: the same order as sorting by the
            // whole key, at the cost of sorting integers (stably) instead of comparing ids.
            listing.sort_by_key(|key| key.primary);
        } else {
            listing.sort_unstable();
        }
        let listing = Arc::new(listing);
        let cut = Cut {
            max_position: Some(position),
            known_at: None,
            judged: Judged::At(as_of),
        };
        self.keep_listing(ListingKey::new(query, Some(position), as_of), &listing);
        Ok(Some((listing, cut, as_of)))
    }

    /// The portfolio judged at `moment` (now) from the rows; `None` when the rows cannot answer.
    pub(super) async fn portfolio_from_rows(
        &self,
        scope: &AccountScope,
        moment: Timestamp,
    ) -> Result<Option<(Portfolio, Timestamp)>, LedgerError> {
        let gathered = self
            .gather_rows(moment, scope, |account, row| {
                Some((account.clone(), row.summary.revenue_minor))
            })
            .await?;
        let Some(Gathered {
            position,
            as_of,
            picked,
            ..
        }) = gathered
        else {
            return Ok(None);
        };
        let revenues = picked
            .into_iter()
            .map(|(account, revenue_minor)| {
                let revenue = AccountRevenue {
                    revenue_minor,
                    event_ids: Vec::new(),
                };
                (account, revenue)
            })
            .collect();
        let mut portfolio = concentration(revenues, &self.params);
        // Only a critical account's alert cites the orders behind its revenue, and at most two
        // accounts can be critical: those are folded for them.
        let cut = Cut {
            max_position: Some(position),
            known_at: None,
            judged: Judged::At(as_of),
        };
        for (account, alert) in &mut portfolio.alerts {
            let events = read_account(&*self.log, account, &cut).await?;
            let params = self.params.clone();
            let revenue = blocking_fold(move || {
                AccountRevenue::of(&project_unexplained(&events, as_of, &params))
            })
            .await?;
            alert.event_ids = revenue.event_ids;
        }
        Ok(Some((portfolio, as_of)))
    }
}

#[cfg(test)]
mod tests;
