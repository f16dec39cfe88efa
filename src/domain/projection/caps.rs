//! The caps of the evidence table, applied in log order.
//!
//! "Per N-day window" caps use fixed buckets `floor(day_number / N)` from the epoch, so that
//! whether an event counts never depends on the query. The first events of a window count;
//! the one that crosses a cap counts what is left of it; later ones are still recorded, at
//! weight zero, so an explanation can show why a tenth dinner changed nothing.
//!
//! The caps depend on the events and on when contacts left, never on the instant judged: a
//! [`Tally`] applies them once, event by event, and keeps its entries and the caps' memory, so
//! that a new event is counted without walking the history again. A [`Collector`] ages entries
//! to an instant (and derives what only the instant decides: an overdue promise).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::event::{EventPayload, EventType, PromiseBroken, PromiseKept, ProofKind};
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::day_sums::DaySums;
use super::decay::Decays;
use super::evidence::{Channel, Evidence, Factor};
use super::params::{EvidenceWeight, Params};
use super::promises::{Promise, PromiseStatus, Promises};
use super::roster::Roster;

/// Where an item comes from: the event's index, id and the time it counts from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

impl Counted {
    fn personal(w: &EvidenceWeight) -> Self {
        Counted {
            r: w.personal_r,
            s: w.personal_s,
            h: w.half_life_days,
        }
    }

    fn org(w: &EvidenceWeight) -> Self {
        Counted {
            r: w.org_r,
            s: w.org_s,
            h: w.half_life_days,
        }
    }

    /// Nothing: an event over its cap.
    fn zero(w: &EvidenceWeight) -> Self {
        Counted {
            r: 0.0,
            s: 0.0,
            h: w.half_life_days,
        }
    }
}

/// An item as first collected, aged to its own instant until a [`Collector`] ages it.
fn item(src: &Source, channel: Channel, factor: Factor, n: Counted) -> Evidence {
    let mut item = Evidence {
        event_index: src.index,
        event_id: src.id,
        event_type: src.kind,
        at: src.at,
        channel,
        factor,
        raw_r: n.r,
        raw_s: n.s,
        half_life_days: n.h,
        clock: src.at,
        weight: 1.0,
    };
    item.set_clock(src.at);
    item
}

/// One entry of a [`Tally`], in log order of its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Entry {
    /// An item whose counts the caps have fixed.
    Item(Evidence),
    /// The overdue evidence the promise `promise_id` may derive, at its `promise_made`'s
    /// place in the log: whether it is overdue depends on the instant judged.
    Overdue { made: Source, promise_id: String },
}

/// The evidence of an account's events with the caps applied, kept between events: the part
/// of the trust fold that does not depend on the instant judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Tally {
    /// Every entry, in log order of its event.
    entries: Vec<Entry>,
    /// Visit and call evidence already counted per contact and fixed window.
    touch_used: BTreeMap<String, BTreeMap<i64, f64>>,
    /// The fixed windows in which each contact already had its favor.
    favor_windows: BTreeMap<String, BTreeSet<i64>>,
    /// Proof kinds already counted.
    proof_kinds: BTreeSet<ProofKind>,
    /// The items' raw evidence by channel, half-life and day, what the trust fold sums.
    sums: DaySums,
    /// The [`Entry::Overdue`] placeholders again, on their own: a summary derives them alone,
    /// and a compact tally keeps only them.
    overdue: Vec<(Source, String)>,
    /// The latest instant of each contact's personal items: whether a departure takes any
    /// back.
    latest: BTreeMap<String, Timestamp>,
    /// Whether the items are no longer kept (see [`Tally::drop_items`]).
    compact: bool,
}

/// What counting one event reads besides the event: who left, and the promises.
pub(super) struct Known<'a> {
    pub roster: &'a Roster,
    pub promises: &'a Promises,
    pub params: &'a Params,
}

