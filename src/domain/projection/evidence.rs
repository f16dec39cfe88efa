//! Evidence: what each event says about trust, per channel (docs/scoring.md §3).
//!
//! An event adds positive (`r`) or negative (`s`) evidence to the personal channel of the
//! contacts it concerns and/or to the account's organizational channel, decayed by its age.
//! The table's caps are applied by `caps` as the events are walked in log order.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::event::EventType;
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::caps::{Collector, Known, Tally};
use super::decay::decay;
use super::params::Params;
use super::promises::Promises;
use super::roster::Roster;

/// Which trust an item of evidence feeds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    /// Trust in the salesperson, held by one contact.
    Personal {
        /// The contact.
        contact_id: String,
    },
    /// Trust in the supplier as a company.
    Organizational,
}

/// Why an item of evidence counts the way it does: a stable code for each row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Factor {
    /// An introduction by someone the contact knows.
    IntroductionPositive,
    /// A visit, within the contact's touch cap.
    VisitPositive,
    /// A visit beyond the touch cap of its window: counts zero.
    VisitOverCap,
    /// A call, within the contact's touch cap.
    CallPositive,
    /// A call beyond the touch cap: counts zero.
    CallOverCap,
    /// A promise kept.
    PromiseKeptPositive,
    /// A promise broken.
    PromiseBrokenNegative,
    /// A promise past due plus grace with no outcome (derived).
    PromiseOverdueNegative,
    /// Expert help delivered.
    SolutionPositive,
    /// The first proof of its kind.
    ThirdPartyProofPositive,
    /// A proof of a kind already counted: counts zero.
    ThirdPartyProofRepeated,
    /// The first favor of the contact's window.
    FavorPositive,
    /// Another favor in the same window: counts zero.
    FavorOverCap,
    /// Help beyond the contract.
    CriticalAssistancePositive,
}

/// One item of evidence: one event's say on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Evidence {
    /// The event's index in the slice the evidence was collected from.
    pub event_index: usize,
    /// The event (for a derived overdue, the `promise_made`).
    pub event_id: EventId,
    /// Its type.
    pub event_type: EventType,
    /// When it counts from: `occurred_at`, or `due_at + grace` for an overdue promise.
    pub at: Timestamp,
    /// The channel fed.
    pub channel: Channel,
    /// The rule applied.
    pub factor: Factor,
    /// Positive evidence after caps, before decay.
    pub raw_r: f64,
    /// Negative evidence after caps, before decay.
    pub raw_s: f64,
    /// The half-life of its kind.
    pub half_life_days: u32,
    /// The instant it is aged to: `as_of`, or the moment its contact left (frozen).
    pub clock: Timestamp,
    /// `0.5^(age / H)` at that clock, computed once: explanations fold the same items many
    /// times.
    pub weight: f64,
}

impl Evidence {
    /// Calendar days from `at` to the clock (docs/scoring.md §1.3).
    pub fn age_days(&self) -> i64 {
        self.clock.calendar_days_since(self.at)
    }

    /// Whether the item is derived as of an instant (an overdue promise) rather than
    /// counted from an event once and for all.
    pub fn is_derived(&self) -> bool {
        self.factor == Factor::PromiseOverdueNegative
    }

    /// `0.5^(age / H)`.
    pub fn decay(&self) -> f64 {
        self.weight
    }

    /// Sets the clock and the weight that goes with it.
    pub fn set_clock(&mut self, clock: Timestamp) {
        self.clock = clock;
        self.weight = decay(self.age_days(), self.half_life_days);
    }

    /// The same evidence aged to another clock (frozen evidence keeps its own).
    pub fn aged_to(&self, clock: Timestamp, frozen: bool) -> Evidence {
        let mut aged = self.clone();
        if !frozen {
            aged.set_clock(clock);
        }
        aged
    }
}

/// The account's evidence as of one instant, with what was read to derive it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvidenceSet {
    /// The instant of the projection.
    pub as_of: Timestamp,
    /// Segment and contacts.
    pub roster: Arc<Roster>,
    /// Promises, for the derived overdue evidence and the promise record.
    pub promises: Arc<Promises>,
    /// Every item, in log order of its event.
    pub items: Vec<Evidence>,
}

/// Collects the evidence of `events`, the account's events with `occurred_at <= as_of` in
/// log order.
#[cfg(test)]
pub(crate) fn collect(events: &[&RecordedEvent], as_of: Timestamp, params: &Params) -> EvidenceSet {
    collect_counted(events, as_of, params).0
}

/// The evidence of `events` (as for `collect`) aged to `as_of`, and the tally it was aged
/// from.
pub(super) fn collect_counted(
    events: &[&RecordedEvent],
    as_of: Timestamp,
    params: &Params,
) -> (EvidenceSet, Tally) {
    let (roster, promises, tally) = counted(events, params);
    let parts = (Arc::new(roster), Arc::new(promises));
    let set = EvidenceSet::aged(as_of, parts, &tally, Entries::All, params);
    (set, tally)
}

/// The roster and the promises of `events` (in log order), and their evidence counted knowing
/// both from the start; the tally's indices are into `events`.
pub(super) fn counted(events: &[&RecordedEvent], params: &Params) -> (Roster, Promises, Tally) {
    let roster = Roster::read(events);
    let promises = Promises::read(events);
    let known = Known {
        roster: &roster,
        promises: &promises,
        params,
    };
    let tally = Tally::of(events.iter().copied().enumerate(), &known);
    (roster, promises, tally)
}

/// Which of a tally's entries an [`EvidenceSet`] holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Entries {
    /// Every item, aged: what explanations and event ids need.
    All,
    /// Only the derived items (overdue promises): with the tally's day sums, enough for the
    /// trust fold, though not to say which events gave the evidence.
    Derived,
}

impl EvidenceSet {
    /// The evidence of `tally` (counted with `roster` and `promises`) as of `as_of`, which is
    /// no earlier than any of its events: its `entries`, aged.
    pub(super) fn aged(
        as_of: Timestamp,
        (roster, promises): (Arc<Roster>, Arc<Promises>),
        tally: &Tally,
        entries: Entries,
        params: &Params,
    ) -> Self {
        let mut c = Collector::new(params, as_of, &roster);
        match entries {
            Entries::All => c.age(tally, &promises),
            Entries::Derived => c.derive(tally, &promises),
        }
        let items = c.into_items();
        EvidenceSet {
            as_of,
            roster,
            promises,
            items,
        }
    }
}

#[cfg(test)]
mod tests;
