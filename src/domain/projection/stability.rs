//! How long a projection stays true: the first instant after `as_of` at which projecting the
//! same events could give a different answer.
//!
//! A projection depends on its instant only through whole days and instants the events name:
//! every age is `floor((as_of - t) / 1 day)` for an instant `t` an event gives (when it
//! occurred, a promise's or an invoice's due date, a planned next visit) or a count of
//! midnights (the age of evidence, which ticks over at midnight UTC), every window and
//! threshold is a whole number of days from such an instant (`due_at + 7 days`,
//! `last visit + 2 * interval`, the trailing 365 days), and an event counts from its own
//! `occurred_at` on. So the answer can change only at an instant `t + k days` (an age or a
//! window ticks over, an event starts to count) or `t + k days + 1 ns` (a strict "past the due
//! date" turns true). Between `as_of` and the first such instant the answer is the same but
//! for `as_of` itself, which lets a caller keep a live answer until then instead of folding
//! the history again (see `relationships`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::event::EventPayload;
use crate::domain::record::RecordedEvent;
use crate::domain::time::{Timestamp, NANOS_PER_DAY};

/// The first instant after `as_of` at which `project(events, instant, params)` may differ from
/// `project(events, as_of, params)` by more than its `as_of`; at most one day after `as_of`.
/// Holds for every parameter set, since parameters count whole days.
pub fn stable_until(events: &[RecordedEvent], as_of: Timestamp) -> Timestamp {
    let mut anchors = Anchors::default();
    for record in events {
        anchors.apply(record);
    }
    anchors.until(as_of)
}

/// The times of day (nanoseconds after midnight UTC) at which a projection of some events may
/// change: each instant an event names and the nanosecond after it, and midnight. Kept as the
/// events arrive, so that [`Anchors::until`] answers without the events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchors {
    times: BTreeSet<i64>,
}

impl Default for Anchors {
    /// Midnight UTC, for anything counted in calendar days.
    fn default() -> Self {
        let mut anchors = Anchors {
            times: BTreeSet::new(),
        };
        anchors.add(Timestamp::from_unix_nanos(0));
        anchors
    }
}

impl Anchors {
    /// Adds the instants `record` names.
    pub fn apply(&mut self, record: &RecordedEvent) {
        self.add(record.event.occurred_at);
        match &record.event.payload {
            EventPayload::Visit(visit) => {
                if let Some(next) = visit.next_visit_on {
                    self.add(next);
                }
            }
            EventPayload::PromiseMade(promise) => self.add(promise.due_at),
            EventPayload::InvoiceIssued(invoice) => self.add(invoice.due_at),
            _ => {}
        }
    }

    fn add(&mut self, t: Timestamp) {
        let anchor = t.unix_nanos().rem_euclid(NANOS_PER_DAY);
        self.times.insert(anchor);
        self.times.insert((anchor + 1).rem_euclid(NANOS_PER_DAY));
    }

    /// The first instant after `as_of` whose time of day is an anchor (at most a day later):
    /// [`stable_until`] of the events added.
    pub fn until(&self, as_of: Timestamp) -> Timestamp {
        let now = as_of.unix_nanos();
        let time_of_day = now.rem_euclid(NANOS_PER_DAY);
        // The next anchor later today, else the first one tomorrow (a whole day at most).
        let soonest = match self.times.range(time_of_day + 1..).next() {
            Some(anchor) => anchor - time_of_day,
            None => self
                .times
                .first()
                .map_or(NANOS_PER_DAY, |first| first + NANOS_PER_DAY - time_of_day),
        };
        Timestamp::from_unix_nanos(now.saturating_add(soonest.min(NANOS_PER_DAY)))
    }
}

#[cfg(test)]
mod tests;
