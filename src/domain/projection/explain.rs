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

/// Every score's contributions, biggest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Explained {
    /// By contact id.
    pub personal: BTreeMap<String, Vec<Contribution>>,
    /// The account's.
    pub org: Vec<Contribution>,
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

/// Biggest first: by the size of the delta, then of the effective evidence, then log order.
fn sort(list: &mut [(usize, Contribution)]) {
    list.sort_by(|(ia, a), (ib, b)| {
        let weight = |c: &Contribution| c.effective_r.abs() + c.effective_s.abs();
        b.delta
            .abs()
            .total_cmp(&a.delta.abs())
            .then(weight(b).total_cmp(&weight(a)))
            .then(ia.cmp(ib))
    });
}

/// The contributions of every event with evidence in `set` (collected from `events` as of
/// `as_of`, folded into `fold`).
pub(crate) fn explain(
    events: &[&RecordedEvent],
    set: &EvidenceSet,
    fold: &TrustFold,
    params: &Params,
) -> Explained {
    let loo = LeaveOneOut::new(events, set, fold, params);
    let mut personal: BTreeMap<String, Vec<(usize, Contribution)>> = BTreeMap::new();
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
                let c = contribution(item, vec![part(item, 1.0)], d);
                personal
                    .entry(contact_id.clone())
                    .or_default()
                    .push((index, c));
            }
        }
        let org_parts: Vec<EvidencePart> = items
            .iter()
            .filter_map(|i| org_share(i, set, params).map(|s| part(i, s)))
            .collect();
        if !org_parts.is_empty() {
            let d = delta(fold.org, without.as_ref().map(|w| w.org));
            org.push((index, contribution(items[0], org_parts, d)));
        }
    }
    let finish = |mut list: Vec<(usize, Contribution)>| {
        sort(&mut list);
        list.into_iter().map(|(_, c)| c).collect::<Vec<_>>()
    };
    Explained {
        personal: personal
            .into_iter()
            .map(|(id, list)| (id, finish(list)))
            .collect(),
        org: finish(org),
    }
}

#[cfg(test)]
pub(crate) mod tests;
