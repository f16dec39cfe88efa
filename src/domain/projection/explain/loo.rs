//! Leave-one-out folds from the fold's sums.
//!
//! Refolding every item without one event is O(n) per event and O(n²) per explanation. Here
//! the fold's per-channel sums are taken once; leaving an event out subtracts its items'
//! effective (decayed) evidence from the channels they fed, recounts only what shares a cap
//! with it (its contact's touch or favor window, its proof kind: a few items) or derives what
//! its promise becomes without it, and recomputes the organizational transfer from the
//! per-contact sums (O(contacts)). The model is unchanged: the "without" evidence is the same
//! set of items with the same raw values and decay as a refold would collect, only summed as
//! `total - removed + added` instead of from zero, so a delta can differ from a refold's in
//! its last bits (tests allow 1e-12). It is still deterministic: the same inputs go through
//! the same operations in the same order (item order, then `BTreeMap` order).

use std::collections::BTreeMap;

use crate::domain::event::{EventPayload, EventType, ProofKind};
use crate::domain::record::RecordedEvent;

use crate::domain::projection::evidence::{Channel, Evidence, EvidenceSet, Factor};
use crate::domain::projection::params::Params;
use crate::domain::projection::trust::{Beta, TrustFold};

mod promises;
use promises::promise_id;

/// The trust channels without one event: the contacts whose evidence changed, and the
/// account's channel.
pub(super) struct Without {
    /// The contacts whose evidence changed (every contact, for a refold).
    personal: BTreeMap<String, Beta>,
    /// Whether `personal` is a whole refold's: a contact missing from it has no evidence.
    refolded: bool,
    /// The organizational channel.
    pub org: Beta,
}

impl Without {
    /// A whole refold's channels.
    pub fn refolded(fold: TrustFold) -> Self {
        Without {
            personal: fold.personal,
            refolded: true,
            org: fold.org,
        }
    }

    /// Contact `id`'s evidence without the event (`fold` is the one with it).
    pub fn personal_of(&self, id: &str, fold: &TrustFold) -> Beta {
        match self.personal.get(id) {
            Some(beta) => *beta,
            None if self.refolded => Beta::default(),
            None => fold.personal_of(id),
        }
    }
}

/// What leaving an event out does to the items: some go, some are recounted or derived.
#[derive(Default)]
struct Change<'a> {
    removed: Vec<&'a Evidence>,
    added: Vec<Evidence>,
}

impl<'a> Change<'a> {
    /// `old` now counts as `new`.
    fn replace(&mut self, old: &'a Evidence, new: Evidence) {
        self.removed.push(old);
        self.added.push(new);
    }
}

/// Whether an item adds anything to its channel's sum.
fn counts(item: &Evidence) -> bool {
    item.raw_r != 0.0 || item.raw_s != 0.0
}

fn window(item: &Evidence, days: u32) -> i64 {
    crate::domain::projection::caps::window(item.at.day_number(), days)
}

/// A channel's sum and how many items count in it: when none is left, the sum is exactly
/// zero, as a refold would find it.
#[derive(Clone, Copy)]
struct Sum {
    beta: Beta,
    items: i64,
}

