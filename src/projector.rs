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

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::TryStreamExt;
use tokio::sync::{broadcast, watch};

use crate::domain::projection::{project_unexplained, Params, RelationshipSummary};
use crate::domain::{AccountId, RecordedEvent};
use crate::relationships::{occurred, Judged};
use crate::store::{Direction, Log, ReadAllFilter, SnapshotPosition, SnapshotStore, StoreError};

/// How many records the projector reads and commits at a time.
const PAGE: u64 = 256;

/// How many changes a slow change-feed receiver may fall behind before it is told it lagged.
const CHANGE_BUFFER: usize = 1024;

/// An event that changed an account's quadrant, level, grade or alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipChange {
    /// The account's summary before the event; `None` for its first event.
    pub before: Option<RelationshipSummary>,
    /// After it; `after.position` and `after.event_id` name the event.
    pub after: RelationshipSummary,
}

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
        Ok(Projector {
            log,
            store,
            params,
            changes,
            progress,
        })
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

    /// Catches up, then again whenever the log's head moves, until `shutdown` completes. An
    /// error is logged and retried when the head next moves: projections are derived data,
    /// and a failed page is simply projected again.
    pub async fn run(
        &self,
        mut head: watch::Receiver<crate::store::LogHead>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.catch_up().await {
                tracing::error!(%error, "the projector could not catch up; retrying when the log moves");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                moved = head.changed() => if moved.is_err() { return },
            }
        }
    }

    /// Projects the next page of records; returns how many.
    async fn project_page(&self) -> Result<u64, StoreError> {
        let from = self.progress.borrow().map_or(0, |p| p + 1);
        let page: Vec<RecordedEvent> = self
            .log
            .read_all(
                Some(from),
                Direction::Forwards,
                Some(PAGE),
                ReadAllFilter::default(),
            )
            .try_collect()
            .await?;
        let Some(last) = page.last().map(|r| r.position) else {
            return Ok(0);
        };
        let mut histories: BTreeMap<AccountId, Vec<RecordedEvent>> = BTreeMap::new();
        let mut current: BTreeMap<AccountId, Option<RelationshipSummary>> = BTreeMap::new();
        for record in &page {
            if !histories.contains_key(&record.account_id) {
                let history = self.history(&record.account_id, last).await?;
                histories.insert(record.account_id.clone(), history);
                let before = self.store.summary(&record.account_id).await?;
                current.insert(record.account_id.clone(), before);
            }
        }
        let mut changes = Vec::new();
        for record in &page {
            let history = &histories[&record.account_id];
            let upto = history.partition_point(|e| e.position <= record.position);
            let known = &history[..upto];
            if known.last().map(|e| e.position) != Some(record.position) {
                return Err(StoreError::Corrupt(format!(
                    "the stream of {} does not hold position {}, which the log gives it",
                    record.account_id, record.position
                )));
            }
            let as_of = Judged::NoEarlierThan(record.recorded_at).instant(occurred(known));
            let projection = project_unexplained(known, as_of, &self.params);
            let after = RelationshipSummary::of(
                &record.account_id,
                record.position,
                record.event.event_id,
                &projection,
            );
            let before = current
                .insert(record.account_id.clone(), Some(after.clone()))
                .flatten();
            if after.is_news_after(before.as_ref()) {
                changes.push(RelationshipChange { before, after });
            }
        }
        let summaries = current.into_values().flatten().collect();
        let position = SnapshotPosition {
            position: last,
            params_version: self.params.params_version.to_string(),
        };
        self.store.commit(summaries, position).await?;
        self.progress.send_replace(Some(last));
        for change in changes {
            // No receiver is not an error: the change feed may have no subscriber.
            let _ = self.changes.send(change);
        }
        Ok(page.len() as u64)
    }

    /// `account`'s events up to position `last`, in stream order.
    async fn history(
        &self,
        account: &AccountId,
        last: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::new();
        let mut stream = self
            .log
            .read_stream(account, None, Direction::Forwards, None);
        while let Some(record) = stream.try_next().await? {
            if record.position > last {
                break;
            }
            events.push(record);
        }
        Ok(events)
    }
}
