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

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use lru::LruCache;

use crate::clock::now;
use crate::domain::projection::{
    concentration, explain_change, gift_register, project, project_unexplained, stable_until,
    AccountProjection, AccountRevenue, AlertCode, Checkpoint, GiftEntry, Grade, Level, Params,
    Portfolio, Quadrant, TrustChange,
};
use crate::domain::{AccountId, RecordedEvent, Timestamp, ValidationError};
use crate::ledger::LedgerError;
use crate::read::histories::{self, Histories, DEFAULT_BUDGET};
use crate::store::{Direction, Log, ReadAllFilter};

mod listing;
mod live;
mod page_token;
mod walk;

use listing::{Listing, ListingKey, KEPT_LISTINGS};
use live::{LiveAnswer, LiveAnswers};
use page_token::{PageToken, SortKey};
use walk::{blocking_fold, newest, read_account, walk};

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
}

impl ListFilter {
    fn matches(&self, p: &AccountProjection) -> bool {
        fn any<T: PartialEq>(wanted: &[T], value: &T) -> bool {
            wanted.is_empty() || wanted.contains(value)
        }
        any(&self.quadrants, &p.quadrant.quadrant)
            && any(&self.levels, &p.level.level)
            && any(&self.grades, &p.organizational_trust.trust.grade)
            && any(&self.owners, &p.profile.owner)
            && (self.alert_codes.is_empty()
                || p.alerts.iter().any(|a| self.alert_codes.contains(&a.code)))
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
    /// The relationships of this page, without their contributions (as
    /// [`project_unexplained`] gives them): a list shows each relationship in brief, and
    /// `get` explains one.
    pub relationships: Vec<AccountProjection>,
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
}

/// The relationships service over a log.
pub struct Relationships {
    /// The event log: projections are folded from it.
    log: Arc<dyn Log>,
    /// The scoring rules, versioned; every answer names them.
    params: Params,
    /// Recently used account histories (shared with the live projector in a server).
    histories: Arc<Histories>,
    /// Recent live answers, kept until their account moves or their `stable_until`.
    live: Mutex<LiveAnswers>,
    /// Recent listings, so that the pages after a list's first are a lookup, not a walk.
    listings: Mutex<LruCache<ListingKey, Arc<Listing>>>,
}

/// Which records count, and the instant they are judged at.
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// The last global position counted.
    max_position: Option<u64>,
    /// The last `recorded_at` counted.
    known_at: Option<Timestamp>,
    /// The instant judged at.
    judged: Judged,
}

/// The instant a question judges the relationship at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Judged {
    /// Exactly this instant (`as_of_time`).
    At(Timestamp),
    /// A moment the ledger stood at (now, `known_at`, the recording of a position), or the
    /// newest `occurred_at` counted if that is later: an event may be dated up to a day ahead
    /// of the server's clock, and a live answer never ignores an event it has.
    NoEarlierThan(Timestamp),
}

impl Judged {
    /// The instant before any event is considered: the exact instant, or the moment.
    fn base(self) -> Timestamp {
        match self {
            Judged::At(t) | Judged::NoEarlierThan(t) => t,
        }
    }

    /// The instant, given the `occurred_at` of every event counted.
    pub(crate) fn instant(self, occurred: impl IntoIterator<Item = Timestamp>) -> Timestamp {
        match self {
            Judged::At(t) => t,
            Judged::NoEarlierThan(t) => occurred.into_iter().fold(t, Timestamp::max),
        }
    }
}

/// The `occurred_at` of each event.
pub(crate) fn occurred<'a, I: IntoIterator<Item = &'a RecordedEvent>>(
    events: I,
) -> impl Iterator<Item = Timestamp> + use<'a, I> {
    events.into_iter().map(|r| r.event.occurred_at)
}

impl Cut {
    /// Every record, judged as a live query now.
    fn everything() -> Self {
        Cut {
            max_position: None,
            known_at: None,
            judged: Judged::NoEarlierThan(now()),
        }
    }

