//! The relationships service: each account's projection (docs/scoring.md), answered from the
//! log.
//!
//! A projection is a pure function of the account's events, an instant and the parameters
//! (`domain::projection`). This module decides *which* events and *which* instant a question
//! means, the two axes of an auditor's question "what did we know on date Y about the
//! relationship on date X":
//!
//! - **what the ledger knew** (recorded time): all records, or those up to a global position
//!   (`as_of_position`), or those recorded by an instant (`known_at`);
//! - **when the relationship is judged** (business time, `as_of`): evidence that occurred
//!   after it does not count, and all evidence is aged to it.
//!
//! The rules, in one place:
//!
//! | question | records counted | judged as of |
//! |---|---|---|
//! | nothing given | all | the request's arrival* |
//! | `as_of_time` X | all | X |
//! | `as_of_position` p | positions `<= p` | the `recorded_at` of record p, the moment the log ended at p* |
//! | `known_at` Y, no as_of | recorded `<= Y` | Y* |
//! | `known_at` Y with either as_of | recorded `<= Y` as well | as above (the earlier of Y and p's moment) |
//!
//! \* or the newest `occurred_at` counted, if that is later: an event may be dated up to a day
//! ahead of the server's clock, and a live answer never ignores an event it holds.
//!
//! So the answer as of position p is what a live query made when the log ended at p said;
//! every answer carries the `as_of` it used, so it can be replayed.

use std::sync::{Arc, Mutex};

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use lru::LruCache;

use crate::clock::now;
use crate::domain::projection::{
    concentration, explain_change, gift_register, project_listing, project_unexplained,
    AccountProjection, AccountRevenue, Checkpoint, GiftEntry, Params, Portfolio, RelationshipBrief,
    TrustChange,
};
use crate::domain::{AccountId, AccountScope, RecordedEvent, Timestamp, ValidationError};
use crate::ledger::LedgerError;
use crate::read::histories::{self, Histories, DEFAULT_BUDGET};
use crate::read::projector::LiveRows;
use crate::read::states::{self, States};
use crate::store::Log;

mod cut;
mod from_rows;
mod listing;
mod live;
mod page_token;
mod query;
mod walk;

use listing::{Listing, ListingKey, KEPT_LISTINGS};
use live::{LiveAnswer, LiveAnswers};
use page_token::{PageToken, SortKey};
use walk::{blocking_fold, newest, read_account, walk};

use cut::Cut;
pub(crate) use cut::{occurred, Judged};
pub use query::{
    AsOf, GiftFilter, ListFilter, ListOrder, ListPage, ListQuery, RelationshipQuery,
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};

/// How many of a list page's relationships are read and folded at once.
const PAGE_FOLDS_AT_ONCE: usize = 4;

/// The relationships service over a log.
pub struct Relationships {
    /// The event log: projections are folded from it.
    log: Arc<dyn Log>,
    /// The scoring rules, versioned; every answer names them.
    params: Params,
    /// Recently used account histories (shared with the live projector in a server).
    histories: Arc<Histories>,
    /// Recently used accounts' states, which live questions are answered from (shared with
    /// the live projector in a server).
    states: Arc<States>,
    /// Recent live answers, kept until their account moves or their `stable_until`.
    live: Mutex<LiveAnswers>,
    /// Recent listings, so that the pages after a list's first are a lookup, not a walk.
    listings: Mutex<LruCache<ListingKey, Arc<Listing>>>,
    /// The live projector's rows, which lists and the portfolio "now" are answered from.
    rows: Option<LiveRows>,
}

impl Relationships {
    /// The service over `log`, scoring with `params`, with caches of its own.
    pub fn new(log: Arc<dyn Log>, params: Params) -> Self {
        let histories = Arc::new(Histories::new(Arc::clone(&log), DEFAULT_BUDGET));
        let states = States::new(Arc::clone(&log), params.clone(), states::DEFAULT_BUDGET);
        Relationships::with_caches(log, params, histories, Arc::new(states))
    }

    /// The service over `log`, scoring with `params`, reading account histories through
    /// `histories` and live answers through `states` (the live projector's, so that both
    /// decode each record once and advance each state once).
    pub fn with_caches(
        log: Arc<dyn Log>,
        params: Params,
        histories: Arc<Histories>,
        states: Arc<States>,
    ) -> Self {
        Relationships {
            log,
            params,
            histories,
            states,
            live: Mutex::new(LiveAnswers::default()),
            listings: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(KEPT_LISTINGS).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            rows: None,
        }
    }

    /// The same service answering lists and the portfolio "now" from the live projector's
    /// rows (see `from_rows`) instead of walking every account; it still walks for a question
    /// about another state of the log or another instant, and while the rows are being built.
    pub fn with_rows(self, rows: LiveRows) -> Self {
        Relationships {
            rows: Some(rows),
            ..self
        }
    }

