//! The live projector: follows the log and keeps, for every account, the summary of its
//! relationship (quadrant, level, grade, alerts) as it stood when each of its events was
//! recorded.
//!
//! It runs beside the server, never on the append's path: appends are acknowledged by the log,
//! and the projector catches up when the committed head moves. Queries do not wait for it:
//! `Relationships` folds projections from the log itself, so a read after an append always
//! sees it. What the projector adds is memory between events: each account's state before the
//! next event, so the change feed can say what an event changed, and a checkpoint
//! ([`SnapshotStore`]) so that a restart replays only the tail of the log.
//!
//! Each summary is exactly the one `Relationships::get` gives as of the event's position: the
//! account's events up to it, judged when it was recorded (or at the newest `occurred_at`
//! counted, if later). A property test holds the two equal.
//!
//! Cost: one fold per account per page of the log (see `project_page`), so a burst of appends
//! to one account costs a fold per page, not per event. A fold is of the account's whole
//! history, so its cost grows with the stream; to keep that from growing the cost of every
//! append, the projector paces itself while it keeps up (see [`pace_after`]): once the head
//! moves it waits a multiple of what its last page took before it reads the next, and the
//! appends that arrive meanwhile are judged in one page, and after a full page it waits the
//! same way unless it is far behind ([`next_step`]). Its share of a core while appends stream
//! in is then bounded (about `1 / (PACE_DUTY + 1)`) whatever the streams' lengths, and what
//! grows with them is how long a change takes to reach the change feed.

mod fold_thread;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use futures::TryStreamExt;
use tokio::sync::{broadcast, watch};

pub use crate::domain::projection::RelationshipChange;
use crate::domain::projection::{summarize, Params, RelationshipSummary};
use crate::domain::{AccountId, RecordedEvent};
use crate::read::histories::{self, Histories, DEFAULT_BUDGET};
use crate::read::relationships::{occurred, Judged};
use crate::store::{Direction, Log, ReadAllFilter, SnapshotPosition, SnapshotStore, StoreError};
use fold_thread::FoldThread;

/// How many records the projector reads and commits at a time. Each account a page touches is
/// folded once, over its whole history, so under a burst of appends a larger page means fewer
/// folds per event (the projector was a fifth of the server's CPU at 64 append clients with
/// pages of 256); when it keeps up, a page holds what was appended in one pacing interval
/// (see [`pace_after`]): at 15,000 appends per second and a pace of half a second, 7,500.
/// Under sustained appends to long streams a page's folds take longer than its pace (each is
/// of a whole history), so the page must hold more than a second of appends or the projector
/// falls behind and refolds every account once per page back to back, taking a core from the
/// writers (docs/decisions/0012-projector-pages-of-65536-records.md). A page's records are held
/// while it is folded (about 40 MB at most), most of them moving into the account histories the
/// page extends.
const PAGE: u64 = 65_536;

/// How far behind the head (in records) the projector may fall while it paces itself before
/// it stops pacing and catches up at full speed (see [`next_step`]): a bound on how stale the
/// change feed and the checkpoint get when appends come faster than a paced projector folds.
const PACED_BACKLOG: u64 = 4 * PAGE;

/// What the projector does after a page (see [`next_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read the next page at once: catching up.
    Next,
    /// Wait [`pace_after`] the page's duration, then read the next page: there is more, but
    /// the projector keeps up, and what is appended meanwhile joins that page.
    PaceThenNext,
    /// Wait for the head to move, then [`pace_after`] the page's duration: at the head.
    AwaitHead,
}

/// What follows a page of `projected` records, when `live` (the projector has reached the head
/// since it started or since it last fell [`PACED_BACKLOG`] behind) and `backlog` records remain
/// past it.
///
/// A full page is not in itself a reason to hurry: under a steady stream of appends a paced
/// projector finds a full page after every wait, and without pacing it then refolded every
/// account for every 1,024 records, half of a core at 64 append clients. It catches up at full
/// speed only when it starts behind (a restart) or falls [`PACED_BACKLOG`] behind.
pub fn next_step(projected: u64, live: bool, backlog: u64) -> Step {
    if projected < PAGE {
        Step::AwaitHead
    } else if live && backlog <= PACED_BACKLOG {
        Step::PaceThenNext
    } else {
        Step::Next
    }
}

