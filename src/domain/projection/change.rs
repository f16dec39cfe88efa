//! What changed a score between two checkpoints: time, and the evidence that came and went.
//!
//! Beta reputation is not additive, so a change is split along a path rather than summed:
//! first the evidence held at `from` ages to `to`'s clock, then the evidence that arrived
//! (or left) takes the score to its value at `to`. The arrivals are listed as the
//! contributions they are at `to`, with their exact leave-one-out deltas there.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::evidence::{Channel, Evidence, EvidenceSet, Factor};
use super::explain::{explain, Contribution, Explained, Listed};
use super::params::Params;
use super::trust::{assess, TrustFold};

/// The identity of an item of evidence: an event's say on a channel by a rule, with its
/// counted weight (a cap can change it when an earlier-logged event arrives).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EvidenceKey {
    event_id: EventId,
    channel: Channel,
    factor: Factor,
    raw_bits: (u64, u64),
}

impl EvidenceKey {
    fn new(event_id: EventId, channel: Channel, factor: Factor, r: f64, s: f64) -> Self {
        EvidenceKey {
            event_id,
            channel,
            factor,
            raw_bits: (r.to_bits(), s.to_bits()),
        }
    }

    fn of(item: &Evidence) -> Self {
        EvidenceKey::new(
            item.event_id,
            item.channel.clone(),
            item.factor,
            item.raw_r,
            item.raw_s,
        )
    }
}

/// A point to compare projections at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Checkpoint {
    /// The account's events up to and including this global log position, as of the newest
    /// `occurred_at` among them (the epoch when there are none): what the ledger knew then.
    Position(u64),
    /// The events that occurred by this instant, as of it: what was true then.
    Time(Timestamp),
    /// The account's events up to and including this global log position that occurred by
    /// `as_of`, as of `as_of`: what the ledger knew at `position`, judged at `as_of` (the
    /// service uses the instant the record at `position` was recorded).
    Known {
        /// The last global log position counted.
        position: u64,
        /// The instant the projection is evaluated at.
        as_of: Timestamp,
    },
}

/// How one score changed between two checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreChange {
    /// Expected trust at `from`.
    pub expected_from: f64,
    /// Expected trust at `to`.
    pub expected_to: f64,
    /// `expected_to - expected_from`.
    pub delta: f64,
    /// `P(the evidence of from, aged to to's as_of) - P(from)`: what time alone did.
    pub decay_delta: f64,
    /// `expected_to - P(the evidence of from, aged)`: what arriving (and departing) evidence
    /// did; `decay_delta + arrivals_delta = delta` up to one rounding.
    pub arrivals_delta: f64,
    /// Contributions at `to` of evidence that was not there at `from`, with their
    /// leave-one-out deltas at `to`, biggest first.
    pub added: Vec<Contribution>,
    /// Contributions at `from` of evidence gone at `to` (an overdue promise settled, a
    /// contact who left, a cap taken by an earlier-logged event), with their deltas at `from`.
    pub removed: Vec<Contribution>,
}

/// How the account's trust changed between two checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustChange {
    /// The `as_of` of `from`.
    pub from_as_of: Timestamp,
    /// The `as_of` of `to`.
    pub to_as_of: Timestamp,
    /// The parameter set used.
    pub params_version: &'static str,
    /// The account's organizational trust.
    pub organizational: ScoreChange,
    /// Each contact's personal trust, by contact id.
    pub personal: BTreeMap<String, ScoreChange>,
}

/// The trust side of a projection: evidence, fold and contributions.
struct TrustAt {
    set: EvidenceSet,
    fold: TrustFold,
    explained: Explained,
}

impl TrustAt {
    fn at(all: &[RecordedEvent], checkpoint: Checkpoint, params: &Params) -> Self {
        let (events, as_of): (Vec<&RecordedEvent>, Timestamp) = match checkpoint {
            Checkpoint::Time(t) => (super::trust::visible(all, t), t),
            Checkpoint::Position(p) => {
                let events: Vec<&RecordedEvent> = all.iter().filter(|e| e.position <= p).collect();
                let as_of = events
                    .iter()
                    .map(|e| e.event.occurred_at)
                    .max()
                    .unwrap_or(Timestamp::EPOCH);
                (events, as_of)
            }
            Checkpoint::Known { position, as_of } => {
                let known = all
                    .iter()
                    .filter(|e| e.position <= position && e.event.occurred_at <= as_of);
                (known.collect(), as_of)
            }
        };
        let (set, fold) = assess(&events, as_of, params);
        let explained = explain(&events, &set, &fold, params, None);
        TrustAt {
            set,
            fold,
            explained,
        }
    }

