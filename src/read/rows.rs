//! Kept rows: every account's relationship in brief (quadrant, level, grade, score, alerts,
//! revenue, owner), kept current by the live projector, so that a list of relationships or the
//! portfolio "now" is read from memory instead of folding every account's history.
//!
//! A row is judged at an instant and holds until its
//! [`stable_until`](crate::domain::projection::stable_until): between the two, projecting the
//! same events gives the same answer but for its `as_of`. So a row answers for any instant in
//! `as_of..until` as long as no event is appended to its account. Two things make a row
//! stale, and each has its keeper:
//!
//! - **an append**: the projector folds every account its page touches and installs the row
//!   with the page (see [`Rows::install`]); the table's position is the projector's, so the
//!   rows are always one state of the log;
//! - **time**: the rows are scheduled by `until`, and the projector's refresher folds each row
//!   again when its instant passes ([`Rows::due`]); a question that finds a row past its
//!   instant before the refresher got to it folds that one itself.
//!
//! The snapshot store keeps every row too (`stored`): a page's in its commit, a refreshed one as
//! the refresher folds it. After a restart the projector resumes from its checkpoint with the
//! rows it stored ([`Rows::restored`]); the refresher folds again those whose instant passed
//! meanwhile. When the store's rows are not complete (a store written before rows were kept),
//! the rows of accounts the projector's tail does not touch are folded once by a build over
//! every account ([`Rows::finish_build`]); until that is done the rows are not used, and a
//! question walks the log as it always could.
//!
//! A row is under a kilobyte (the summary, the owner, the brief a list shows, its place in the
//! schedule), whatever its account's history but for the event ids its alerts cite.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::domain::projection::{Params, RelationshipBrief, RelationshipSummary};
use crate::domain::{AccountId, Timestamp};
use crate::read::states::StateAt;

/// One account's relationship in brief, judged at `summary.as_of`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What the change feed also reports: quadrant, level, grade, score, alerts, revenue;
    /// `position` is the account's last event counted.
    pub summary: RelationshipSummary,
    /// The owning salesperson, which lists filter on.
    pub owner: String,
    /// The first instant the row may no longer hold.
    pub until: Timestamp,
    /// The newest `occurred_at` of the events counted: a live question is judged no earlier.
    pub newest: Timestamp,
    /// What a list shows of the relationship, when the fold worked it out (the refresher's
    /// and the build's do; the projector's pages leave it out, as they leave out trends).
    pub brief: Option<Arc<RelationshipBrief>>,
}

impl Row {
    /// The row of the events `at` read, judged at `as_of` (no earlier than the newest of them),
    /// without its brief (see [`Row::judge_in_full`]); `None` for no events.
    pub fn judge(at: &StateAt, as_of: Timestamp, params: &Params) -> Option<Row> {
        let state = &at.state;
        let summary = state.summarize(at.position?, state.last_event()?, as_of, params)?;
        Row::of(at, summary, as_of, None)
    }

    /// [`Row::judge`] with the brief a list shows, which takes the trends' second fold.
    pub fn judge_in_full(at: &StateAt, as_of: Timestamp, params: &Params) -> Option<Row> {
        let state = &at.state;
        let projection = state.project_unexplained(as_of, params)?;
        let account = state.account()?;
        let (position, event) = (at.position?, state.last_event()?);
        let summary = RelationshipSummary::of(account, position, event, &projection);
        let brief = Arc::new(RelationshipBrief::of(&projection));
        Row::of(at, summary, as_of, Some(brief))
    }

    fn of(
        at: &StateAt,
        summary: RelationshipSummary,
        as_of: Timestamp,
        brief: Option<Arc<RelationshipBrief>>,
    ) -> Option<Row> {
        let state = &at.state;
        Some(Row {
            summary,
            owner: state.profile().owner.clone(),
            until: state.stable_until(as_of),
            newest: state.newest()?,
            brief,
        })
    }

    /// Whether the row answers for instant `t`.
    pub fn holds_at(&self, t: Timestamp) -> bool {
        self.summary.as_of <= t && t < self.until
    }

    /// The position of the account's last event counted.
    pub fn position(&self) -> u64 {
        self.summary.position
    }
}

/// How far ahead of a row's end the refresher folds the row that follows it, so that a row
/// is ready when its instant comes even when many end at once (every row has an instant at
/// midnight UTC): a list then finds every row holding, and folds none itself.
pub const AHEAD: Duration = Duration::from_secs(120);

/// An account's row, and the one that follows it once folded ahead.
#[derive(Debug, Clone)]
struct Kept {
    row: Row,
    /// The same events judged at an instant after `row.until`.
    next: Option<Row>,
}

impl Kept {
    /// The row that answers for `t`, if either does.
    fn at(&self, t: Timestamp) -> Option<&Row> {
        std::iter::once(&self.row)
            .chain(self.next.as_ref())
            .find(|row| row.holds_at(t))
    }