/// While it keeps up, the projector waits this many times as long as its last page took
/// before it reads the next one (see [`pace_after`]), so it spends at most about a tenth of
/// the time projecting.
pub const PACE_DUTY: u32 = 9;
/// The shortest such wait: even pages of cheap folds let a burst of appends gather, so that
/// a hot account is not refolded once per append.
pub const PACE_LEAST: std::time::Duration = std::time::Duration::from_millis(1);
/// The longest such wait: a bound on how far the change feed lags behind the log on account
/// of pacing, for accounts whose fold takes longer than a tenth of it.
pub const PACE_MOST: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the projector waits, after the head moves, before it reads the next page, given
/// that its last page (read, folds and commit) took `last_page`: [`PACE_DUTY`] times that,
/// within [`PACE_LEAST`]..=[`PACE_MOST`].
///
/// Why: a fold is of the account's whole history. Without a wait, a projector that keeps up
/// reads each append as a page of its own and refolds the account for it, so with one client
/// appending to one stream its cost per append grows with the stream, on the cores the
/// appends need (it was a fifth of the server's CPU at 64 clients, and most of a core at one).
/// With the wait, the appends that arrive meanwhile share one fold: the longer the fold, the
/// more of them.
pub fn pace_after(last_page: std::time::Duration) -> std::time::Duration {
    last_page
        .saturating_mul(PACE_DUTY)
        .clamp(PACE_LEAST, PACE_MOST)
}

/// The first wait before a failed page is projected again when the log does not move.
pub const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
/// The longest wait between two attempts at a failing page.
pub const RETRY_MOST: std::time::Duration = std::time::Duration::from_secs(30);

/// How many changes a slow change-feed receiver may fall behind before it is told it lagged.
const CHANGE_BUFFER: usize = 1024;

/// The live projector over a log, checkpointed in a snapshot store.
pub struct Projector {
    /// The event log it follows.
    log: Arc<dyn Log>,
    /// Its checkpoint.
    store: Arc<dyn SnapshotStore>,
    /// The scoring rules; a checkpoint made with others is discarded.
    params: Params,
    /// Every change, as it is found; receivers that fall too far behind are told they lagged.
    changes: broadcast::Sender<RelationshipChange>,
    /// The last position reflected in the checkpoint (`None`: none yet).
    progress: watch::Sender<Option<u64>>,
    /// Recently used account histories, so a page does not reread them from the log; shared
    /// with the relationships service (see [`Projector::histories`]).
    histories: Arc<Histories>,
    /// Where the page's folds run, at a lower CPU priority than the request path.
    folds: FoldThread,
}

impl Projector {
    /// A projector resuming from `store`'s checkpoint, or from position 0 when there is none
    /// or it was made with other scoring rules.
    pub async fn open(
        log: Arc<dyn Log>,
        store: Arc<dyn SnapshotStore>,
        params: Params,
    ) -> Result<Projector, StoreError> {
        let resumed = match store.position().await? {
            Some(checkpoint) if checkpoint.params_version == params.params_version => {
                Some(checkpoint.position)
            }
            Some(checkpoint) => {
                tracing::info!(
                    stored = %checkpoint.params_version,
                    current = %params.params_version,
                    "the projection checkpoint was made with other scoring rules; rebuilding"
                );
                store.clear().await?;
                None
            }
            None => None,
        };
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let (progress, _) = watch::channel(resumed);
        let log_for_histories = Arc::clone(&log);
        Ok(Projector {
            log,
            store,
            params,
            changes,
            progress,
            histories: Arc::new(Histories::new(log_for_histories, DEFAULT_BUDGET)),
            folds: FoldThread::start().map_err(|e| {
                StoreError::Unavailable(format!("cannot start the projector's fold thread: {e}"))
            })?,
        })
    }

    /// The account histories the projector keeps in memory, for the relationships service to
    /// answer from the same decoded records.
    pub fn histories(&self) -> Arc<Histories> {
        Arc::clone(&self.histories)
    }