    /// The cut with its last position pinned to the log's committed head now, so that a walk
    /// over every account sees the log as it stood when the walk began, whatever is appended
    /// meanwhile; `None` while the log is empty.
    fn pinned(mut self, log: &dyn Log) -> Option<Self> {
        let last = log.head().next_position.checked_sub(1)?;
        self.max_position = Some(self.max_position.map_or(last, |p| p.min(last)));
        Some(self)
    }

    /// The events of an account's `history` (in stream order) that the cut admits.
    fn admitted<'h>(&self, history: &'h [RecordedEvent]) -> Cow<'h, [RecordedEvent]> {
        let counted = match self.max_position {
            Some(position) => histories::up_to(history, position),
            None => history,
        };
        match self.known_at {
            None => Cow::Borrowed(counted),
            Some(_) => Cow::Owned(counted.iter().filter(|r| self.admits(r)).cloned().collect()),
        }
    }

    fn admits(&self, record: &RecordedEvent) -> bool {
        self.max_position.is_none_or(|p| record.position <= p)
            && self.known_at.is_none_or(|k| record.recorded_at <= k)
    }
}

impl Relationships {
    /// The service over `log`, scoring with `params`, with a history cache of its own.
    pub fn new(log: Arc<dyn Log>, params: Params) -> Self {
        let histories = Arc::new(Histories::new(Arc::clone(&log), DEFAULT_BUDGET));
        Relationships::with_histories(log, params, histories)
    }