    /// When the refresher has work here: [`AHEAD`] of the row's end, or, once the next row is
    /// folded, when it takes over (to fold the one after it). A row judged less than [`AHEAD`]
    /// ago waits until it is that old: its account has just moved and is likely to move again,
    /// and the projector's next page replaces its row anyway. Without that wait an account
    /// appended to all the time was folded twice per page (a long history's row ends within
    /// seconds, every event's time of day being one of its instants).
    fn due(&self) -> Timestamp {
        let ahead = i64::try_from(AHEAD.as_nanos()).unwrap_or(i64::MAX);
        match &self.next {
            None => self
                .row
                .until
                .plus_nanos(-ahead)
                .max(self.row.summary.as_of.plus_nanos(ahead)),
            Some(next) => next.summary.as_of.max(next.until.plus_nanos(-ahead)),
        }
    }
}

/// The rows and their schedule.
#[derive(Default)]
struct Table {
    rows: BTreeMap<AccountId, Kept>,
    /// Every account by when the refresher has work on its row ([`Kept::due`]).
    schedule: BTreeSet<(Timestamp, AccountId)>,
    /// The log position every row reflects (the projector's progress).
    position: Option<u64>,
    /// Rows of accounts the projector has not touched since its checkpoint at this position
    /// are still to be built; `None` once they are.
    unbuilt_before: Option<u64>,
}

impl Table {
    /// Puts `row` in unless the account's row counts a later event already. A row of the same
    /// events judged after the kept one ends follows it; one judged earlier replaces it.
    fn put(&mut self, account: AccountId, row: Row) {
        let kept = match self.rows.remove(&account) {
            None => Kept { row, next: None },
            Some(held) => {
                self.schedule.remove(&(held.due(), account.clone()));
                if held.row.position() > row.position() {
                    held
                } else if held.row.position() < row.position() {
                    Kept { row, next: None }
                } else if row.summary.as_of >= held.row.until {
                    Kept {
                        row: held.row,
                        next: Some(row),
                    }
                } else {
                    let next = held.next.filter(|next| next.summary.as_of >= row.until);
                    Kept { row, next }
                }
            }
        };
        self.schedule.insert((kept.due(), account.clone()));
        self.rows.insert(account, kept);
    }

    /// The position the rows answer for, once every account has its row.
    fn usable(&self) -> Option<u64> {
        match self.unbuilt_before {
            Some(_) => None,
            None => self.position,
        }
    }
}

/// A row the refresher is to fold: the account, the position of its last event, and the
/// instant to judge it at (`None`: now, its row has ended already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The account.
    pub account: AccountId,
    /// Its last event's position.
    pub position: u64,
    /// The instant to judge at: just after the current row ends; `None` for now.
    pub at: Option<Timestamp>,
}

/// The rows as one state of the log, for a question to read under the table's lock.
pub struct Answering<'a> {
    table: &'a Table,
}

impl Answering<'_> {
    /// Every account with its row and the next one, in account id order.
    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, Judgeable<'_>)> {
        self.table
            .rows
            .iter()
            .map(|(account, kept)| (account, Judgeable { kept }))
    }
}

/// One account's kept rows.
pub struct Judgeable<'a> {
    kept: &'a Kept,
}

impl Judgeable<'_> {
    /// The row that answers for `t`, if one does.
    pub fn at(&self, t: Timestamp) -> Option<&Row> {
        self.kept.at(t)
    }

    /// The newest `occurred_at` of the account's events.
    pub fn newest(&self) -> Timestamp {
        self.kept.row.newest
    }

    /// The position of the account's last event.
    pub fn position(&self) -> u64 {
        self.kept.row.position()
    }
}

/// The kept rows (see the module docs), shared by the projector that keeps them and the
/// relationships service that answers from them.
pub struct Rows {
    table: RwLock<Table>,
    /// The position the rows answer for, once they are complete (see [`Table::usable`]).
    usable: watch::Sender<Option<u64>>,
    /// Woken when a row is installed, whose instant may be sooner than the refresher's wait.
    installed: Notify,
}

impl Rows {
    /// Rows for a projector at `position` (`None`: at the start of the log). When it resumes
    /// from a checkpoint, the accounts it will not touch have no row until a build gives them
    /// one ([`Rows::finish_build`]).
    pub fn new(position: Option<u64>) -> Self {
        Rows::of(Table {
            position,
            unbuilt_before: position,
            ..Table::default()
        })
    }