impl Tally {
    /// The tally of `events` (in log order, `index` their place), with `known` read from all
    /// of them.
    pub fn of<'e>(events: impl Iterator<Item = (usize, &'e RecordedEvent)>, known: &Known) -> Self {
        let mut tally = Tally::default();
        for (index, record) in events {
            tally.count(index, record, known);
        }
        tally
    }

    /// How many entries, placeholders, day sums and windows in the caps' memory there are:
    /// the tally's size.
    pub fn len(&self) -> usize {
        let windows = self.touch_used.values().map(BTreeMap::len).sum::<usize>()
            + self
                .favor_windows
                .values()
                .map(BTreeSet::len)
                .sum::<usize>();
        self.entries.len() + self.overdue.len() + self.sums.len() + windows
    }

    /// The items' raw evidence by channel, half-life and day.
    pub fn sums(&self) -> &DaySums {
        &self.sums
    }

    fn keep(&mut self, item: Evidence) {
        self.sums.add(&item);
        if let Channel::Personal { contact_id } = &item.channel {
            match self.latest.get_mut(contact_id) {
                Some(latest) => *latest = (*latest).max(item.at),
                None => drop(self.latest.insert(contact_id.clone(), item.at)),
            }
        }
        if !self.compact {
            self.entries.push(Entry::Item(item));
        }
    }

    /// Keeps only what the trust fold and further counting read: the day sums, the caps'
    /// memory and the overdue placeholders, not each item. Explanations need the items, and a
    /// departure that takes evidence back needs the events to count again.
    pub fn drop_items(&mut self) {
        self.compact = true;
        self.entries = Vec::new();
    }

    /// Keeps of the day sums only what evidence aged to day `horizon` or later reads (see
    /// `DaySums::keep_from`), and of the caps' memory only the windows that hold day `horizon`
    /// or a later one: for a compact state, which takes no evidence dated before it, so no
    /// event can land in a window that ended earlier.
    pub fn keep_days_from(&mut self, horizon: i64, params: &Params) {
        self.sums.keep_from(horizon);
        let touch = window(horizon, params.touch_window_days);
        for windows in self.touch_used.values_mut() {
            windows.retain(|window, _| *window >= touch);
        }
        self.touch_used.retain(|_, windows| !windows.is_empty());
        let favor = window(horizon, params.favor_window_days);
        for windows in self.favor_windows.values_mut() {
            windows.retain(|window| *window >= favor);
        }
        self.favor_windows.retain(|_, windows| !windows.is_empty());
    }

    /// Whether contact `id` has evidence dated after `left_at`: a departure recorded after
    /// such evidence takes it back, and the contact's caps count again without it.
    pub fn has_evidence_after(&self, id: &str, left_at: Timestamp) -> bool {
        self.latest.get(id).is_some_and(|&latest| latest > left_at)
    }

    /// Counts event `record`, the `index`th of the account's events read. `known` must
    /// already include it.
    pub fn count(&mut self, index: usize, record: &RecordedEvent, known: &Known) {
        let event = &record.event;
        let src = Source {
            index,
            id: event.event_id,
            kind: event.payload.event_type(),
            at: event.occurred_at,
        };
        let w = &known.params.weights;
        match &event.payload {
            EventPayload::IntroductionMade(intro) => self.personal(
                known,
                &src,
                &intro.contact_id,
                Factor::IntroductionPositive,
                Counted::personal(&w.introduction),
            ),
            EventPayload::Visit(visit) => {
                let mut seen = BTreeSet::new();
                for contact in visit.contact_ids.iter().filter(|id| seen.insert(*id)) {
                    let factors = (Factor::VisitPositive, Factor::VisitOverCap);
                    self.touch(known, &src, contact, factors, &w.visit);
                }
            }
            EventPayload::Call(call) => {
                let factors = (Factor::CallPositive, Factor::CallOverCap);
                self.touch(known, &src, &call.contact_id, factors, &w.call);
            }
            EventPayload::PromiseMade(made) => {
                // The overdue evidence is derived from the promise, so it sits at the
                // promise's place in the log, dated when the grace period ended.
                let Some(promise) = known.promises.by_id.get(&made.promise_id) else {
                    return;
                };
                if promise.made_event == event.event_id {
                    if !settled(promise, known.roster) {
                        self.overdue.push((src, made.promise_id.clone()));
                    }
                    if !self.compact {
                        self.entries.push(Entry::Overdue {
                            made: src,
                            promise_id: made.promise_id.clone(),
                        });
                    }
                }
            }
            EventPayload::PromiseKept(PromiseKept { promise_id, .. })
            | EventPayload::PromiseBroken(PromiseBroken { promise_id, .. }) => {
                // Only the first outcome of a promise made counts; repeats say nothing new.
                let Some(promise) = known.promises.by_id.get(promise_id) else {
                    return;
                };
                if promise
                    .outcome
                    .is_some_and(|o| o.event_id == event.event_id)
                {
                    let kept = matches!(event.payload, EventPayload::PromiseKept(_));
                    self.outcome(known, &src, promise, kept);
                    if settled(promise, known.roster) {
                        self.overdue.retain(|(_, id)| id != promise_id);
                    }
                }
            }
            EventPayload::SolutionDelivered(solution) => {
                let mut seen = BTreeSet::new();
                for contact in solution.contact_ids.iter().filter(|id| seen.insert(*id)) {
                    let n = Counted::personal(&w.solution);
                    self.personal(known, &src, contact, Factor::SolutionPositive, n);
                }
                self.org(&src, Factor::SolutionPositive, Counted::org(&w.solution));
            }
            EventPayload::ThirdPartyProofShared(proof) => self.proof(known, &src, proof.kind),
            EventPayload::FavorGiven(favor) => self.favor(known, &src, &favor.contact_id),
            EventPayload::CriticalAssistance(help) => {
                let f = Factor::CriticalAssistancePositive;
                let mut seen = BTreeSet::new();
                for contact in help.contact_ids.iter().filter(|id| seen.insert(*id)) {
                    let n = Counted::personal(&w.critical_assistance);
                    self.personal(known, &src, contact, f, n);
                }
                self.org(&src, f, Counted::org(&w.critical_assistance));
            }
            // Orders, payments, costs and price pressure feed the commercial figures, never
            // trust; contacts and the account itself are read by the roster.
            _ => {}
        }
    }

    fn personal(&mut self, known: &Known, src: &Source, contact: &str, f: Factor, n: Counted) {
        if counts_for(known.roster, src, contact) {
            let channel = Channel::Personal {
                contact_id: contact.to_string(),
            };
            self.keep(item(src, channel, f, n));
        }
    }

    fn org(&mut self, src: &Source, f: Factor, n: Counted) {
        self.keep(item(src, Channel::Organizational, f, n));
    }

    /// A visit or call: at most `touch_cap_per_window` per contact per fixed window; the
    /// event that crosses the cap counts only what is left of it.
    fn touch(
        &mut self,
        known: &Known,
        src: &Source,
        contact: &str,
        (within, over): (Factor, Factor),
        w: &EvidenceWeight,
    ) {
        if !counts_for(known.roster, src, contact) {
            return;
        }
        let params = known.params;
        let window = window(src.at.day_number(), params.touch_window_days);
        let used = self
            .touch_used
            .entry(contact.to_string())
            .or_default()
            .entry(window)
            .or_insert(0.0);
        let left = params.touch_cap_per_window - *used;
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
        self.personal(known, src, contact, f, n);
    }

    /// A favor: its value never counts, and only the first per contact per fixed window.
    fn favor(&mut self, known: &Known, src: &Source, contact: &str) {
        if !counts_for(known.roster, src, contact) {
            return;
        }
        let w = known.params.weights.favor;
        let window = window(src.at.day_number(), known.params.favor_window_days);
        let windows = self.favor_windows.entry(contact.to_string()).or_default();
        if windows.insert(window) {
            let n = Counted::personal(&w);
            self.personal(known, src, contact, Factor::FavorPositive, n);
        } else {
            let n = Counted::zero(&w);
            self.personal(known, src, contact, Factor::FavorOverCap, n);
        }
    }

    /// The evidence of `promise`'s outcome `src`, kept or broken.
    fn outcome(&mut self, known: &Known, src: &Source, promise: &Promise, kept: bool) {
        let (factor, weight) = outcome_weight(known.params, kept);
        if let Some(contact) = &promise.contact_id {
            self.personal(known, src, contact, factor, Counted::personal(&weight));
        }
        self.org(src, factor, Counted::org(&weight));
    }

    /// Third-party proof: one counted per proof kind, the first in log order.
    fn proof(&mut self, known: &Known, src: &Source, kind: ProofKind) {
        let w = known.params.weights.proof;
        if self.proof_kinds.insert(kind) {
            self.org(src, Factor::ThirdPartyProofPositive, Counted::org(&w));
        } else {
            self.org(src, Factor::ThirdPartyProofRepeated, Counted::zero(&w));
        }
    }
}

