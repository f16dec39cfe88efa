//! Promises: what was promised, to whom, by when, and what became of it.
//!
//! "Do not promise lightly, and once you promise, deliver" (docs/domain.md §2, lever 3, and
//! §11; the rules are docs/scoring.md §3.4 and §8).
//! A promise past its due date plus a grace period with no outcome is *overdue*: derived at
//! query time, never stored, so it appears and disappears with `as_of`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::event::EventPayload;
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::params::Params;

/// What became of a promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PromiseStatus {
    /// Awaiting its outcome and not yet overdue.
    Open,
    /// Kept.
    Kept,
    /// Broken.
    Broken,
    /// Past due plus the grace period with no outcome.
    Overdue,
}

/// The outcome event of a promise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outcome {
    /// Kept (true) or broken (false).
    pub kept: bool,
    /// The outcome's event.
    pub event_id: EventId,
    /// When the outcome happened.
    pub at: Timestamp,
}

/// One promise and its first outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Promise {
    /// The `promise_made` event, which also names the derived overdue evidence.
    pub made_event: EventId,
    /// The contact promised to, if one.
    pub contact_id: Option<String>,
    /// When it is due.
    pub due_at: Timestamp,
    /// The first kept or broken event in log order; later ones change nothing.
    pub outcome: Option<Outcome>,
}

impl Promise {
    /// When the promise turns overdue if it has no outcome by then.
    pub fn overdue_from(&self, params: &Params) -> Timestamp {
        self.due_at.plus_days(i64::from(params.promise_grace_days))
    }

    /// The status as seen at `clock` (the projection's `as_of`, or the moment a contact left).
    pub fn status_at(&self, clock: Timestamp, params: &Params) -> PromiseStatus {
        match self.outcome {
            Some(o) if o.at <= clock => {
                if o.kept {
                    PromiseStatus::Kept
                } else {
                    PromiseStatus::Broken
                }
            }
            _ if clock > self.overdue_from(params) => PromiseStatus::Overdue,
            _ => PromiseStatus::Open,
        }
    }
}

/// Every promise of the account, by promise id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Promises {
    pub by_id: BTreeMap<String, Promise>,
    /// The ids of settled promises let go of ([`Promises::forget`]): a `promise_made` naming
    /// one again changes nothing, as it changes nothing of a promise kept.
    pub forgotten: BTreeSet<String>,
}

impl Promises {
    /// Reads the promises from the visible events in log order.
    pub fn read(events: &[&RecordedEvent]) -> Self {
        let mut promises = Promises::default();
        for record in events {
            promises.apply(record);
        }
        promises
    }

    /// Whether [`Promises::apply`] of `record` may change the promises.
    pub fn changed_by(record: &RecordedEvent) -> bool {
        matches!(
            record.event.payload,
            EventPayload::PromiseMade(_)
                | EventPayload::PromiseKept(_)
                | EventPayload::PromiseBroken(_)
        )
    }

    /// Lets go of the promises `settled` says no later answer reads, keeping their ids: what
    /// a later event about one does is what it does to a promise with an outcome, nothing (a
    /// second `promise_made` is ignored, a second outcome too). For a compact state, whose
    /// summaries read only promises still open (and those whose contact left before the
    /// outcome, which the tally may still find overdue).
    pub fn forget(&mut self, settled: impl Fn(&Promise) -> bool) {
        let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.by_id)
            .into_iter()
            .partition(|(_, promise)| settled(promise));
        self.by_id = kept;
        self.forgotten.extend(gone.into_keys());
    }

    /// Reads one more event. An outcome for a promise never made is ignored: there is
    /// nothing it could be the outcome of.
    pub fn apply(&mut self, record: &RecordedEvent) {
        let event = &record.event;
        let (id, kept) = match &event.payload {
            EventPayload::PromiseMade(made) => {
                if self.forgotten.contains(&made.promise_id) {
                    return;
                }
                self.by_id
                    .entry(made.promise_id.clone())
                    .or_insert(Promise {
                        made_event: event.event_id,
                        contact_id: made.contact_id.clone(),
                        due_at: made.due_at,
                        outcome: None,
                    });
                return;
            }
            EventPayload::PromiseKept(k) => (&k.promise_id, true),
            EventPayload::PromiseBroken(b) => (&b.promise_id, false),
            _ => return,
        };
        if let Some(promise) = self.by_id.get_mut(id) {
            if promise.outcome.is_none() {
                promise.outcome = Some(Outcome {
                    kept,
                    event_id: event.event_id,
                    at: event.occurred_at,
                });
            }
        }
    }
}

/// One promise in the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromiseLine {
    /// The promise id.
    pub promise_id: String,
    /// The contact promised to, if one.
    pub contact_id: Option<String>,
    /// When it is due.
    pub due_at: Timestamp,
    /// Its status as of the projection.
    pub status: PromiseStatus,
    /// The `promise_made` event.
    pub made_event_id: EventId,
    /// The outcome event, if any.
    pub outcome_event_id: Option<EventId>,
    /// Kept no later than due.
    pub on_time: Option<bool>,
}

/// The account's promise record (docs/scoring.md §8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromiseRecord {
    /// Awaiting an outcome and not yet overdue. The four counts partition the promises.
    pub open: u32,
    /// Kept.
    pub kept: u32,
    /// Broken.
    pub broken: u32,
    /// Overdue.
    pub overdue: u32,
    /// `(kept + 1) / (kept + broken + overdue + 2)`: a Laplace-smoothed keep rate.
    pub keep_rate: f64,
    /// The share of kept promises kept no later than their due date; none when none kept.
    pub on_time_share: Option<f64>,
    /// Every promise, by promise id.
    pub promises: Vec<PromiseLine>,
}

impl PromiseRecord {
    /// The record as of `as_of`.
    pub(crate) fn new(promises: &Promises, as_of: Timestamp, params: &Params) -> Self {
        let mut record = PromiseRecord {
            open: 0,
            kept: 0,
            broken: 0,
            overdue: 0,
            keep_rate: 0.0,
            on_time_share: None,
            promises: Vec::new(),
        };
        let mut on_time = 0_u32;
        for (id, promise) in &promises.by_id {
            let status = promise.status_at(as_of, params);
            let mut line_on_time = None;
            match status {
                PromiseStatus::Open => record.open += 1,
                PromiseStatus::Kept => {
                    record.kept += 1;
                    let in_time = promise.outcome.is_some_and(|o| o.at <= promise.due_at);
                    on_time += u32::from(in_time);
                    line_on_time = Some(in_time);
                }
                PromiseStatus::Broken => record.broken += 1,
                PromiseStatus::Overdue => record.overdue += 1,
            }
            record.promises.push(PromiseLine {
                promise_id: id.clone(),
                contact_id: promise.contact_id.clone(),
                due_at: promise.due_at,
                status,
                made_event_id: promise.made_event,
                outcome_event_id: promise
                    .outcome
                    .filter(|o| o.at <= as_of)
                    .map(|o| o.event_id),
                on_time: line_on_time,
            });
        }
        record.keep_rate = f64::from(record.kept + 1)
            / f64::from(record.kept + record.broken + record.overdue + 2);
        if record.kept > 0 {
            record.on_time_share = Some(f64::from(on_time) / f64::from(record.kept));
        }
        record
    }

    /// The `promise_made` events of the overdue promises.
    pub fn overdue_event_ids(&self) -> Vec<EventId> {
        self.promises
            .iter()
            .filter(|p| p.status == PromiseStatus::Overdue)
            .map(|p| p.made_event_id)
            .collect()
    }
}
