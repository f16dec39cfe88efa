//! Listings: every relationship of a list that passes its filter, in its order, for one state
//! of the log judged at one instant; the recent ones are kept, so that the pages after a list's
//! first are a lookup.

use std::sync::Arc;

use futures::TryStreamExt;
use lru::LruCache;

use super::page_token::SortKey;
use super::query::Facts;
use super::walk::{newest, walk};
use super::{Cut, Judged, ListOrder, ListQuery, Relationships};
use crate::domain::projection::project_unexplained;
use crate::domain::Timestamp;
use crate::ledger::LedgerError;

/// Every relationship of a listing that passes its filter, by sort key (which ends in the
/// account id).
pub(super) type Listing = Vec<SortKey>;

/// What makes two listings the same list: the same filter and order over the same state of the
/// log, judged at the same instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ListingKey {
    /// The filter's every field (its `Debug` form: all of it, in a stable layout).
    filter: String,
    order: ListOrder,
    position: Option<u64>,
    as_of: i64,
}

impl ListingKey {
    /// The key of `query`'s listing over the log up to `position`, judged at `as_of`.
    pub(super) fn new(query: &ListQuery, position: Option<u64>, as_of: Timestamp) -> Self {
        ListingKey {
            filter: format!("{:?}", query.filter),
            order: query.order,
            position,
            as_of: as_of.unix_nanos(),
        }
    }
}

/// How many listings are kept.
pub(super) const KEPT_LISTINGS: usize = 4;
/// The most relationships a kept listing holds (about 100 bytes each): a larger one is walked
/// again for each of its pages.
const MAX_KEPT_LISTING: usize = 250_000;

impl Relationships {
    /// Every relationship of a listing that passes its filter, in its order, with the instant
    /// it is judged at: a kept listing when the same one (filter, order, position, instant) was
    /// walked lately, else a walk over every account, kept when it is small enough. A first
    /// page always walks (its instant is new); the pages after it are a lookup.
    pub(super) async fn listing(
        &self,
        cut: Cut,
        judged: Judged,
        query: &ListQuery,
    ) -> Result<(Arc<Listing>, Timestamp), LedgerError> {
        let key = |as_of: Timestamp| ListingKey::new(query, cut.max_position, as_of);
        if let Judged::At(as_of) = judged {
            if let Some(kept) = self.listings().get(&key(as_of)) {
                return Ok((Arc::clone(kept), as_of));
            }
        }
        let (mut listing, as_of) = self
            .judged_walk(judged, |as_of| self.list_keys(cut, as_of, query))
            .await?;
        listing.sort_unstable();
        let listing = Arc::new(listing);
        self.keep_listing(key(as_of), &listing);
        Ok((listing, as_of))
    }

    /// Keeps `listing` for the pages after its first, unless it is too large to.
    pub(super) fn keep_listing(&self, key: ListingKey, listing: &Arc<Listing>) {
        if listing.len() <= MAX_KEPT_LISTING {
            self.listings().put(key, Arc::clone(listing));
        }
    }

    fn listings(&self) -> std::sync::MutexGuard<'_, LruCache<ListingKey, Arc<Listing>>> {
        // Every change to the kept listings leaves them consistent.
        self.listings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sort key and account of every relationship that passes the list's filter, judged
    /// as of `as_of`, in id order; and the newest `occurred_at` of the events counted.
    async fn list_keys(
        &self,
        cut: Cut,
        as_of: Timestamp,
        query: &ListQuery,
    ) -> Result<(Listing, Option<Timestamp>), LedgerError> {
        let (params, filter, order) = (self.params.clone(), query.filter.clone(), query.order);
        let mut folds = walk(
            &self.log,
            cut,
            query.filter.scope.clone(),
            move |account, events| {
                let projection = project_unexplained(events, as_of, &params);
                let codes: Vec<_> = projection.alerts.iter().map(|a| a.code).collect();
                let facts = Facts::of_projection(account, &projection, &codes);
                let key = filter.matches(&facts).then(|| SortKey::of(&facts, order));
                (key, newest(events))
            },
        );
        let (mut listing, mut latest) = (Vec::new(), None);
        while let Some((key, newest)) = folds.try_next().await? {
            latest = latest.max(newest);
            listing.extend(key);
        }
        Ok((listing, latest))
    }
}
