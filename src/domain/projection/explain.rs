//! Explanations: which events made a score what it is, and what changed it.
//!
//! A contribution is one event's evidence in one score, with the exact leave-one-out delta
//! `P(all) - P(all without this event)`: the whole fold is recomputed without the event, so
//! caps, frozen contacts and derived overdue promises are all accounted for, at the cost of
//! one refold per contributing event. Beta reputation is not additive, so the deltas do not
//! sum to the score; each one is exactly what that event is worth given all the others.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::evidence::{Channel, Evidence, EvidenceSet, Factor};
use super::params::Params;
use super::trust::{assess, org_share, Beta, TrustFold};

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

impl Contribution {
    /// The identity of the evidence behind it, to tell what arrived between two folds.
    fn keys(&self) -> BTreeSet<EvidenceKey> {
        self.parts
            .iter()
            .map(|p| EvidenceKey::new(self.event_id, p.channel.clone(), p.factor, p.raw_r, p.raw_s))
            .collect()
    }
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
    let mut by_event: BTreeMap<usize, Vec<&Evidence>> = BTreeMap::new();
    for item in &set.items {
        by_event.entry(item.event_index).or_default().push(item);
    }
    let mut personal: BTreeMap<String, Vec<(usize, Contribution)>> = BTreeMap::new();
    let mut org = Vec::new();
    for (index, items) in by_event {
        // An event whose evidence all counted zero (over a cap) changes nothing when left
        // out: it took nothing from the caps either. Skip its refold.
        let counts = items.iter().any(|i| i.raw_r != 0.0 || i.raw_s != 0.0);
        let without = counts.then(|| {
            let rest: Vec<&RecordedEvent> = events
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, e)| *e)
                .collect();
            assess(&rest, set.as_of, params).1
        });
        let delta = |now: Beta, then: Option<Beta>| {
            then.map_or(0.0, |then| now.expected(params) - then.expected(params))
        };
        for item in &items {
            if let Channel::Personal { contact_id } = &item.channel {
                let then = without.as_ref().map(|w| w.personal_of(contact_id));
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
        };
        let (set, fold) = assess(&events, as_of, params);
        let explained = explain(&events, &set, &fold, params);
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
        .filter(|c| !c.keys().is_subset(from_keys))
        .cloned()
        .collect();
    let removed = from
        .iter()
        .filter(|c| !c.keys().is_subset(to_keys))
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
        (&a.explained.org, &b.explained.org),
        (&ka, &kb),
    );
    let contacts: BTreeSet<&String> = a
        .fold
        .personal
        .keys()
        .chain(b.fold.personal.keys())
        .collect();
    let none = Vec::new();
    let personal = contacts
        .into_iter()
        .map(|id| {
            let c = change(
                a.fold.personal_of(id).expected(params),
                aged.personal_of(id).expected(params),
                b.fold.personal_of(id).expected(params),
                (
                    a.explained.personal.get(id).unwrap_or(&none),
                    b.explained.personal.get(id).unwrap_or(&none),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{AccountSegment::Standard, ContactRole};
    use crate::domain::projection::project;
    use crate::domain::projection::testkit::{day, Log};

    fn sample() -> Log {
        let mut log = Log::opened(Standard);
        log.contact(1, "dm", ContactRole::DecisionMaker);
        log.contact(1, "te", ContactRole::TechnicalEvaluator);
        log.intro(5, "dm");
        log.visit(20, &["dm", "te"]);
        log.visit(21, &["dm"]);
        log.promise(22, "p1", Some("te"), 40);
        log.broken(45, "p1");
        log.promise(50, "p2", Some("dm"), 60);
        log.kept(55, "p2");
        log.solution(70, &["te"]);
        log.favor(80, "dm", 5_000);
        log.favor(81, "dm", 5_000);
        log.critical(90, &["dm"]);
        log
    }

    #[test]
    fn deltas_are_exactly_the_leave_one_out_differences() {
        let p = Params::default();
        let log = sample();
        let as_of = day(120);
        let all = project(&log.events, as_of, &p);
        for c in &all.organizational_trust.contributions {
            let rest: Vec<RecordedEvent> = log
                .events
                .iter()
                .filter(|e| e.event.event_id != c.event_id)
                .cloned()
                .collect();
            let without = project(&rest, as_of, &p);
            let expected = all.organizational_trust.trust.expected
                - without.organizational_trust.trust.expected;
            assert_eq!(c.delta.to_bits(), expected.to_bits(), "{}", c.event_type);
            for (id, person) in &all.personal_trust {
                for pc in person
                    .contributions
                    .iter()
                    .filter(|pc| pc.event_id == c.event_id)
                {
                    let then = without
                        .personal_trust
                        .get(id)
                        .map_or(0.5, |t| t.trust.expected);
                    assert_eq!(pc.delta.to_bits(), (person.trust.expected - then).to_bits());
                }
            }
        }
    }

    #[test]
    fn contributions_come_biggest_first_and_name_their_factors() {
        let p = Params::default();
        let all = project(&sample().events, day(120), &p);
        let org = &all.organizational_trust.contributions;
        assert_eq!(org[0].event_type, "critical_assistance");
        assert!(org.windows(2).all(|w| w[0].delta.abs() >= w[1].delta.abs()));
        let te = &all.personal_trust["te"].contributions;
        let broken = te
            .iter()
            .find(|c| c.event_type == "promise_broken")
            .unwrap();
        assert_eq!(broken.parts[0].factor, Factor::PromiseBrokenNegative);
        assert!(broken.delta < 0.0);
        // The second favor of the window counted nothing and is worth nothing.
        let dm = &all.personal_trust["dm"].contributions;
        let capped = dm
            .iter()
            .find(|c| c.parts[0].factor == Factor::FavorOverCap)
            .unwrap();
        assert_eq!(capped.delta, 0.0);
    }

    #[test]
    fn a_change_splits_into_decay_and_arrivals() {
        let p = Params::default();
        let log = sample();
        let change = explain_change(
            &log.events,
            Checkpoint::Time(day(60)),
            Checkpoint::Time(day(120)),
            &p,
        );
        let org = &change.organizational;
        assert!((org.decay_delta + org.arrivals_delta - org.delta).abs() < 1e-15);
        assert!(org.decay_delta < 0.0, "old positive evidence fades");
        let added: BTreeSet<&str> = org.added.iter().map(|c| c.event_type).collect();
        let expected = ["critical_assistance", "favor_given", "solution_delivered"];
        assert_eq!(added, expected.into_iter().collect());
        assert!(org.removed.is_empty());
        // By log positions: the events logged after position 8 (promise kept, solution, two
        // favors), each side seen as of the newest occurred_at logged by then.
        let by_position = explain_change(
            &log.events,
            Checkpoint::Position(8),
            Checkpoint::Position(12),
            &p,
        );
        assert_eq!(by_position.from_as_of, day(50));
        assert_eq!(by_position.to_as_of, day(81));
        assert_eq!(by_position.organizational.added.len(), 4);
    }
}
