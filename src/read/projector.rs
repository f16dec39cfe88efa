//! The live projector: follows the log and keeps, for every account, the summary of its
//! relationship (quadrant, level, grade, alerts) as it stood when each of its events was
//! recorded.
//!
//! It runs beside the server, never on the append's path: appends are acknowledged by the log,
//! and the projector catches up when the committed head moves. Single-account questions do not
//! wait for it: `Relationships` folds them from the log itself, so a read after an append always
//! sees it. What the projector adds is memory between events: each account's state before the
//! next event, so the change feed can say what an event changed, and a checkpoint
//! ([`SnapshotStore`]) so that a restart replays only the tail of the log. It also keeps every
//! account's row as of now (`read::rows`, refreshed in `refresh`), which lists and the
//! portfolio "now" are answered from: those questions nudge it past its pacing and wait until
//! its rows reach the head they found.
//!
//! Each summary is exactly the one `Relationships::get` gives as of the event's position: the
//! account's events up to it, judged when it was recorded (or at the newest `occurred_at`
//! counted, if later). A property test holds the two equal.
//!
//! Cost: one summary per account per page of the log (see `project_page`), so a burst of
//! appends to one account costs a summary per page, not per event. The account's state is
//! advanced by the page's events (`read::states`), and its summary still walks part of what the
//! state keeps (promises, cadence), so its cost grows with the stream; to keep that from growing
//! the cost of every append, the projector paces itself while it keeps up (see [`pace_after`]):
//! once the head moves it waits a multiple of what its last page took before it reads the next,
//! and the appends that arrive meanwhile are judged in one page, and after a full page it waits
//! the same way unless it is far behind ([`next_step`]). The multiple grows with the share of a
//! page's accounts that the page before folded too: up to [`PACE_DUTY`] when the same accounts
//! are appended to again and again, whose share of a core is then bounded (about
//! `1 / (PACE_DUTY + 1)`) whatever the streams' lengths; once the page when appends are spread
//! over accounts not folded lately, where a wait would merge no fold and only delay the change
//! feed.
//!
//! What one page does (read, fold, commit) is in `page`; when the next is read (the live loop,
//! its pacing and retries) in `pacing`; the rows' build and refresher in `refresh`; where the
//! folds run in `fold_thread`.

mod fold_thread;
mod pacing;
mod page;
mod refresh;

use std::sync::Arc;

use tokio::sync::{broadcast, watch, Notify};

use crate::domain::projection::Params;
pub use crate::domain::projection::RelationshipChange;
use crate::domain::AccountId;
use crate::read::histories::{Histories, DEFAULT_BUDGET};
use crate::read::relationships::Relationships;
use crate::read::rows::Rows;
use crate::read::states::{self, States};
use crate::store::{Log, SnapshotStore, StoreError};
use fold_thread::FoldThread;
pub use pacing::{
    next_step, pace_after, pace_left, page_work, Step, PACE_DUTY, PACE_LEAST, PACE_MOST,
    RETRY_FIRST, RETRY_MOST,
};
pub(crate) use refresh::{events_up_to, judge_each};

/// How many records the projector reads and commits at a time. Each account a page touches is
/// summarized once, over every event its state keeps, so under a burst of appends a larger
/// page means fewer summaries per event (the projector was a fifth of the server's CPU at 64 append clients with
/// pages of 256); when it keeps up, a page holds what was appended in one pacing interval
/// (see [`pace_after`]): at 15,000 appends per second and a pace of half a second, 7,500.
/// Under sustained appends to long streams a page's summaries take longer than its pace (each
/// is evaluated over every event of its account), so the page must hold more than a second of appends or the projector
/// falls behind and refolds every account once per page back to back, taking a core from the
/// writers (docs/decisions/0012-projector-pages-of-65536-records.md). A page's records are held
/// while it is folded (about 40 MB at most), most of them moving into the account states the
/// page advances.
const PAGE: u64 = 65_536;

/// How far behind the head (in records) the projector may fall while it paces itself before
/// it stops pacing and catches up at full speed (see [`next_step`]): a bound on how stale the
/// change feed and the checkpoint get when appends come faster than a paced projector folds.
const PACED_BACKLOG: u64 = 4 * PAGE;

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
    /// Recently used account histories, which the rows' build and refresher read; shared
    /// with the relationships service (see [`Projector::histories`]).
    histories: Arc<Histories>,
    /// Recently used accounts' states, which each page advances by its events instead of
    /// folding histories again; shared with the relationships service (see
    /// [`Projector::states`]).
    states: Arc<States>,
    /// Where the page's folds run, at a lower CPU priority than the request path.
    folds: FoldThread,
    /// Every account's relationship in brief as of now (see `read::rows`).
    rows: Arc<Rows>,
    /// Asks the projector to read its next page without pacing itself: a question is waiting
    /// for the rows to reach the head.
    nudge: Arc<Notify>,
    /// The accounts the last page folded, in account order: how many the next page folds again
    /// sets the pace (see [`pace_after`]).
    folded_last: std::sync::Mutex<Vec<AccountId>>,
}

