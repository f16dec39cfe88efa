//! Explanations: which events made a score what it is, and what changed it.
//!
//! A contribution is one event's evidence in one score, with the exact leave-one-out delta
//! `P(all) - P(all without this event)`: the fold without the event accounts for caps, frozen
//! contacts and derived overdue promises. It is computed from the fold's sums (`loo`): the
//! event's evidence is subtracted and only what shares a cap or a promise with it is
//! recounted, so explaining an account is O(n log n), not one O(n) refold per event. Beta
//! reputation is not additive, so the deltas do not sum to the score; each one is exactly
//! what that event is worth given all the others.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::evidence::{Channel, Evidence, EvidenceSet, Factor};
use super::params::Params;
use super::trust::{assess, org_share, Beta, TrustFold};

mod loo;
use loo::{LeaveOneOut, Without};

/// One event's evidence on one channel, as it reaches one score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidencePart {
    /// The channel the event fed.
    pub channel: Channel,
    /// The rule applied.
    pub factor: Factor,
    /// Positive evidence after caps, before decay.
    pub raw_r: f64,
    /// Negative evidence after caps, before decay.
    pub raw_s: f64,
    /// Whole days from `occurred_at` to the clock (`as_of`, or when a contact left).
    pub age_days: i64,
    /// `0.5^(age_days / H)`.
    pub decay: f64,
    /// The share reaching this score: 1 on the score's own channel; for the account's
    /// score, `transfer * role weight` of an active contact's personal evidence.
    pub share: f64,
    /// `raw_r * decay * share`.
    pub effective_r: f64,
    /// `raw_s * decay * share`.
    pub effective_s: f64,
}

/// One event's contribution to one score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// The event (for an overdue promise, its `promise_made`).
    pub event_id: EventId,
    /// Its type's wire name.
    pub event_type: &'static str,
    /// When it counts from (for an overdue promise, `due_at` plus the grace period).
    pub occurred_at: Timestamp,
    /// Its evidence in this score: one part for a contact's score, possibly several for the
    /// account's (its own and that of each contact it concerned).
    pub parts: Vec<EvidencePart>,
    /// The sum of the parts' effective positive evidence.
    pub effective_r: f64,
    /// The sum of the parts' effective negative evidence.
    pub effective_s: f64,
    /// `P(all) - P(all without this event)`.
    pub delta: f64,
}

/// Every score's contributions, biggest first: all of them, or the biggest few.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Explained {
    /// By contact id.
    pub personal: BTreeMap<String, Listed>,
    /// The account's.
    pub org: Listed,
}

/// One score's contributions, biggest first, and how many there are in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Listed {
    /// The biggest ones (all of them without a limit).
    pub shown: Vec<Contribution>,
    /// How many events contribute to the score.
    pub total: usize,
}

fn part(item: &Evidence, share: f64) -> EvidencePart {
    let decay = item.decay();
    EvidencePart {
        channel: item.channel.clone(),
        factor: item.factor,
        raw_r: item.raw_r,
        raw_s: item.raw_s,
        age_days: item.age_days(),
        decay,
        share,
        effective_r: item.raw_r * decay * share,
        effective_s: item.raw_s * decay * share,
    }
}

fn contribution(first: &Evidence, parts: Vec<EvidencePart>, delta: f64) -> Contribution {
    Contribution {
        event_id: first.event_id,
        event_type: first.event_type.as_str(),
        occurred_at: first.at,
        effective_r: parts.iter().map(|p| p.effective_r).sum(),
        effective_s: parts.iter().map(|p| p.effective_s).sum(),
        parts,
        delta,
    }
}

/// One event's contribution before it is written out: what orders it, and what makes it.
struct Candidate<'a> {
    /// The event's index, then the candidate's place in its list: log order, whole.
    index: usize,
    place: usize,
    delta: f64,
    /// The sums `contribution` gives its parts, worked out the same way.
    effective_r: f64,
    effective_s: f64,
    /// Each item and the share of it reaching the score.
    parts: Vec<(&'a Evidence, f64)>,
}