    /// Follows the position reflected in the checkpoint.
    pub fn progress(&self) -> watch::Receiver<Option<u64>> {
        self.progress.subscribe()
    }

    /// Receives every change found from now on.
    pub fn changes(&self) -> broadcast::Receiver<RelationshipChange> {
        self.changes.subscribe()
    }

    /// The checkpoint's summaries.
    pub fn store(&self) -> &Arc<dyn SnapshotStore> {
        &self.store
    }

    /// Projects every committed record not yet reflected; returns how many it projected.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let mut projected = 0;
        loop {
            let done = self.project_page().await?;
            if done == 0 {
                return Ok(projected);
            }
            projected += done;
        }
    }

    /// Catches up, then again whenever the log's head moves, until `shutdown` completes; a
    /// page in progress is abandoned at shutdown (nothing of it is committed, and the next
    /// start projects it again). An error is logged and the page retried when the head next
    /// moves or after a backoff (from [`RETRY_FIRST`], doubling up to [`RETRY_MOST`]),
    /// whichever comes first: projections are derived data, and a failed page is simply
    /// projected again, but a quiet log must not leave them stuck behind it.
    ///
    /// After a page that reached the head, the next one is read [`pace_after`] the last page's
    /// duration after the head moves, so that the appends of that interval are judged
    /// together; after a full page, [`next_step`] says whether to pace or catch up at once.
    pub async fn run(
        &self,
        mut head: watch::Receiver<crate::store::LogHead>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut retry_in = RETRY_FIRST;
        let mut pace = PACE_LEAST;
        // Whether it has reached the head since it started (or last fell far behind).
        let mut live = false;
        loop {
            let started = std::time::Instant::now();
            let page = tokio::select! {
                _ = &mut shutdown => return,
                page = self.project_page() => page,
            };
            let retry = match page {
                Ok(projected) => {
                    retry_in = RETRY_FIRST;
                    let next = self.progress.borrow().map_or(0, |p| p + 1);
                    let backlog = head.borrow().next_position.saturating_sub(next);
                    let step = next_step(projected, live, backlog);
                    live = step != Step::Next;
                    if projected > 0 {
                        pace = pace_after(started.elapsed());
                    }
                    match step {
                        Step::Next => continue,
                        Step::PaceThenNext => {
                            tokio::select! {
                                _ = &mut shutdown => return,
                                _ = tokio::time::sleep(pace) => continue,
                            }
                        }
                        Step::AwaitHead => None,
                    }
                }
                Err(error) => {
                    tracing::error!(%error, retry_in = ?retry_in, "the projector could not project a page; retrying");
                    let wait = retry_in;
                    retry_in = (retry_in * 2).min(RETRY_MOST);
                    Some(wait)
                }
            };
            let backoff = async {
                match retry {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            let moved = tokio::select! {
                _ = &mut shutdown => return,
                moved = head.changed() => if moved.is_err() { return } else { true },
                _ = backoff => false,
            };
            if moved {
                // Let the appends that follow this one join its page (see `pace_after`).
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(pace) => {}
                }
            }
        }
    }

    /// Projects the next page of records; returns how many.
    ///
    /// Each account the page touches is folded once, as of its last event in the page: the
    /// cost of a page is one fold per account, however many of its events the page holds. When
    /// the projector keeps up and appends come one at a time, a page is one append and every
    /// event is judged on its own; when appends come faster than its pacing interval, or when it
    /// catches up, an account's events in one page are judged together, and a change names the
    /// last of them (`after.position`) and the first (`first_position`).
    async fn project_page(&self) -> Result<u64, StoreError> {
        let from = self.progress.borrow().map_or(0, |p| p + 1);
        // Sized at once for what the head says is there: collected by doubling, a full page
        // was copied over and over into fresh memory (perf: page faults).
        let expected = self.log.head().next_position.saturating_sub(from).min(PAGE);
        let mut page = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        let mut records = self.log.read_all(
            Some(from),
            Direction::Forwards,
            Some(PAGE),
            ReadAllFilter::default(),
        );
        while let Some(record) = records.try_next().await? {
            page.push(record);
        }
        let Some(last) = page.last().map(|r| r.position) else {
            return Ok(0);
        };
        let projected = page.len() as u64;
        // Each account's records in the page, in order, moved out of it (those that extend the
        // shared history become part of it without a copy), into vectors made their final size
        // at once: grown by doubling, a page's records were copied several times over into
        // fresh memory (perf: page faults).
        let mut counts: HashMap<&AccountId, usize> = HashMap::new();
        for record in &page {
            *counts.entry(&record.account_id).or_default() += 1;
        }
        let mut touched: BTreeMap<AccountId, Vec<RecordedEvent>> = counts
            .into_iter()
            .map(|(account, count)| (account.clone(), Vec::with_capacity(count)))
            .collect();
        for record in page {
            if let Some(records) = touched.get_mut(&record.account_id) {
                records.push(record);
            }
        }
        // The histories first (they may read the log), then every fold of the page at once on
        // the fold thread: a fold of a long history takes milliseconds of CPU, and on a tokio
        // worker it would hold up the gRPC requests queued behind it (see `fold_thread`).
        let mut folds = Vec::with_capacity(touched.len());
        for (account, records) in touched {
            // The account's last record in the page (the fold is as of it), and its first.
            let (Some(first), Some(latest)) = (records.first(), records.last()) else {
                continue;
            };
            let first_position = first.position;
            let (position, recorded_at, event_id) =
                (latest.position, latest.recorded_at, latest.event.event_id);
            let history = self
                .histories
                .history(&account, records, Some(position))
                .await?;
            let counted = histories::up_to(&history, position).len();
            if counted == 0 || history[counted - 1].position != position {
                return Err(StoreError::Corrupt(format!(
                    "the stream of {account} does not hold position {position}, which the log \
                     gives it"
                )));
            }
            folds.push(Fold {
                account,
                position,
                recorded_at,
                event_id,
                first_position,
                history,
                counted,
            });
        }
        let params = self.params.clone();
        let judged = self
            .folds
            .run(move || {
                folds
                    .into_iter()
                    .map(|fold| (fold.judge(&params), fold.first_position))
                    .collect::<Vec<_>>()
            })
            .await
            .ok_or_else(|| {
                StoreError::Unavailable("a fold of the projector's page failed".to_string())
            })?;
        let mut summaries = Vec::with_capacity(judged.len());
        let mut changes = Vec::new();
        for (after, first_position) in judged {
            let before = self.store.summary(&after.account_id).await?;
            if after.is_news_after(before.as_ref()) {
                changes.push(RelationshipChange {
                    before,
                    after: after.clone(),
                    first_position,
                });
            }
            summaries.push(after);
        }
        let position = SnapshotPosition {
            position: last,
            params_version: self.params.params_version.to_string(),
        };
        self.store
            .commit(summaries, changes.clone(), position)
            .await?;
        self.progress.send_replace(Some(last));
        for change in changes {
            // No receiver is not an error: the change feed may have no subscriber.
            let _ = self.changes.send(change);
        }
        Ok(projected)
    }
}

/// One account's fold of a page: its events up to the last of them in the page.
struct Fold {
    account: AccountId,
    /// The account's last event in the page: its position, when it was recorded, its id.
    position: u64,
    recorded_at: crate::domain::Timestamp,
    event_id: crate::domain::EventId,
    /// The position of the account's first event in the page.
    first_position: u64,
    /// The account's history, at least up to `position`.
    history: Arc<Vec<RecordedEvent>>,
    /// How many of its events are at `position` or before.
    counted: usize,
}

impl Fold {
    /// The account's summary as of its last event in the page, judged when that event was
    /// recorded (or at the newest `occurred_at` counted, if later): what `Relationships::get`
    /// answers as of that position.
    fn judge(&self, params: &Params) -> RelationshipSummary {
        let history = &self.history[..self.counted];
        let as_of = Judged::NoEarlierThan(self.recorded_at).instant(occurred(history.iter()));
        summarize(
            &self.account,
            self.position,
            self.event_id,
            history,
            as_of,
            params,
        )
    }
}

#[cfg(test)]
mod tests;
