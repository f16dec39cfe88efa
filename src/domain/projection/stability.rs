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
//! the history again (see `relationships`). And `k` is bounded: no rule reads an instant more
//! days after it than its type's windows reach ([`Params::occurred_reach_days`]), so older
//! instants mark nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::event::EventPayload;
use crate::domain::record::RecordedEvent;
use crate::domain::time::{Timestamp, NANOS_PER_DAY};

use super::params::Params;

/// The first instant after `as_of` at which `project(events, instant, params)` may differ from
/// `project(events, as_of, params)` by more than its `as_of`; at most one day after `as_of`.
pub fn stable_until(events: &[RecordedEvent], as_of: Timestamp, params: &Params) -> Timestamp {
    let mut anchors = Anchors::default();
    for record in events {
        anchors.apply(record, params);
    }
    anchors.until(as_of)
}

/// The times of day (nanoseconds after midnight UTC) at which a projection of some events may
/// change: each instant an event names and the nanosecond after it, and midnight. Kept as the
/// events arrive, so that [`Anchors::until`] answers without the events.
///
/// Each time of day keeps the last instant a rule may still read an instant that named it: the
/// instant plus the days the rules reach for it ([`Params::occurred_reach_days`] by event type,
/// [`Params::due_reach_days`]) and a day for the windows' ends. Past that, the instant marks no
/// change, so its time of day is skipped, and [`Anchors::forget_before`] drops it for good: the
/// anchors are then bounded by the instants of the rules' windows, not by the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchors {
    times: BTreeMap<i64, i64>,
}

impl Default for Anchors {
    /// Midnight UTC, for anything counted in calendar days, whatever the instant judged at.
    fn default() -> Self {
        let mut times = BTreeMap::new();
        times.insert(0, i64::MAX);
        Anchors { times }
    }
}

impl Anchors {
    /// Adds the instants `record` names.
    pub fn apply(&mut self, record: &RecordedEvent, params: &Params) {
        let event = &record.event;
        self.add(
            event.occurred_at,
            params.occurred_reach_days(&event.payload),
        );
        let due = params.due_reach_days();
        match &event.payload {
            EventPayload::Visit(visit) => {
                if let Some(next) = visit.next_visit_on {
                    self.add(next, due);
                }
            }
            EventPayload::PromiseMade(promise) => self.add(promise.due_at, due),
            EventPayload::InvoiceIssued(invoice) => self.add(invoice.due_at, due),
            _ => {}
        }
    }

    /// Adds instant `t`, which rules read for `days` after it.
    fn add(&mut self, t: Timestamp, days: i64) {
        let anchor = t.unix_nanos().rem_euclid(NANOS_PER_DAY);
        let read_until = t.plus_days(days.saturating_add(1)).unix_nanos();
        for time in [anchor, (anchor + 1).rem_euclid(NANOS_PER_DAY)] {
            let until = self.times.entry(time).or_insert(read_until);
            *until = (*until).max(read_until);
        }
    }

    /// How many times of day are kept.
    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Drops the times of day no instant from `newest` on reads: a state answers as of its
    /// newest event or later, and an instant only grows older.
    pub fn forget_before(&mut self, newest: Timestamp) {
        let newest = newest.unix_nanos();
        self.times.retain(|_, read_until| *read_until >= newest);
    }

    /// The first instant after `as_of` whose time of day is an anchor still read at `as_of`
    /// (at most a day later): [`stable_until`] of the events added.
    pub fn until(&self, as_of: Timestamp) -> Timestamp {
        let now = as_of.unix_nanos();
        let time_of_day = now.rem_euclid(NANOS_PER_DAY);
        let read = |(&anchor, &read_until): (&i64, &i64)| (read_until >= now).then_some(anchor);
        // The next anchor later today, else the first one tomorrow (a whole day at most).
        let soonest = match self.times.range(time_of_day + 1..).find_map(read) {
            Some(anchor) => anchor - time_of_day,
            None => self
                .times
                .iter()
                .find_map(read)
                .map_or(NANOS_PER_DAY, |first| first + NANOS_PER_DAY - time_of_day),
        };
        Timestamp::from_unix_nanos(now.saturating_add(soonest.min(NANOS_PER_DAY)))
    }
}

#[cfg(test)]
mod tests;
