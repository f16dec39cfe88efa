//! The caps of the evidence table, applied in log order.
//!
//! "Per N-day window" caps use fixed buckets `floor(day_number / N)` from the epoch, so that
//! whether an event counts never depends on the query. The first events of a window count;
//! the one that crosses a cap counts what is left of it; later ones are still recorded, at
//! weight zero, so an explanation can show why a tenth dinner changed nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::event::{EventType, ProofKind};
use crate::domain::ids::EventId;
use crate::domain::time::Timestamp;

use super::evidence::{Channel, Evidence, Factor};
use super::params::{EvidenceWeight, Params};
use super::promises::{Promise, PromiseStatus};
use super::roster::Roster;

/// Where an item comes from: the event's index, id and the time it counts from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source {
    pub index: usize,
    pub id: EventId,
    pub kind: EventType,
    pub at: Timestamp,
}

/// Counted evidence before decay: positive, negative, and the half-life.
#[derive(Debug, Clone, Copy)]
struct Counted {
    r: f64,
    s: f64,
    h: u32,
}

/// The collection's running state: the caps' memory.
pub(super) struct Collector<'a> {
    params: &'a Params,
    as_of: Timestamp,
    roster: &'a Roster,
    items: Vec<Evidence>,
    /// Visit and call evidence already counted per (contact, fixed window).
    touch_used: BTreeMap<(String, i64), f64>,
    /// (contact, fixed window) pairs that already had their favor.
    favor_windows: BTreeSet<(String, i64)>,
    /// Proof kinds already counted.
    proof_kinds: BTreeSet<ProofKind>,
}

impl<'a> Collector<'a> {
    pub fn new(params: &'a Params, as_of: Timestamp, roster: &'a Roster) -> Self {
        Collector {
            params,
            as_of,
            roster,
            items: Vec::new(),
            touch_used: BTreeMap::new(),
            favor_windows: BTreeSet::new(),
            proof_kinds: BTreeSet::new(),
        }
    }

    /// The items collected, in log order of their events.
    pub fn into_items(self) -> Vec<Evidence> {
        self.items
    }

    fn push(&mut self, src: &Source, channel: Channel, f: Factor, n: Counted, clock: Timestamp) {
        let mut item = Evidence {
            event_index: src.index,
            event_id: src.id,
            event_type: src.kind,
            at: src.at,
            channel,
            factor: f,
            raw_r: n.r,
            raw_s: n.s,
            half_life_days: n.h,
            clock,
            weight: 1.0,
        };
        item.set_clock(clock);
        self.items.push(item);
    }

    /// The clock of `contact`'s evidence, or none when `src` comes after the contact left
    /// (its score is frozen and nothing later reaches it).
    fn clock_of(&self, src: &Source, contact: &str) -> Option<Timestamp> {
        let clock = self.roster.contact(contact).clock(self.as_of);
        (src.at <= clock).then_some(clock)
    }

    pub fn personal(&mut self, src: &Source, contact: &str, f: Factor, w: &EvidenceWeight) {
        let n = Counted {
            r: w.personal_r,
            s: w.personal_s,
            h: w.half_life_days,
        };
        self.personal_weighted(src, contact, f, n);
    }

    fn personal_weighted(&mut self, src: &Source, contact: &str, f: Factor, n: Counted) {
        if let Some(clock) = self.clock_of(src, contact) {
            let channel = Channel::Personal {
                contact_id: contact.to_string(),
            };
            self.push(src, channel, f, n, clock);
        }
    }

    pub fn org(&mut self, src: &Source, f: Factor, w: &EvidenceWeight) {
        let clock = self.as_of;
        let n = Counted {
            r: w.org_r,
            s: w.org_s,
            h: w.half_life_days,
        };
        self.push(src, Channel::Organizational, f, n, clock);
    }

    /// A visit or call: at most `touch_cap_per_window` per contact per fixed window; the
    /// event that crosses the cap counts only what is left of it.
    pub fn touch(
        &mut self,
        src: &Source,
        contact: &str,
        within: Factor,
        over: Factor,
        w: &EvidenceWeight,
    ) {
        if self.clock_of(src, contact).is_none() {
            return;
        }
        let window = src
            .at
            .day_number()
            .div_euclid(i64::from(self.params.touch_window_days.max(1)));
        let used = self
            .touch_used
            .entry((contact.to_string(), window))
            .or_insert(0.0);
        let left = self.params.touch_cap_per_window - *used;
        let counted = if left > 0.0 {
            w.personal_r.min(left)
        } else {
            0.0
        };
        *used += counted;
        let f = if counted > 0.0 { within } else { over };
        let n = Counted {
            r: counted,
            s: 0.0,
            h: w.half_life_days,
        };
        self.personal_weighted(src, contact, f, n);
    }

    /// A favor: its value never counts, and only the first per contact per fixed window.
    pub fn favor(&mut self, src: &Source, contact: &str) {
        if self.clock_of(src, contact).is_none() {
            return;
        }
        let w = self.params.weights.favor;
        let window = src
            .at
            .day_number()
            .div_euclid(i64::from(self.params.favor_window_days.max(1)));
        if self.favor_windows.insert((contact.to_string(), window)) {
            self.personal(src, contact, Factor::FavorPositive, &w);
        } else {
            let n = Counted {
                r: 0.0,
                s: 0.0,
                h: w.half_life_days,
            };
            self.personal_weighted(src, contact, Factor::FavorOverCap, n);
        }
    }

    /// The derived overdue evidence of `promise`, made by `made`: it sits at the promise's
    /// place in the log, dated when the grace period ended. Explanations call this too, to
    /// derive what leaving an outcome out would add.
    pub fn promise_overdue(&mut self, made: &Source, promise: &Promise) {
        let w = self.params.weights.promise_overdue;
        let due = Source {
            at: promise.overdue_from(self.params),
            ..*made
        };
        if let Some(contact) = &promise.contact_id {
            let clock = self.roster.contact(contact).clock(self.as_of);
            if promise.status_at(clock, self.params) == PromiseStatus::Overdue {
                self.personal(&due, contact, Factor::PromiseOverdueNegative, &w);
            }
        }
        if promise.status_at(self.as_of, self.params) == PromiseStatus::Overdue {
            self.org(&due, Factor::PromiseOverdueNegative, &w);
        }
    }

    /// The evidence of `promise`'s outcome `src`, kept or broken.
    pub fn promise_outcome(&mut self, src: &Source, promise: &Promise, kept: bool) {
        let w = &self.params.weights;
        let (factor, weight) = if kept {
            (Factor::PromiseKeptPositive, w.promise_kept)
        } else {
            (Factor::PromiseBrokenNegative, w.promise_broken)
        };
        if let Some(contact) = &promise.contact_id {
            self.personal(src, contact, factor, &weight);
        }
        self.org(src, factor, &weight);
    }

    /// Third-party proof: one counted per proof kind, the first in log order.
    pub fn proof(&mut self, src: &Source, kind: ProofKind) {
        let w = self.params.weights.proof;
        if self.proof_kinds.insert(kind) {
            self.org(src, Factor::ThirdPartyProofPositive, &w);
        } else {
            let clock = self.as_of;
            let n = Counted {
                r: 0.0,
                s: 0.0,
                h: w.half_life_days,
            };
            self.push(
                src,
                Channel::Organizational,
                Factor::ThirdPartyProofRepeated,
                n,
                clock,
            );
        }
    }
}