/// The rule and weight of a promise's outcome, kept or broken.
fn outcome_weight(params: &Params, kept: bool) -> (Factor, EvidenceWeight) {
    let w = &params.weights;
    if kept {
        (Factor::PromiseKeptPositive, w.promise_kept)
    } else {
        (Factor::PromiseBrokenNegative, w.promise_broken)
    }
}

/// Whether `promise` can derive no overdue evidence as of any instant a tally is aged to (no
/// earlier than its events, the outcome's included), so that its placeholder need not be
/// kept for summaries ([`Collector::derive`]): it has an outcome, and no contact who left
/// (one frozen before the outcome still finds it overdue). A contact who leaves later in log
/// order leaves after the outcome; one whose departure is recorded late has the tally
/// counted again (or a compact state built again from the history).
pub(super) fn settled(promise: &Promise, roster: &Roster) -> bool {
    promise.outcome.is_some()
        && promise
            .contact_id
            .as_ref()
            .is_none_or(|contact| roster.contact(contact).is_active())
}

/// The fixed window of `days` days that UTC day `day` falls in: `floor(day / days)` from the
/// epoch (see the module docs), the same for every query.
pub(super) fn window(day: i64, days: u32) -> i64 {
    day.div_euclid(i64::from(days.max(1)))
}

