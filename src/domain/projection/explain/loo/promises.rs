//! Leaving a promise's event out: what its promise becomes without it.
//!
//! A promise's evidence depends on its first outcome (kept, broken, or none: overdue after due
//! plus grace), so leaving out a `promise_made` or its deciding outcome changes that
//! promise's items and no others (promises share no cap). They are derived again here with
//! the collector's own rules, instead of refolding the account.

use crate::domain::event::{EventPayload, EventType};
use crate::domain::record::RecordedEvent;

use super::{Change, LeaveOneOut};
use crate::domain::projection::caps::{Collector, Source};
use crate::domain::projection::promises::Outcome;

/// The id of the promise an event made or decided.
pub(super) fn promise_id(event: &RecordedEvent) -> Option<&str> {
    match &event.event.payload {
        EventPayload::PromiseMade(p) => Some(&p.promise_id),
        EventPayload::PromiseKept(p) => Some(&p.promise_id),
        EventPayload::PromiseBroken(p) => Some(&p.promise_id),
        _ => None,
    }
}

impl<'a> LeaveOneOut<'a> {
    fn source(&self, index: usize) -> Source {
        let event = &self.events[index].event;
        Source {
            index,
            id: event.event_id,
            kind: event.payload.event_type(),
            at: event.occurred_at,
        }
    }

    /// Without the outcome event `index`, its promise takes its next outcome (if any) and
    /// its overdue evidence is derived again; the promise's old evidence goes.
    pub(super) fn outcome_left_out(&self, index: usize, change: &mut Change<'a>) {
        let Some(id) = promise_id(self.events[index]) else {
            return;
        };
        let Some(promise) = self.set.promises.by_id.get(id) else {
            return;
        };
        let event_id = self.events[index].event.event_id;
        // A repeated outcome had no evidence and decides nothing.
        if promise.outcome.map(|o| o.event_id) != Some(event_id) {
            return;
        }
        let Some(&made) = self.made.get(id).and_then(|m| m.first()) else {
            return;
        };
        if let Some(old) = self.by_event.get(&made) {
            change
                .removed
                .extend(old.iter().map(|&k| &self.set.items[k]));
        }
        let next = self
            .outcomes
            .get(id)
            .and_then(|o| o.iter().copied().find(|&i| i != index));
        let mut rest = promise.clone();
        rest.outcome = next.map(|i| {
            let e = &self.events[i].event;
            Outcome {
                kept: e.payload.event_type() == EventType::PromiseKept,
                event_id: e.event_id,
                at: e.occurred_at,
            }
        });
        let mut c = Collector::new(self.params, self.set.as_of, &self.set.roster);
        c.promise_overdue(&self.source(made), &rest);
        if let (Some(i), Some(o)) = (next, rest.outcome) {
            c.promise_outcome(&self.source(i), &rest, o.kept);
        }
        change.added.extend(c.into_items());
    }

    /// Without its `promise_made` event `index`, a promise is gone, and with it the evidence
    /// of its outcome. `None` when another `promise_made` of the same id would take over.
    pub(super) fn promise_made_left_out(
        &self,
        index: usize,
        change: &mut Change<'a>,
    ) -> Option<()> {
        let id = promise_id(self.events[index])?;
        let made = self.made.get(id)?;
        if made.first() != Some(&index) {
            // A repeated `promise_made` had no evidence and changes nothing.
            return Some(());
        }
        if made.len() > 1 {
            return None;
        }
        let promise = self.set.promises.by_id.get(id)?;
        let decided = promise.outcome.map(|o| o.event_id);
        let outcome = self
            .outcomes
            .get(id)
            .and_then(|o| o.first())
            .filter(|&&i| Some(self.events[i].event.event_id) == decided);
        if let Some(old) = outcome.and_then(|i| self.by_event.get(i)) {
            change
                .removed
                .extend(old.iter().map(|&k| &self.set.items[k]));
        }
        Some(())
    }
}