    /// The scoring rules in force.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// One account's projection; `AccountNotFound` when the question counts none of its events.
    pub async fn get(
        &self,
        account: &AccountId,
        query: RelationshipQuery,
    ) -> Result<AccountProjection, LedgerError> {
        self.get_listing(account, query, None).await
    }

    /// [`Relationships::get`] listing at least each score's `max_contributions` biggest
    /// contributions (all without a limit; a kept answer may list more), so that the rest are
    /// not written out.
    pub async fn get_listing(
        &self,
        account: &AccountId,
        query: RelationshipQuery,
        max_contributions: Option<usize>,
    ) -> Result<AccountProjection, LedgerError> {
        if query == RelationshipQuery::default() {
            return self.get_live(account, max_contributions).await;
        }
        let cut = self.cut(query).await?;
        let history = self.histories.history(account, cut.max_position).await?;
        let events = cut.admitted(&history);
        if events.is_empty() {
            return Err(LedgerError::AccountNotFound(account.clone()));
        }
        Ok(project_listing(
            &events,
            cut.judged.instant(occurred(events.iter())),
            &self.params,
            max_contributions,
        ))
    }

    /// The live answer (see [`LiveAnswers`]): a kept one re-dated when it still holds, else
    /// the account's state (advanced to the head) projected.
    async fn get_live(
        &self,
        account: &AccountId,
        max_contributions: Option<usize>,
    ) -> Result<AccountProjection, LedgerError> {
        let at = self.states.state(account, None).await?;
        let state = &at.state;
        let (Some(revision), Some(newest)) = (state.last_revision(), state.newest()) else {
            return Err(LedgerError::AccountNotFound(account.clone()));
        };
        let as_of = Judged::NoEarlierThan(now()).instant([newest]);
        if let Some(kept) = self.live().get(account, revision, as_of, max_contributions) {
            return Ok(kept);
        }
        let projection = match state.project(as_of, &self.params, max_contributions) {
            Some(projection) => projection,
            // A compact state (a long history) no longer holds the events an explanation
            // and the trends read: fold the history up to the state's position.
            None if state.is_compact() => {
                let history = self.histories.history(account, at.position).await?;
                let events = histories::up_to(&history, at.position.unwrap_or(0));
                project_listing(events, as_of, &self.params, max_contributions)
            }
            None => return Err(LedgerError::AccountNotFound(account.clone())),
        };
        let answer = LiveAnswer {
            revision,
            listing: max_contributions,
            as_of,
            until: state.stable_until(as_of),
            projection: Arc::new(projection.clone()),
        };
        self.live().keep(account, answer);
        Ok(projection)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, LiveAnswers> {
        // Every change to the answers leaves them consistent.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A page of the relationships that pass the filter, in order. Every page of one listing
    /// is judged at the same instant (the first page's); the page token carries it and the
    /// sort key of the last relationship shown, so the next page starts right after that one
    /// even if accounts were added in between.
    pub async fn list(&self, query: ListQuery) -> Result<ListPage, LedgerError> {
        let page_size = match query.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                let message = format!("must be at most {MAX_PAGE_SIZE}");
                return Err(ValidationError::single("page_size", message).into());
            }
            n => n,
        };
        let token = query
            .page_token
            .as_deref()
            .map(|t| PageToken::parse(t, query.order))
            .transpose()?;
        let from_rows = match token {
            None => self.listing_from_rows(&query, now()).await?,
            Some(_) => None,
        };
        let (listing, cut, as_of) = match from_rows {
            Some(found) => found,
            None => {
                // A listing is one state of the log judged at one instant: its first page pins
                // both (the head as it is, and now or the newest `occurred_at` in the log if
                // that is later) and its tokens carry them, so every page is a page of the same
                // list, on any server.
                let (judged, position) = match &token {
                    Some(token) => (Judged::At(token.as_of), token.position),
                    None => (Judged::NoEarlierThan(now()), None),
                };
                let cut = Cut {
                    max_position: position,
                    ..Cut::everything()
                };
                let Some(cut) = cut.pinned(&*self.log) else {
                    return Ok(ListPage {
                        relationships: Vec::new(),
                        next_page_token: None,
                        as_of: judged.base(),
                    });
                };
                let (listing, as_of) = self.listing(cut, judged, &query).await?;
                (listing, cut, as_of)
            }
        };
        let start = token.map_or(0, |token| {
            listing.partition_point(|key| *key <= token.after)
        });
        let mut first: Vec<&SortKey> = listing[start..].iter().take(page_size + 1).collect();
        let next_page_token = if first.len() > page_size {
            first.truncate(page_size);
            first.last().map(|last| {
                PageToken {
                    order: query.order,
                    as_of,
                    position: cut.max_position,
                    after: (*last).clone(),
                }
                .format()
            })
        } else {
            None
        };
        // The page's relationships: from the kept rows when they answer for this listing's
        // instant and position, else folded (trends included), a few at once: reading a cold
        // history from the log costs more than its fold, and the reads of one wait on the
        // disk while another's fold runs.
        let accounts: Vec<AccountId> = first.into_iter().map(|key| key.account.clone()).collect();
        let position = cut.max_position;
        let folds = accounts.into_iter().map(|account| async move {
            let kept = self
                .rows
                .as_ref()
                .zip(position)
                .and_then(|(live, position)| live.rows.brief_at(&account, as_of, position));
            if let Some(brief) = kept {
                return Ok::<_, LedgerError>(brief);
            }
            let events = read_account(&*self.log, &account, &cut).await?;
            let last = events.last().map(|event| event.position);
            let params = self.params.clone();
            let brief = blocking_fold(move || {
                RelationshipBrief::of(&project_unexplained(&events, as_of, &params))
            })
            .await?;
            // The row that answers for this instant over the same events takes it, so that the
            // next list does not fold it again (a page's rows have none).
            if let Some((live, last)) = self.rows.as_ref().zip(last) {
                live.rows.add_brief(&account, as_of, last, &brief);
            }
            Ok(brief)
        });
        let relationships: Vec<RelationshipBrief> = stream::iter(folds)
            .buffered(PAGE_FOLDS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(ListPage {
            relationships,
            next_page_token,
            as_of,
        })
    }

    /// How the account's trust changed between two points. A position means what the ledger
    /// knew when the log ended there, judged as in [`Relationships::get`].
    pub async fn explain_change(
        &self,
        account: &AccountId,
        from: Checkpoint,
        to: Checkpoint,
    ) -> Result<TrustChange, LedgerError> {
        let events = self.histories.history(account, None).await?;
        if events.is_empty() {
            return Err(LedgerError::AccountNotFound(account.clone()));
        }
        let from = self.resolve(from, &events, "from_position").await?;
        let to = self.resolve(to, &events, "to_position").await?;
        Ok(explain_change(&events, from, to, &self.params))
    }

    /// Revenue concentration across every account inside `scope`, and the instant it was
    /// judged at.
    pub async fn portfolio(
        &self,
        query: RelationshipQuery,
        scope: &AccountScope,
    ) -> Result<(Portfolio, Timestamp), LedgerError> {
        if query == RelationshipQuery::default() {
            if let Some(answer) = self.portfolio_from_rows(scope, now()).await? {
                return Ok(answer);
            }
        }
        let cut = self.cut(query).await?;
        self.portfolio_walk(cut, scope).await
    }

    /// The portfolio over `cut` (pinned to the head now), walking every account inside `scope`.
    async fn portfolio_walk(
        &self,
        cut: Cut,
        scope: &AccountScope,
    ) -> Result<(Portfolio, Timestamp), LedgerError> {
        let Some(cut) = cut.pinned(&*self.log) else {
            return Ok((concentration(Vec::new(), &self.params), cut.judged.base()));
        };
        let (revenues, as_of) = self
            .judged_walk(cut.judged, |as_of| {
                let params = self.params.clone();
                let mut folds = walk(&self.log, cut, scope.clone(), move |account, events| {
                    let projection = project_unexplained(events, as_of, &params);
                    (
                        (account.clone(), AccountRevenue::of(&projection)),
                        newest(events),
                    )
                });
                async move {
                    let (mut revenues, mut latest) = (Vec::new(), None);
                    while let Some((revenue, newest)) = folds.try_next().await? {
                        revenues.push(revenue);
                        latest = latest.max(newest);
                    }
                    Ok((revenues, latest))
                }
            })
            .await?;
        Ok((concentration(revenues, &self.params), as_of))
    }

    /// Every favor that passes the filter, by account then in log order, with the alerts it
    /// raised.
    pub fn gift_register(
        &self,
        filter: GiftFilter,
    ) -> BoxStream<'static, Result<GiftEntry, LedgerError>> {
        let log = Arc::clone(&self.log);
        let params = self.params.clone();
        let account = filter.account.clone();
        let scope = filter.scope.clone();
        let keep = move |entry: &GiftEntry| {
            filter
                .contact_id
                .as_ref()
                .is_none_or(|c| *c == entry.contact_id)
                && filter.from.is_none_or(|from| entry.occurred_at >= from)
                && filter.to.is_none_or(|to| entry.occurred_at < to)
        };
        let register = move |events: &[RecordedEvent]| -> Vec<Result<GiftEntry, LedgerError>> {
            gift_register(events, &params)
                .into_iter()
                .filter(&keep)
                .map(Ok)
                .collect()
        };
        match account {
            Some(account) => stream::once(async move {
                let events = read_account(&*log, &account, &Cut::everything()).await?;
                Ok::<_, LedgerError>(stream::iter(register(&events)))
            })
            .try_flatten()
            .boxed(),
            // Account by account, so that the register of a large ledger is streamed, not held.
            None => match Cut::everything().pinned(&*log) {
                Some(cut) => walk(&log, cut, scope, move |_, events| register(events))
                    .map_ok(stream::iter)
                    .try_flatten()
                    .boxed(),
                None => stream::empty().boxed(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
