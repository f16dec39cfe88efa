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
//! After a restart the projector resumes from its checkpoint, and the rows of accounts its tail
//! does not touch are folded once by a build over every account ([`Rows::finish_build`]); until
//! that is done the rows are not used, and a question walks the log as it always could.
//!
//! A row is about 300 bytes (the summary, the owner, its place in the schedule), whatever its
//! account's history: 30 MB at 100,000 accounts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::domain::projection::{
    stable_until, summarize, AccountProfile, Params, RelationshipSummary,
};
use crate::domain::{AccountId, RecordedEvent, Timestamp};

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
}

impl Row {
    /// The row of `account` whose events (in stream order, none left out up to the last) are
    /// `history`, judged at `as_of`; `None` for no events.
    pub fn judge(
        account: &AccountId,
        history: &[RecordedEvent],
        as_of: Timestamp,
        params: &Params,
    ) -> Option<Row> {
        let last = history.last()?;
        let newest = history
            .iter()
            .map(|r| r.event.occurred_at)
            .max()
            .unwrap_or(Timestamp::EPOCH);
        Some(Row {
            summary: summarize(
                account,
                last.position,
                last.event.event_id,
                history,
                as_of,
                params,
            ),
            owner: AccountProfile::read(history).owner,
            until: stable_until(history, as_of),
            newest,
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

/// The rows and their schedule.
#[derive(Default)]
struct Table {
    rows: BTreeMap<AccountId, Row>,
    /// Every row by the instant it may stop holding.
    schedule: BTreeSet<(Timestamp, AccountId)>,
    /// The log position every row reflects (the projector's progress).
    position: Option<u64>,
    /// Rows of accounts the projector has not touched since its checkpoint at this position
    /// are still to be built; `None` once they are.
    unbuilt_before: Option<u64>,
}

impl Table {
    /// Puts `row` in unless the account's row counts a later event already.
    fn put(&mut self, account: AccountId, row: Row) -> bool {
        if let Some(held) = self.rows.get(&account) {
            if held.position() > row.position() {
                return false;
            }
            self.schedule.remove(&(held.until, account.clone()));
        }
        self.schedule.insert((row.until, account.clone()));
        self.rows.insert(account, row);
        true
    }

    /// The position the rows answer for, once every account has its row.
    fn usable(&self) -> Option<u64> {
        match self.unbuilt_before {
            Some(_) => None,
            None => self.position,
        }
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
        let table = Table {
            position,
            unbuilt_before: position,
            ..Table::default()
        };
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

    /// Up to `limit` accounts whose rows stop holding by `now`, soonest first, with the
    /// position of each row.
    pub fn due(&self, now: Timestamp, limit: usize) -> Vec<(AccountId, u64)> {
        let table = self.read();
        table
            .schedule
            .iter()
            .take_while(|(until, _)| *until <= now)
            .take(limit)
            .filter_map(|(_, account)| {
                let row = table.rows.get(account)?;
                Some((account.clone(), row.position()))
            })
            .collect()
    }

    /// The soonest instant a row stops holding.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.read().schedule.first().map(|(until, _)| *until)
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
    pub fn at<T>(&self, look: impl FnOnce(u64, &BTreeMap<AccountId, Row>) -> T) -> (u64, T) {
        let table = self.read();
        let position = table.position.unwrap_or(0);
        (position, look(position, &table.rows))
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

#[cfg(test)]
mod tests;