    /// `from`'s evidence aged to `clock`, folded with `from`'s contacts.
    fn aged_to(&self, clock: Timestamp, params: &Params) -> TrustFold {
        let mut set = self.set.clone();
        set.as_of = clock;
        set.items = self
            .set
            .items
            .iter()
            .map(|item| {
                let frozen = match &item.channel {
                    Channel::Personal { contact_id } => {
                        !self.set.roster.contact(contact_id).is_active()
                    }
                    Channel::Organizational => false,
                };
                item.aged_to(clock, frozen)
            })
            .collect();
        super::trust::fold(&set, params)
    }
}

fn change(
    p_from: f64,
    p_aged: f64,
    p_to: f64,
    (from, to): (&[Contribution], &[Contribution]),
    (from_keys, to_keys): (&BTreeSet<EvidenceKey>, &BTreeSet<EvidenceKey>),
) -> ScoreChange {
    let added = to
        .iter()
        .filter(|c| !keys(c).is_subset(from_keys))
        .cloned()
        .collect();
    let removed = from
        .iter()
        .filter(|c| !keys(c).is_subset(to_keys))
        .cloned()
        .collect();
    ScoreChange {
        expected_from: p_from,
        expected_to: p_to,
        delta: p_to - p_from,
        decay_delta: p_aged - p_from,
        arrivals_delta: p_to - p_aged,
        added,
        removed,
    }
}

/// Why trust changed between `from` and `to`.
///
/// The change of each score splits in two: first the evidence held at `from` ages to `to`'s
/// `as_of` (`decay_delta`; a frozen contact's evidence does not age), then the evidence that
/// arrived or left takes it to the score at `to` (`arrivals_delta`). The arrivals are listed
/// as contributions: evidence present at `to` but not at `from` (new events, promises that
/// turned overdue, evidence whose capped weight changed) and evidence present at `from` but
/// gone at `to`. Either checkpoint may be a log position or a time, and `to` may be earlier.
pub fn explain_change(
    account_events: &[RecordedEvent],
    from: Checkpoint,
    to: Checkpoint,
    params: &Params,
) -> TrustChange {
    let a = TrustAt::at(account_events, from, params);
    let b = TrustAt::at(account_events, to, params);
    let aged = a.aged_to(b.set.as_of, params);
    let keys = |set: &EvidenceSet| {
        set.items
            .iter()
            .map(EvidenceKey::of)
            .collect::<BTreeSet<_>>()
    };
    let (ka, kb) = (keys(&a.set), keys(&b.set));
    let organizational = change(
        a.fold.org.expected(params),
        aged.org.expected(params),
        b.fold.org.expected(params),
        (&a.explained.org.shown, &b.explained.org.shown),
        (&ka, &kb),
    );
    let contacts: BTreeSet<&String> = a
        .fold
        .personal
        .keys()
        .chain(b.fold.personal.keys())
        .collect();
    let none = Listed::default();
    let personal = contacts
        .into_iter()
        .map(|id| {
            let c = change(
                a.fold.personal_of(id).expected(params),
                aged.personal_of(id).expected(params),
                b.fold.personal_of(id).expected(params),
                (
                    &a.explained.personal.get(id).unwrap_or(&none).shown,
                    &b.explained.personal.get(id).unwrap_or(&none).shown,
                ),
                (&ka, &kb),
            );
            (id.clone(), c)
        })
        .collect();
    TrustChange {
        from_as_of: a.set.as_of,
        to_as_of: b.set.as_of,
        params_version: params.params_version,
        organizational,
        personal,
    }
}

/// The identity of the evidence behind a contribution, to tell what arrived between two folds.
fn keys(c: &Contribution) -> BTreeSet<EvidenceKey> {
    c.parts
        .iter()
        .map(|p| EvidenceKey::new(c.event_id, p.channel.clone(), p.factor, p.raw_r, p.raw_s))
        .collect()
}

#[cfg(test)]
mod tests;
