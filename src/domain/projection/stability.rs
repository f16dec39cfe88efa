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
//! than [`Params::longest_reach_days`] before the instant judged at, so older instants mark
//! nothing.

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
        anchors.apply(record);
    }
    anchors.until(as_of, params)
}

/// The times of day (nanoseconds after midnight UTC) at which a projection of some events may
/// change: each instant an event names and the nanosecond after it, and midnight. Kept as the
/// events arrive, so that [`Anchors::until`] answers without the events.
///
/// Each time of day keeps the latest instant that named it. An instant further back from the
/// instant judged at than any rule reaches ([`Params::longest_reach_days`]) marks no change any
/// more, so its time of day is skipped, and [`Anchors::forget_before`] drops it for good: the
/// anchors are then bounded by the instants of the rules' windows, not by the history (every
/// event names a time of day, two with the nanosecond after it).
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
        let nanos = t.unix_nanos();
        let anchor = nanos.rem_euclid(NANOS_PER_DAY);
        for time in [anchor, (anchor + 1).rem_euclid(NANOS_PER_DAY)] {
            let latest = self.times.entry(time).or_insert(nanos);
            *latest = (*latest).max(nanos);
        }
    }

    /// How many times of day are kept.
    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Drops the times of day no instant from `newest` on reads: a state answers as of its
    /// newest event or later, and an instant only grows older.
    pub fn forget_before(&mut self, newest: Timestamp, params: &Params) {
        let reaches = Reach::from(newest, params);
        self.times.retain(|_, latest| reaches.to(*latest));
    }

    /// The first instant after `as_of` whose time of day is an anchor that still reads at
    /// `as_of` (at most a day later): [`stable_until`] of the events added.
    pub fn until(&self, as_of: Timestamp, params: &Params) -> Timestamp {
        let reaches = Reach::from(as_of, params);
        let now = as_of.unix_nanos();
        let time_of_day = now.rem_euclid(NANOS_PER_DAY);
        let read = |(&anchor, &latest): (&i64, &i64)| reaches.to(latest).then_some(anchor);
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

/// How far back from an instant the rules read, with a day's margin for the windows' ends.
struct Reach {
    judged: i64,
    nanos: i64,
}

impl Reach {
    fn from(judged: Timestamp, params: &Params) -> Self {
        let days = params.longest_reach_days().saturating_add(1);
        Reach {
            judged: judged.unix_nanos(),
            nanos: days.saturating_mul(NANOS_PER_DAY),
        }
    }

    /// Whether a rule judging at the instant, or in the day after it, may still read
    /// `instant` (unix nanoseconds).
    fn to(&self, instant: i64) -> bool {
        self.judged.saturating_sub(instant) <= self.nanos
    }
}

#[cfg(test)]
mod tests;