/// Everything computed once per explanation, so that each event's fold without it is local.
pub(super) struct LeaveOneOut<'a> {
    events: &'a [&'a RecordedEvent],
    set: &'a EvidenceSet,
    fold: &'a TrustFold,
    params: &'a Params,
    /// Item indices by event index.
    by_event: BTreeMap<usize, Vec<usize>>,
    /// The organizational channel's direct evidence, as the fold summed it.
    direct: Sum,
    /// How many items count in each contact's channel.
    personal_items: BTreeMap<&'a str, i64>,
    /// Every contact of the fold, in its order, with its role weight if active.
    contacts: Vec<(&'a str, Option<f64>)>,
    /// Touch items (counted or over the cap) by contact and fixed window, in item order.
    touches: BTreeMap<(&'a str, i64), Vec<usize>>,
    /// Favor items by contact and fixed window, in item order.
    favors: BTreeMap<(&'a str, i64), Vec<usize>>,
    /// Proof items by kind, in item order.
    proofs: BTreeMap<ProofKind, Vec<usize>>,
    /// Per promise id: its `promise_made` events, and its outcome events after the first,
    /// in log order (as `Promises::read` sees them).
    made: BTreeMap<&'a str, Vec<usize>>,
    outcomes: BTreeMap<&'a str, Vec<usize>>,
}

impl<'a> LeaveOneOut<'a> {
    pub fn new(
        events: &'a [&'a RecordedEvent],
        set: &'a EvidenceSet,
        fold: &'a TrustFold,
        params: &'a Params,
    ) -> Self {
        let mut by_event: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut direct = Sum {
            beta: fold.direct,
            items: 0,
        };
        let mut personal_items: BTreeMap<&str, i64> = BTreeMap::new();
        let mut touches: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
        let mut favors: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
        let mut proofs: BTreeMap<ProofKind, Vec<usize>> = BTreeMap::new();
        for (k, item) in set.items.iter().enumerate() {
            by_event.entry(item.event_index).or_default().push(k);
            let n = i64::from(counts(item));
            let contact = match &item.channel {
                Channel::Organizational => {
                    direct.items += n;
                    None
                }
                Channel::Personal { contact_id } => {
                    *personal_items.entry(contact_id.as_str()).or_default() += n;
                    Some(contact_id.as_str())
                }
            };
            match (item.factor, contact) {
                (
                    Factor::VisitPositive
                    | Factor::VisitOverCap
                    | Factor::CallPositive
                    | Factor::CallOverCap,
                    Some(c),
                ) => {
                    let key = (c, window(item, params.touch_window_days));
                    touches.entry(key).or_default().push(k);
                }
                (Factor::FavorPositive | Factor::FavorOverCap, Some(c)) => {
                    let key = (c, window(item, params.favor_window_days));
                    favors.entry(key).or_default().push(k);
                }
                (Factor::ThirdPartyProofPositive | Factor::ThirdPartyProofRepeated, _) => {
                    if let EventPayload::ThirdPartyProofShared(p) =
                        &events[item.event_index].event.payload
                    {
                        proofs.entry(p.kind).or_default().push(k);
                    }
                }
                _ => {}
            }
        }
        let mut made: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut outcomes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, event) in events.iter().enumerate() {
            let Some(id) = promise_id(event) else {
                continue;
            };
            match event.event.payload.event_type() {
                EventType::PromiseMade => made.entry(id).or_default().push(i),
                // An outcome before its promise was made is ignored, as `Promises::read` does.
                _ if made.contains_key(id) => outcomes.entry(id).or_default().push(i),
                _ => {}
            }
        }
        let contacts = fold
            .personal
            .keys()
            .map(|id| {
                let contact = set.roster.contact(id);
                let rw = contact
                    .is_active()
                    .then(|| params.role_weights.of(contact.role));
                (id.as_str(), rw)
            })
            .collect();
        LeaveOneOut {
            events,
            set,
            fold,
            params,
            by_event,
            direct,
            personal_items,
            contacts,
            touches,
            favors,
            proofs,
            made,
            outcomes,
        }
    }

    /// The events with evidence, in log order, with their items.
    pub fn events(&self) -> impl Iterator<Item = (usize, Vec<&'a Evidence>)> + '_ {
        self.by_event
            .iter()
            .map(|(&i, items)| (i, items.iter().map(|&k| &self.set.items[k]).collect()))
    }

    /// The fold without event `index`; `None` when that is not a local change (a promise
    /// made twice under one id, whose second `promise_made` would take over): refold then.
    pub fn without(&self, index: usize) -> Option<Without> {
        let items = &self.set.items;
        let mut change = Change::default();
        let own = self.by_event.get(&index).map_or(&[][..], Vec::as_slice);
        change.removed.extend(own.iter().map(|&k| &items[k]));
        match self.events[index].event.payload.event_type() {
            EventType::PromiseMade => self.promise_made_left_out(index, &mut change)?,
            EventType::PromiseKept | EventType::PromiseBroken => {
                self.outcome_left_out(index, &mut change)
            }
            _ => {
                for &k in own {
                    let item = &items[k];
                    match item.factor {
                        Factor::VisitPositive | Factor::CallPositive => {
                            self.recount_touches(index, item, &mut change)
                        }
                        Factor::FavorPositive => self.next_favor(index, item, &mut change),
                        Factor::ThirdPartyProofPositive => self.next_proof(k, &mut change),
                        // Took nothing from any cap, or takes part in none.
                        _ => {}
                    }
                }
            }
        }
        self.apply(&change)
    }

    /// Recounts the touch cap of `item`'s contact and window without event `index`, with
    /// exactly the arithmetic of `caps`, in the same order.
    fn recount_touches(&self, index: usize, item: &Evidence, change: &mut Change<'a>) {
        let Channel::Personal { contact_id } = &item.channel else {
            return;
        };
        let key = (
            contact_id.as_str(),
            window(item, self.params.touch_window_days),
        );
        let Some(group) = self.touches.get(&key) else {
            return;
        };
        let p = self.params;
        let mut used = 0.0_f64;
        for &k in group {
            let o = &self.set.items[k];
            if o.event_index == index {
                continue;
            }
            let visit = o.event_type == EventType::Visit;
            let w = if visit {
                &p.weights.visit
            } else {
                &p.weights.call
            };
            let left = p.touch_cap_per_window - used;
            let counted = if left > 0.0 {
                w.personal_r.min(left)
            } else {
                0.0
            };
            used += counted;
            if counted.to_bits() != o.raw_r.to_bits() {
                let mut recounted = o.clone();
                recounted.raw_r = counted;
                recounted.factor = match (visit, counted > 0.0) {
                    (true, true) => Factor::VisitPositive,
                    (true, false) => Factor::VisitOverCap,
                    (false, true) => Factor::CallPositive,
                    (false, false) => Factor::CallOverCap,
                };
                change.replace(o, recounted);
            }
        }
    }

    /// Without event `index`, the next favor of `item`'s contact and window counts instead.
    fn next_favor(&self, index: usize, item: &Evidence, change: &mut Change<'a>) {
        let Channel::Personal { contact_id } = &item.channel else {
            return;
        };
        let key = (
            contact_id.as_str(),
            window(item, self.params.favor_window_days),
        );
        let next = self.favors.get(&key).and_then(|group| {
            group
                .iter()
                .map(|&k| &self.set.items[k])
                .find(|o| o.event_index != index)
        });
        if let Some(o) = next {
            let w = &self.params.weights.favor;
            let mut counted = o.clone();
            counted.factor = Factor::FavorPositive;
            counted.raw_r = w.personal_r;
            counted.raw_s = w.personal_s;
            change.replace(o, counted);
        }
    }

    /// Without the counted proof `item_index`, the next proof of its kind counts instead.
    fn next_proof(&self, item_index: usize, change: &mut Change<'a>) {
        let item = &self.set.items[item_index];
        let EventPayload::ThirdPartyProofShared(p) = &self.events[item.event_index].event.payload
        else {
            return;
        };
        let next = self.proofs.get(&p.kind).and_then(|group| {
            group
                .iter()
                .map(|&k| &self.set.items[k])
                .find(|o| o.event_index != item.event_index)
        });
        if let Some(o) = next {
            let w = &self.params.weights.proof;
            let mut counted = o.clone();
            counted.factor = Factor::ThirdPartyProofPositive;
            counted.raw_r = w.org_r;
            counted.raw_s = w.org_s;
            change.replace(o, counted);
        }
    }

    /// The channels with `change` applied to the fold's sums.
    fn apply(&self, change: &Change<'a>) -> Option<Without> {
        let mut personal: BTreeMap<&str, Sum> = BTreeMap::new();
        let mut direct = self.direct;
        let mut direct_changed = false;
        let removed = change.removed.iter().map(|&i| (i, -1.0, -1));
        let added = change.added.iter().map(|i| (i, 1.0, 1));
        for (item, sign, n) in removed.chain(added) {
            let sum = match &item.channel {
                Channel::Organizational => {
                    direct_changed = true;
                    &mut direct
                }
                Channel::Personal { contact_id } => {
                    let id = contact_id.as_str();
                    // Every contact with evidence is one of the fold's.
                    let items = *self.personal_items.get(id)?;
                    personal.entry(id).or_insert(Sum {
                        beta: self.fold.personal_of(id),
                        items,
                    })
                }
            };
            let w = item.decay();
            sum.beta.r += sign * (item.raw_r * w);
            sum.beta.s += sign * (item.raw_s * w);
            sum.items += i64::from(counts(item)) * n;
        }
        for sum in personal.values_mut().chain(std::iter::once(&mut direct)) {
            if sum.items == 0 {
                sum.beta = Beta::default();
            }
        }
        let active_changed = self
            .contacts
            .iter()
            .any(|(id, rw)| rw.is_some() && personal.contains_key(id));
        let org = if direct_changed || active_changed {
            // r_A = r_direct + transfer * sum(role_weight(c) * r_c), as the fold sums it.
            let mut weighted = Beta::default();
            for &(id, rw) in &self.contacts {
                let Some(rw) = rw else { continue };
                let b = personal
                    .get(id)
                    .map_or_else(|| self.fold.personal_of(id), |s| s.beta);
                weighted.r += rw * b.r;
                weighted.s += rw * b.s;
            }
            let t = self.params.personal_transfer;
            Beta {
                r: direct.beta.r + t * weighted.r,
                s: direct.beta.s + t * weighted.s,
            }
        } else {
            self.fold.org
        };
        let personal = personal
            .into_iter()
            .map(|(id, s)| (id.to_string(), s.beta))
            .collect();
        Some(Without {
            personal,
            refolded: false,
            org,
        })
    }
}