    fn of(table: Table) -> Self {
        let (usable, _) = watch::channel(table.usable());
        Rows {
            table: RwLock::new(table),
            usable,
            installed: Notify::new(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        // Every change to the table leaves it consistent.
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, table: &Table) {
        self.usable.send_replace(table.usable());
    }

    /// Installs the rows of a projector's page, which reflects the log up to `position`.
    pub fn install(&self, rows: Vec<(AccountId, Row)>, position: u64) {
        let mut table = self.write();
        for (account, row) in rows {
            table.put(account, row);
        }
        table.position = Some(table.position.map_or(position, |p| p.max(position)));
        self.publish(&table);
        drop(table);
        self.installed.notify_one();
    }

    /// Installs rows a build or a refresh folded, each unless the account's row counts a later
    /// event by now.
    pub fn refreshed(&self, rows: Vec<(AccountId, Row)>) {
        let mut table = self.write();
        for (account, row) in rows {
            table.put(account, row);
        }
        drop(table);
        self.installed.notify_one();
    }

    /// The position up to which a build must fold the accounts the projector will not touch;
    /// `None` when there is nothing to build.
    pub fn unbuilt_before(&self) -> Option<u64> {
        self.read().unbuilt_before
    }

    /// Whether every account has its row (the build is done, or there was none to do).
    pub fn is_built(&self) -> bool {
        self.read().unbuilt_before.is_none()
    }

    /// Marks the build done: every account has its row.
    pub fn finish_build(&self) {
        let mut table = self.write();
        table.unbuilt_before = None;
        self.publish(&table);
    }

    /// Up to `limit` rows the refresher is to fold by `now`, soonest first. A next row whose
    /// instant has come takes over first.
    pub fn due(&self, now: Timestamp, limit: usize) -> Vec<Due> {
        let mut table = self.write();
        let mut due = Vec::new();
        let mut pending: Vec<(Timestamp, AccountId)> = Vec::new();
        while due.len() < limit {
            let Some(first) = table.schedule.first().cloned() else {
                break;
            };
            if first.0 > now {
                break;
            }
            table.schedule.remove(&first);
            let Some(kept) = table.rows.get_mut(&first.1) else {
                continue;
            };
            if let Some(next) = kept.next.take_if(|next| next.summary.as_of <= now) {
                kept.row = next;
            }
            let at = (kept.row.until > now).then(|| kept.row.until.plus_nanos(1));
            if kept.next.is_none() {
                due.push(Due {
                    account: first.1.clone(),
                    position: kept.row.position(),
                    at,
                });
            }
            // Back in the schedule; the fold's row, when it lands, moves it on.
            pending.push((kept.due(), first.1));
        }
        table.schedule.extend(pending);
        due
    }

    /// The soonest instant the refresher has work.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.read().schedule.first().map(|(due, _)| *due)
    }

    /// Waits until a row is installed (its instant may come before the one waited for).
    pub async fn installed(&self) {
        self.installed.notified().await
    }

    /// Waits, at most `within`, until every account has its row and the rows reflect the log
    /// at least up to `position`; the position they reflect then.
    pub async fn reach(&self, position: u64, within: Duration) -> Option<u64> {
        let mut usable = self.usable.subscribe();
        let reached = tokio::time::timeout(
            within,
            usable.wait_for(|usable| usable.is_some_and(|p| p >= position)),
        )
        .await;
        match reached {
            Ok(Ok(usable)) => *usable,
            _ => None,
        }
    }

    /// Runs `look` over the rows and the position they reflect, under one lock, so that what
    /// it sees is one state of the log.
    pub fn at<T>(&self, look: impl FnOnce(&Answering<'_>) -> T) -> (u64, T) {
        let table = self.read();
        let position = table.position.unwrap_or(0);
        (position, look(&Answering { table: &table }))
    }

    /// `account`'s brief as of `t` over the log up to `position`, when its kept row answers for
    /// that (it holds at `t` and counts no event after `position`) and has a brief; re-dated to
    /// `t`, which is what a fold at `t` would give.
    pub fn brief_at(
        &self,
        account: &AccountId,
        t: Timestamp,
        position: u64,
    ) -> Option<RelationshipBrief> {
        let table = self.read();
        let row = table.rows.get(account)?.at(t)?;
        if row.position() > position {
            return None;
        }
        let mut brief = RelationshipBrief::clone(row.brief.as_ref()?);
        brief.as_of = t;
        Some(brief)
    }

    /// Gives `account`'s row that answers for `t` and counts the account's events up to
    /// `position` exactly `brief`, a fold of those events at `t`, when it has none: a row holds
    /// from its `as_of` to its `until`, so the brief re-dated is the row's at any instant of it
    /// ([`Rows::brief_at`]).
    pub fn add_brief(
        &self,
        account: &AccountId,
        t: Timestamp,
        position: u64,
        brief: &RelationshipBrief,
    ) {
        let mut table = self.write();
        let Some(kept) = table.rows.get_mut(account) else {
            return;
        };
        let row = std::iter::once(&mut kept.row)
            .chain(kept.next.as_mut())
            .find(|row| row.holds_at(t));
        if let Some(row) = row.filter(|row| row.position() == position && row.brief.is_none()) {
            row.brief = Some(Arc::new(brief.clone()));
        }
    }

    /// How many rows are kept.
    pub fn len(&self) -> usize {
        self.read().rows.len()
    }

    /// Whether no row is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod stored;

#[cfg(test)]
mod tests;