/// Whether `contact`'s evidence from `src` counts: not when it comes after the contact left
/// (its score is frozen and nothing later reaches it).
fn counts_for(roster: &Roster, src: &Source, contact: &str) -> bool {
    roster
        .contacts
        .get(contact)
        .and_then(|c| c.left)
        .is_none_or(|(left_at, _)| src.at <= left_at)
}

/// Ages evidence to one instant: each item to its clock, and each promise's overdue evidence
/// derived as of that instant.
pub(super) struct Collector<'a> {
    params: &'a Params,
    as_of: Timestamp,
    roster: &'a Roster,
    items: Vec<Evidence>,
}

impl<'a> Collector<'a> {
    pub fn new(params: &'a Params, as_of: Timestamp, roster: &'a Roster) -> Self {
        Collector {
            params,
            as_of,
            roster,
            items: Vec::new(),
        }
    }

    /// The items collected, in log order of their events.
    pub fn into_items(self) -> Vec<Evidence> {
        self.items
    }

    /// Every entry of `tally` aged to the collector's instant.
    pub fn age(&mut self, tally: &Tally, promises: &Promises) {
        self.items.reserve(tally.entries.len());
        let mut decays = Decays::default();
        for entry in &tally.entries {
            match entry {
                Entry::Item(item) => {
                    let clock = match &item.channel {
                        Channel::Personal { contact_id } => self
                            .roster
                            .contacts
                            .get(contact_id)
                            .map_or(self.as_of, |c| c.clock(self.as_of)),
                        Channel::Organizational => self.as_of,
                    };
                    let age = clock.calendar_days_since(item.at);
                    let weight = decays.of(age, item.half_life_days);
                    let mut aged = item.clone();
                    aged.clock = clock;
                    aged.weight = weight;
                    self.items.push(aged);
                }
                Entry::Overdue { made, promise_id } => {
                    if let Some(promise) = promises.by_id.get(promise_id) {
                        self.promise_overdue(made, promise);
                    }
                }
            }
        }
    }

    /// Only the overdue evidence of `tally`'s promises, derived as of the collector's instant:
    /// what the trust fold needs besides the tally's day sums.
    pub fn derive(&mut self, tally: &Tally, promises: &Promises) {
        for (made, promise_id) in &tally.overdue {
            if let Some(promise) = promises.by_id.get(promise_id) {
                self.promise_overdue(made, promise);
            }
        }
    }

    fn push(&mut self, src: &Source, channel: Channel, f: Factor, n: Counted, clock: Timestamp) {
        let mut item = item(src, channel, f, n);
        item.set_clock(clock);
        self.items.push(item);
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
            // Overdue at the contact's clock means dated no later than it: the evidence of a
            // promise that turned overdue after the contact left never reaches the contact.
            if promise.status_at(clock, self.params) == PromiseStatus::Overdue {
                let channel = Channel::Personal {
                    contact_id: contact.clone(),
                };
                self.push(
                    &due,
                    channel,
                    Factor::PromiseOverdueNegative,
                    Counted::personal(&w),
                    clock,
                );
            }
        }
        if promise.status_at(self.as_of, self.params) == PromiseStatus::Overdue {
            let clock = self.as_of;
            self.push(
                &due,
                Channel::Organizational,
                Factor::PromiseOverdueNegative,
                Counted::org(&w),
                clock,
            );
        }
    }

    /// The evidence of `promise`'s outcome `src`, kept or broken, aged to the collector's
    /// instant.
    pub fn promise_outcome(&mut self, src: &Source, promise: &Promise, kept: bool) {
        let (factor, weight) = outcome_weight(self.params, kept);
        if let Some(contact) = &promise.contact_id {
            let clock = self.roster.contact(contact).clock(self.as_of);
            if src.at <= clock {
                let channel = Channel::Personal {
                    contact_id: contact.clone(),
                };
                self.push(src, channel, factor, Counted::personal(&weight), clock);
            }
        }
        let clock = self.as_of;
        self.push(
            src,
            Channel::Organizational,
            factor,
            Counted::org(&weight),
            clock,
        );
    }
}
