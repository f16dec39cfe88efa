//! One page of the projector: its records read, each account it touches folded once on the
//! fold thread, and the summaries and changes committed to the checkpoint together.

use std::collections::{BTreeMap, HashMap};

use futures::{StreamExt, TryStreamExt};

use super::{Projector, RelationshipChange, PAGE};
use crate::domain::projection::Params;
use crate::domain::{AccountId, RecordedEvent};
use crate::read::rows::Row;
use crate::read::states::{Advance, Advanced};
use crate::store::{Direction, ReadAllFilter, SnapshotPosition, StoreError};

/// How many of a page's account states are advanced at once (see `project_page_folded`).
const ADVANCES_AT_ONCE: usize = 8;

impl Projector {
    /// Projects the next page of records; returns how many.
    ///
    /// Each account the page touches is folded once, as of its last event in the page: the
    /// cost of a page is one fold per account, however many of its events the page holds. When
    /// the projector keeps up and appends come one at a time, a page is one append and every
    /// event is judged on its own; when appends come faster than its pacing interval, or when it
    /// catches up, an account's events in one page are judged together, and a change names the
    /// last of them (`after.position`) and the first (`first_position`).
    pub(super) async fn project_page(&self) -> Result<u64, StoreError> {
        Ok(self.project_page_folded().await?.records)
    }

    /// [`Projector::project_page`], with what its pacing needs to know of it (see
    /// `pacing::pace_after`).
    pub(super) async fn project_page_folded(&self) -> Result<Projected, StoreError> {
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
            return Ok(Projected::default());
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
        // The states first (they may read the log), then every fold of the page at once on
        // the fold thread: a state is advanced by the page's events in constant time each, but
        // one built from a long history, or a summary's evaluation, takes milliseconds of CPU,
        // and on a tokio worker it would hold up the gRPC requests queued behind it (see
        // `fold_thread`). The states are advanced a few at once: one the cache dropped is
        // read back from its checkpoint and the log's tail, a few hundred microseconds of
        // waiting on the blocking pool each, which one after the other made most of a live
        // page's time.
        let folds: Vec<Fold> =
            futures::stream::iter(touched.into_iter().filter_map(|(account, records)| {
                // The account's last record in the page (the fold is as of it), and its first.
                let (first, latest) = (records.first()?, records.last()?);
                let at = (first.position, latest.position, latest.recorded_at);
                Some((account, at, records))
            }))
            .map(
                |(account, (first_position, position, recorded_at), records)| async move {
                    let advance = self
                        .states
                        .advance(&account, records, Some(position))
                        .await?;
                    Ok::<_, StoreError>(Fold {
                        account,
                        recorded_at,
                        first_position,
                        position,
                        advance,
                    })
                },
            )
            .buffered(ADVANCES_AT_ONCE)
            .try_collect()
            .await?;
        let params = self.params.clone();
        let judged = self
            .folds
            .run(move || {
                folds
                    .into_iter()
                    .map(|fold| {
                        let judged = fold.judge(&params);
                        // The row as the store keeps it, encoded here rather than on the
                        // worker that commits, as the states' checkpoints are.
                        let stored = judged.2.as_ref().map(|row| row.stored(&judged.0));
                        (judged, stored)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .ok_or_else(|| {
                StoreError::Unavailable("a fold of the projector's page failed".to_string())
            })?;
        let mut summaries = Vec::with_capacity(judged.len());
        let mut rows = Vec::with_capacity(judged.len());
        let mut rows_kept = Vec::with_capacity(judged.len());
        let mut changes = Vec::new();
        let mut checkpoints = Vec::new();
        // Each account's summary before the page, read at once; the accounts folded, in
        // account order, also set the pace.
        let folded: Vec<AccountId> = judged
            .iter()
            .map(|((account, ..), _)| account.clone())
            .collect();
        let stored = std::time::Instant::now();
        let befores = self.store.summaries_of(folded.clone()).await?;
        let mut in_store = stored.elapsed();
        for (((account, mut advanced, row, (first_position, position)), stored), before) in
            judged.into_iter().zip(befores)
        {
            checkpoints.extend(advanced.take_checkpoint());
            self.states.keep(advanced);
            let Some(row) = row else {
                return Err(StoreError::Corrupt(format!(
                    "the stream of {account} does not hold position {position}, which the log \
                     gives it"
                )));
            };
            let after = row.summary.clone();
            if after.is_news_after(before.as_ref()) {
                changes.push(RelationshipChange {
                    before,
                    after: after.clone(),
                    first_position,
                });
            }
            summaries.push(after);
            rows_kept.extend(stored.transpose()?);
            rows.push((account, row));
        }
        let position = SnapshotPosition {
            position: last,
            params_version: self.params.params_version.to_string(),
        };
        let stored = std::time::Instant::now();
        if !checkpoints.is_empty() {
            self.store.keep_account_states(checkpoints).await?;
        }
        self.store
            .commit(summaries, changes.clone(), rows_kept, position)
            .await?;
        in_store += stored.elapsed();
        self.rows.install(rows, last);
        self.progress.send_replace(Some(last));
        let repeated = self.folded_again(folded);
        for change in changes {
            // No receiver is not an error: the change feed may have no subscriber.
            let _ = self.changes.send(change);
        }
        Ok(Projected {
            records: projected,
            repeated,
            in_store,
        })
    }

    /// The share of `folded` (in account order) that the previous page folded too, which
    /// `folded` then replaces.
    fn folded_again(&self, folded: Vec<AccountId>) -> f64 {
        let mut last = self
            .folded_last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (mut again, mut before) = (0usize, last.iter().peekable());
        for account in &folded {
            while before.next_if(|b| *b < account).is_some() {}
            if before.next_if(|b| *b == account).is_some() {
                again += 1;
            }
        }
        let share = again as f64 / folded.len().max(1) as f64;
        *last = folded;
        share
    }
}

/// What a page did, for the projector's pacing.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Projected {
    /// How many records it projected.
    pub records: u64,
    /// The share of the accounts it folded that the page before it folded too.
    pub repeated: f64,
    /// How long it waited on the snapshot store (its summaries read, its commit).
    pub in_store: std::time::Duration,
}

/// One account's fold of a page: its state advanced to the last of its events in the page.
struct Fold {
    account: AccountId,
    /// When the account's last event in the page was recorded.
    recorded_at: crate::domain::Timestamp,
    /// The position of the account's first event in the page.
    first_position: u64,
    /// The position of its last event in the page.
    position: u64,
    /// What takes the account's state there.
    advance: Advance,
}

impl Fold {
    /// Advances the account's state, and judges its row as of its last event in the page,
    /// when that event was recorded (or at the newest `occurred_at` counted, if later): its
    /// summary is what `Relationships::get` answers as of that position. No row when the
    /// state did not reach that position (a stream that does not hold it).
    fn judge(self, params: &Params) -> (AccountId, Advanced, Option<Row>, (u64, u64)) {
        let advanced = self.advance.run(params);
        let at = &advanced.at;
        let row = (at.position == Some(self.position))
            .then(|| {
                let newest = at.state.newest()?;
                Row::judge(at, self.recorded_at.max(newest), params)
            })
            .flatten();
        let positions = (self.first_position, self.position);
        (self.account, advanced, row, positions)
    }
}
