//! How long a projection stays true: the first instant after `as_of` at which projecting the
//! same events could give a different answer.
//!
//! A projection depends on its instant only through whole days and instants the events name:
//! every age is `floor((as_of - t) / 1 day)` for an instant `t` an event gives (when it
//! occurred, a promise's or an invoice's due date, a planned next visit), every window and
//! threshold is a whole number of days from such an instant (`due_at + 7 days`,
//! `last visit + 2 * interval`, the trailing 365 days), and an event counts from its own
//! `occurred_at` on. So the answer can change only at an instant `t + k days` (an age or a
//! window ticks over, an event starts to count) or `t + k days + 1 ns` (a strict "past the due
//! date" turns true). Between `as_of` and the first such instant the answer is the same but
//! for `as_of` itself, which lets a caller keep a live answer until then instead of folding
//! the history again (see `relationships`).

use crate::domain::event::EventPayload;
use crate::domain::record::RecordedEvent;
use crate::domain::time::{Timestamp, NANOS_PER_DAY};

/// The first instant after `as_of` at which `project(events, instant, params)` may differ from
/// `project(events, as_of, params)` by more than its `as_of`; at most one day after `as_of`.
/// Holds for every parameter set, since parameters count whole days.
pub fn stable_until(events: &[RecordedEvent], as_of: Timestamp) -> Timestamp {
    let now = as_of.unix_nanos();
    let time_of_day = now.rem_euclid(NANOS_PER_DAY);
    // How far after `as_of` an instant of this time of day next comes (1 ns ..= 1 day).
    let next = |anchor: i64| (anchor - time_of_day - 1).rem_euclid(NANOS_PER_DAY) + 1;
    let mut soonest = NANOS_PER_DAY;
    let mut consider = |t: Timestamp| {
        let anchor = t.unix_nanos().rem_euclid(NANOS_PER_DAY);
        soonest = soonest.min(next(anchor)).min(next(anchor + 1));
    };
    // Midnight UTC, for anything counted in calendar days.
    consider(Timestamp::from_unix_nanos(0));
    for record in events {
        consider(record.event.occurred_at);
        match &record.event.payload {
            EventPayload::Visit(visit) => visit.next_visit_on.into_iter().for_each(&mut consider),
            EventPayload::PromiseMade(promise) => consider(promise.due_at),
            EventPayload::InvoiceIssued(invoice) => consider(invoice.due_at),
            _ => {}
        }
    }
    Timestamp::from_unix_nanos(now.saturating_add(soonest))
}

#[cfg(test)]
mod tests;