/// What the relationships service needs of a projector to answer from its rows: the rows, and
/// a way to ask it to reach the head at once.
#[derive(Clone)]
pub struct LiveRows {
    /// The rows.
    pub rows: Arc<Rows>,
    nudge: Arc<Notify>,
}

impl LiveRows {
    /// Asks the projector to read its next page at once instead of pacing itself.
    pub fn hurry(&self) {
        self.nudge.notify_one();
    }
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
        let rows = Projector::rows_from(&*store, resumed, params.params_version).await?;
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let (progress, _) = watch::channel(resumed);
        let log_for_histories = Arc::clone(&log);
        let states = States::new(Arc::clone(&log), params.clone(), states::DEFAULT_BUDGET)
            .with_checkpoints(Arc::clone(&store));
        Ok(Projector {
            states: Arc::new(states),
            log,
            store,
            params,
            changes,
            progress,
            histories: Arc::new(Histories::new(log_for_histories, DEFAULT_BUDGET)),
            folds: FoldThread::start().map_err(|e| {
                StoreError::Unavailable(format!("cannot start the projector's fold thread: {e}"))
            })?,
            rows: Arc::new(rows),
            nudge: Arc::new(Notify::new()),
            folded_last: std::sync::Mutex::default(),
        })
    }

    /// The rows of a projector resuming at `resumed`: those the store keeps when they are
    /// complete, else none, for a build to fold (see `read::rows`). From position 0 every
    /// account's row comes from a page, and the store's are complete from the start.
    async fn rows_from(
        store: &dyn SnapshotStore,
        resumed: Option<u64>,
        params_version: &'static str,
    ) -> Result<Rows, StoreError> {
        let Some(position) = resumed else {
            store.rows_complete().await?;
            return Ok(Rows::new(None));
        };
        let loaded = std::time::Instant::now();
        let Some(stored) = store.rows().await? else {
            return Ok(Rows::new(resumed));
        };
        let count = stored.len();
        match Rows::restored(position, params_version, stored) {
            Some(rows) => {
                tracing::info!(rows = count, took = ?loaded.elapsed(), "relationship rows loaded");
                Ok(rows)
            }
            None => {
                tracing::warn!("the stored relationship rows are not of this build or not of the checkpoint; building them again");
                Ok(Rows::new(resumed))
            }
        }
    }

    /// The same projector keeping account states within `budget` events and items of evidence
    /// (`read::states::DEFAULT_BUDGET` by default).
    pub fn with_state_budget(self, budget: usize) -> Self {
        let states = States::new(Arc::clone(&self.log), self.params.clone(), budget)
            .with_checkpoints(Arc::clone(&self.store));
        Projector {
            states: Arc::new(states),
            ..self
        }
    }

    /// The relationships service over the projector's log and rules, sharing its account
    /// histories and states, so that each record is decoded once and each state advanced
    /// once. It walks for lists and the portfolio unless given the rows
    /// ([`Relationships::with_rows`] of [`Projector::live_rows`]).
    pub fn relationships(&self) -> Relationships {
        Relationships::with_caches(
            Arc::clone(&self.log),
            self.params.clone(),
            self.histories(),
            self.states(),
        )
    }

    /// The rows the projector keeps, for the relationships service to answer lists and the
    /// portfolio from.
    pub fn live_rows(&self) -> LiveRows {
        LiveRows {
            rows: Arc::clone(&self.rows),
            nudge: Arc::clone(&self.nudge),
        }
    }

    /// The account histories the projector's rows are folded from, for the relationships
    /// service to answer from the same decoded records.
    pub fn histories(&self) -> Arc<Histories> {
        Arc::clone(&self.histories)
    }

    /// The account states the projector keeps in memory, for the relationships service to
    /// answer live questions from.
    pub fn states(&self) -> Arc<States> {
        Arc::clone(&self.states)
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
}

#[cfg(test)]
impl Projector {
    /// A projector over `log` from position 0, its checkpoint in memory, with the default rules.
    pub(crate) async fn in_memory(log: &Arc<dyn Log>) -> Projector {
        let store = Arc::new(crate::store::MemorySnapshots::new());
        Projector::open(Arc::clone(log), store, Params::default())
            .await
            .expect("a projector over a memory log opens")
    }
}

#[cfg(test)]
mod tests;