impl<'a> Candidate<'a> {
    fn new(index: usize, place: usize, parts: Vec<(&'a Evidence, f64)>, delta: f64) -> Self {
        let effective = |raw: fn(&Evidence) -> f64| -> f64 {
            parts
                .iter()
                .map(|(item, share)| raw(item) * item.decay() * share)
                .sum()
        };
        Candidate {
            index,
            place,
            delta,
            effective_r: effective(|i| i.raw_r),
            effective_s: effective(|i| i.raw_s),
            parts,
        }
    }

    /// Biggest first: by the size of the delta, then of the effective evidence, then log
    /// order. A total order, so the biggest few are the same whether the rest is sorted or not.
    fn biggest_first(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
        let weight = |c: &Candidate| c.effective_r.abs() + c.effective_s.abs();
        b.delta
            .abs()
            .total_cmp(&a.delta.abs())
            .then(weight(b).total_cmp(&weight(a)))
            .then(a.index.cmp(&b.index))
            .then(a.place.cmp(&b.place))
    }

    fn contribution(&self) -> Contribution {
        let parts = self.parts.iter().map(|(i, s)| part(i, *s)).collect();
        contribution(self.parts[0].0, parts, self.delta)
    }
}

/// The biggest `limit` of `candidates` (all without a limit), biggest first, written out.
fn listed(mut candidates: Vec<Candidate>, limit: Option<usize>) -> Listed {
    let total = candidates.len();
    if let Some(limit) = limit.filter(|&l| l < total) {
        if limit == 0 {
            candidates.clear();
        } else {
            candidates.select_nth_unstable_by(limit - 1, Candidate::biggest_first);
            candidates.truncate(limit);
        }
    }
    candidates.sort_by(Candidate::biggest_first);
    Listed {
        shown: candidates.iter().map(Candidate::contribution).collect(),
        total,
    }
}

/// The contributions of every event with evidence in `set` (collected from `events` as of
/// `as_of`, folded into `fold`): each score's biggest `limit` (all of them without one). Every
/// delta is worked out, since the order needs them; only the contributions shown are written.
pub(crate) fn explain(
    events: &[&RecordedEvent],
    set: &EvidenceSet,
    fold: &TrustFold,
    params: &Params,
    limit: Option<usize>,
) -> Explained {
    let loo = LeaveOneOut::new(events, set, fold, params);
    let mut personal: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    let mut org = Vec::new();
    for (index, items) in loo.events() {
        // An event whose evidence all counted zero (over a cap) changes nothing when left
        // out: it took nothing from the caps either.
        let counts = items.iter().any(|i| i.raw_r != 0.0 || i.raw_s != 0.0);
        let without = counts.then(|| {
            if let Some(without) = loo.without(index) {
                return without;
            }
            let rest: Vec<&RecordedEvent> = events
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, e)| *e)
                .collect();
            Without::refolded(assess(&rest, set.as_of, params).1)
        });
        let delta = |now: Beta, then: Option<Beta>| {
            then.map_or(0.0, |then| now.expected(params) - then.expected(params))
        };
        for item in &items {
            if let Channel::Personal { contact_id } = &item.channel {
                let then = without.as_ref().map(|w| w.personal_of(contact_id, fold));
                let d = delta(fold.personal_of(contact_id), then);
                let list = personal.entry(contact_id.clone()).or_default();
                list.push(Candidate::new(index, list.len(), vec![(*item, 1.0)], d));
            }
        }
        let org_parts: Vec<(&Evidence, f64)> = items
            .iter()
            .filter_map(|i| org_share(i, set, params).map(|s| (*i, s)))
            .collect();
        if !org_parts.is_empty() {
            let d = delta(fold.org, without.as_ref().map(|w| w.org));
            org.push(Candidate::new(index, org.len(), org_parts, d));
        }
    }
    Explained {
        personal: personal
            .into_iter()
            .map(|(id, list)| (id, listed(list, limit)))
            .collect(),
        org: listed(org, limit),
    }
}

#[cfg(test)]
pub(crate) mod tests;