    /// The service over `log`, scoring with `params`, reading account histories through
    /// `histories` (the live projector's, so that both decode each record once).
    pub fn with_histories(log: Arc<dyn Log>, params: Params, histories: Arc<Histories>) -> Self {
        Relationships {
            log,
            params,
            histories,
            live: Mutex::new(LiveAnswers::default()),
            listings: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(KEPT_LISTINGS).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
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
        if query == RelationshipQuery::default() {
            return self.get_live(account).await;
        }
        let cut = self.cut(query).await?;
        let history = self
            .histories
            .history(account, [], cut.max_position)
            .await?;
        let events = cut.admitted(&history);
        if events.is_empty() {
            return Err(LedgerError::AccountNotFound(account.clone()));
        }
        Ok(project(
            &events,
            cut.judged.instant(occurred(events.iter())),
            &self.params,
        ))
    }

    /// The live answer (see [`LiveAnswers`]): a kept one re-dated when it still holds, a
    /// fresh fold otherwise.
    async fn get_live(&self, account: &AccountId) -> Result<AccountProjection, LedgerError> {
        let history = self.histories.history(account, [], None).await?;
        let Some(last) = history.last() else {
            return Err(LedgerError::AccountNotFound(account.clone()));
        };
        let as_of = Judged::NoEarlierThan(now()).instant(occurred(history.iter()));
        if let Some(kept) = self.live().get(account, last.revision, as_of) {
            return Ok(kept);
        }
        let projection = project(&history, as_of, &self.params);
        let answer = LiveAnswer {
            revision: last.revision,
            as_of,
            until: stable_until(&history, as_of),
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
        // A listing is one state of the log judged at one instant: its first page pins both
        // (the head as it is, and now or the newest `occurred_at` in the log if that is later)
        // and its tokens carry them, so every page is a page of the same list, on any server.
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
        let start = token.map_or(0, |token| {
            listing.partition_point(|(key, _)| *key <= token.after)
        });
        let mut first: Vec<&(SortKey, AccountId)> =
            listing[start..].iter().take(page_size + 1).collect();
        let next_page_token = (first.len() > page_size).then(|| {
            first.truncate(page_size);
            PageToken {
                order: query.order,
                as_of,
                position: cut.max_position,
                after: first.last().map(|(key, _)| key.clone()).unwrap_or_default(),
            }
            .format()
        });
        let mut relationships = Vec::with_capacity(first.len());
        for (_, account) in first {
            let events = read_account(&*self.log, account, &cut).await?;
            let params = self.params.clone();
            let fold = move || project_unexplained(&events, as_of, &params);
            relationships.push(blocking_fold(fold).await?);
        }
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
        let events = self.histories.history(account, [], None).await?;
        if events.is_empty() {
            return Err(LedgerError::AccountNotFound(account.clone()));
        }
        let from = self.resolve(from, &events, "from_position").await?;
        let to = self.resolve(to, &events, "to_position").await?;
        Ok(explain_change(&events, from, to, &self.params))
    }

    /// Revenue concentration across every account, and the instant it was judged at.
    pub async fn portfolio(
        &self,
        query: RelationshipQuery,
    ) -> Result<(Portfolio, Timestamp), LedgerError> {
        let cut = self.cut(query).await?;
        let Some(cut) = cut.pinned(&*self.log) else {
            return Ok((concentration(Vec::new(), &self.params), cut.judged.base()));
        };
        let (revenues, as_of) = self
            .judged_walk(cut.judged, |as_of| {
                let params = self.params.clone();
                let mut folds = walk(&self.log, cut, move |account, events| {
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
                Some(cut) => walk(&log, cut, move |_, events| register(events))
                    .map_ok(stream::iter)
                    .try_flatten()
                    .boxed(),
                None => stream::empty().boxed(),
            },
        }
    }

    /// Runs `pass` as of the instant `judged` names: first as of its moment, and when that is
    /// a moment the ledger stood at and some event counted is dated after it (up to a day
    /// ahead of the clock), once more as of that event's `occurred_at`, which is then the
    /// instant (as in [`Judged::instant`]). `pass` answers with what it gathered and the newest
    /// `occurred_at` it counted; the second pass, over the same pinned cut, counts the same.
    async fn judged_walk<T, F, Fut>(
        &self,
        judged: Judged,
        pass: F,
    ) -> Result<(T, Timestamp), LedgerError>
    where
        F: Fn(Timestamp) -> Fut,
        Fut: std::future::Future<Output = Result<(T, Option<Timestamp>), LedgerError>>,
    {
        let first = judged.base();
        let (gathered, newest) = pass(first).await?;
        let as_of = judged.instant(newest);
        if as_of == first {
            return Ok((gathered, as_of));
        }
        let (gathered, _) = pass(as_of).await?;
        Ok((gathered, as_of))
    }

    /// Resolves a question into a cut, reading the record a position names.
    async fn cut(&self, query: RelationshipQuery) -> Result<Cut, LedgerError> {
        let known_at = query.known_at;
        let (max_position, judged) = match query.as_of {
            AsOf::Now => (None, Judged::NoEarlierThan(known_at.unwrap_or_else(now))),
            AsOf::Time(t) => (None, Judged::At(t)),
            AsOf::Position(p) => {
                let recorded_at = self.recorded_at(p, "as_of_position").await?;
                let moment = known_at.map_or(recorded_at, |k| k.min(recorded_at));
                (Some(p), Judged::NoEarlierThan(moment))
            }
        };
        Ok(Cut {
            max_position,
            known_at,
            judged,
        })
    }

    /// A checkpoint with its position, if any, pinned to the moment it was recorded (or the
    /// newest `occurred_at` of `events` counted by then, if later).
    async fn resolve(
        &self,
        checkpoint: Checkpoint,
        events: &[RecordedEvent],
        field: &str,
    ) -> Result<Checkpoint, LedgerError> {
        Ok(match checkpoint {
            Checkpoint::Position(position) => {
                let recorded_at = self.recorded_at(position, field).await?;
                let counted = events.iter().filter(|e| e.position <= position);
                let as_of = Judged::NoEarlierThan(recorded_at).instant(occurred(counted));
                Checkpoint::Known { position, as_of }
            }
            other => other,
        })
    }

    /// When the record at `position` was recorded; `INVALID_ARGUMENT` naming `field` when the
    /// log has no such position yet.
    async fn recorded_at(&self, position: u64, field: &str) -> Result<Timestamp, LedgerError> {
        let mut records = self.log.read_all(
            Some(position),
            Direction::Forwards,
            Some(1),
            ReadAllFilter::default(),
        );
        match records.try_next().await? {
            Some(record) if record.position == position => Ok(record.recorded_at),
            _ => Err(ValidationError::single(
                field,
                format!(
                    "position {position} is not in the log yet (it holds {} records)",
                    self.log.head().next_position
                ),
            )
            .into()),
        }
    }
}
