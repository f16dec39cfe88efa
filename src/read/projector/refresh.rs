//! Keeping the rows current as time passes: the build of the rows a restarted projector's tail
//! does not touch, then the refresher, which folds each row again when its `until` passes (see
//! `read::rows`).
//!
//! Both fold on the projector's fold thread, at its lower priority: a refresh is derived work,
//! and a question that finds a row past its instant folds it itself. A row is judged from the
//! account's kept state when the state is at the row's position; otherwise its history is read
//! from the log (or taken from the history cache when it holds it), and neither cache is
//! entered, so that a sweep over every account does not evict what live questions keep asking
//! for.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;

use super::Projector;
use crate::clock::now;
use crate::domain::projection::Params;
use crate::domain::{AccountId, RecordedEvent, Timestamp};
use crate::read::histories;
use crate::read::relationships::Judged;
use crate::read::rows::{Due, Row};
use crate::read::states::{StateAt, States};
use crate::store::{Direction, Log, StoreError};

/// How many rows one job of the fold thread refreshes or builds: enough that handing work to
/// the thread costs little beside it, few enough that a page of the projector queued behind it
/// waits a few milliseconds.
const BATCH: usize = 64;

/// The longest the refresher sleeps without looking at the schedule again: a bound on how late
/// a row is refreshed when the system clock jumps.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// An account's events up to a position: its kept state when the state is at that very
/// position and keeps every event (is not compact), else its history.
pub(crate) enum UpTo {
    /// The account's kept state (see `read::states`), taken without reading anything.
    Kept(Arc<StateAt>),
    /// The account's events, read.
    Read(Vec<RecordedEvent>),
}

/// Each account's events up to the global position beside it ([`UpTo`]; a history is read by
/// [`history_up_to`]), with the instant beside it.
pub(crate) async fn events_up_to(
    log: &dyn Log,
    histories: &histories::Histories,
    states: &States,
    accounts: Vec<(AccountId, u64, Option<Timestamp>)>,
) -> Result<Vec<(AccountId, UpTo, Option<Timestamp>)>, StoreError> {
    let mut read = Vec::with_capacity(accounts.len());
    for (account, position, at) in accounts {
        let events = match states.peek(&account) {
            // A compact state summarizes, but a row in full needs the trends' fold.
            Some(kept) if kept.position == Some(position) && !kept.state.is_compact() => {
                UpTo::Kept(kept)
            }
            _ => UpTo::Read(history_up_to(log, histories, &account, position).await?),
        };
        read.push((account, events, at));
    }
    Ok(read)
}

/// Each account's row in full ([`Row::judge_in_full`]), judged at the instant beside it (now
/// when there is none) or at its newest `occurred_at` if that is later; none for no events.
pub(crate) fn judge_each(
    accounts: Vec<(AccountId, UpTo, Option<Timestamp>)>,
    params: &Params,
) -> Vec<(AccountId, Row)> {
    let moment = now();
    accounts
        .into_iter()
        .filter_map(|(account, events, at)| {
            let state = match events {
                UpTo::Kept(state) => state,
                UpTo::Read(history) => Arc::new(StateAt::of(history, params)),
            };
            let as_of = Judged::NoEarlierThan(at.unwrap_or(moment)).instant(state.state.newest());
            Row::judge_in_full(&state, as_of, params).map(|row| (account, row))
        })
        .collect()
}

/// `account`'s events up to global position `position`, in stream order: from the history
/// cache when it holds them, else from the log without caching them.
async fn history_up_to(
    log: &dyn Log,
    cache: &histories::Histories,
    account: &AccountId,
    position: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if let Some(history) = cache.peek(account) {
        if history.last().is_some_and(|last| last.position >= position) {
            return Ok(histories::up_to(&history, position).to_vec());
        }
    }
    log.read_stream(account, None, Direction::Forwards, None)
        .try_take_while(move |r| futures::future::ready(Ok(r.position <= position)))
        .try_collect()
        .await
}

impl Projector {
    /// Builds the rows the projector's tail will not give, then refreshes rows as their
    /// instants pass, until `shutdown` completes. Errors are logged and the work retried: rows
    /// are derived data, and questions walk the log while the rows are not complete.
    pub(super) async fn keep_rows(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut retry_in = super::RETRY_FIRST;
        while self.rows.unbuilt_before().is_some() {
            let built = tokio::select! {
                _ = &mut shutdown => return,
                built = self.build_rows() => built,
            };
            match built {
                Ok(()) => break,
                Err(error) => {
                    tracing::error!(%error, retry_in = ?retry_in, "the relationship rows could not be built; retrying");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(retry_in) => {}
                    }
                    retry_in = (retry_in * 2).min(super::RETRY_MOST);
                }
            }
        }
        loop {
            let refreshed = tokio::select! {
                _ = &mut shutdown => return,
                refreshed = self.refresh_due() => refreshed,
            };
            match refreshed {
                Ok(0) => {}
                Ok(_) => continue,
                Err(error) => {
                    tracing::error!(%error, "relationship rows could not be refreshed; retrying");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(super::RETRY_FIRST) => {}
                    }
                    continue;
                }
            }
            let wait = self.rows.next_due().map_or(LONGEST_SLEEP, |due| {
                let nanos = due.unix_nanos().saturating_sub(now().unix_nanos());
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)).min(LONGEST_SLEEP)
            });
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.rows.installed() => {}
            }
        }
    }

    /// Folds a row for every account with events up to the position the projector resumed
    /// from, then marks the rows complete. Rows the projector installs meanwhile count later
    /// events and are kept.
    pub async fn build_rows(&self) -> Result<(), StoreError> {
        let Some(position) = self.rows.unbuilt_before() else {
            return Ok(());
        };
        let mut after: Option<AccountId> = None;
        loop {
            let page = self.log.accounts(after.as_ref(), BATCH).await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let accounts = page.into_iter().map(|a| (a, position, None)).collect();
            let events = events_up_to(&*self.log, &self.histories, &self.states, accounts).await?;
            self.fold_rows(events).await?;
            after = Some(last);
        }
        self.store.rows_complete().await?;
        self.rows.finish_build();
        tracing::info!(rows = self.rows.len(), "relationship rows built");
        Ok(())
    }

    /// Folds up to [`BATCH`] rows the schedule says are due (see `Rows::due`); how many.
    async fn refresh_due(&self) -> Result<usize, StoreError> {
        let due = self
            .rows
            .due(now(), BATCH)
            .into_iter()
            .map(
                |Due {
                     account,
                     position,
                     at,
                 }| (account, position, at),
            )
            .collect();
        let events = events_up_to(&*self.log, &self.histories, &self.states, due).await?;
        let count = events.len();
        self.fold_rows(events).await?;
        Ok(count)
    }

    /// Judges each account's row ([`judge_each`]) on the fold thread, installs the rows and
    /// keeps them in the store as the table now holds them.
    async fn fold_rows(
        &self,
        accounts: Vec<(AccountId, UpTo, Option<Timestamp>)>,
    ) -> Result<(), StoreError> {
        if accounts.is_empty() {
            return Ok(());
        }
        let params = self.params.clone();
        let rows = self
            .folds
            .run(move || judge_each(accounts, &params))
            .await
            .ok_or_else(|| StoreError::Unavailable("a fold of relationship rows failed".into()))?;
        let accounts: Vec<AccountId> = rows.iter().map(|(account, _)| account.clone()).collect();
        self.rows.refreshed(rows);
        let stored = self.rows.stored_of(&accounts)?;
        self.store.keep_rows(stored).await
    }
}

#[cfg(test)]
mod tests;
