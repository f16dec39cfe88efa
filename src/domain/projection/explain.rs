//! Explanations: which events made a score what it is, and what changed it.
//!
//! A contribution is one event's evidence in one score, with the exact leave-one-out delta
//! `P(all) - P(all without this event)`: the whole fold is recomputed without the event, so
//! caps, frozen contacts and derived overdue promises are all accounted for, at the cost of
//! one refold per contributing event. Beta reputation is not additive, so the deltas do not
//! sum to the score; each one is exactly what that event is worth given all the others.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use crate::domain::event::EventType;

use super::evidence::{Channel, Evidence, EvidenceSet, Factor};
use super::params::Params;
use super::trust::{assess, fold_items, org_share, Beta, TrustFold};

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

/// The fold without event `index` (whose items are `own`), when that is a local change: the
/// other items stay as they are, except those sharing a cap with the event, which are
/// recounted here with exactly the arithmetic of `caps`, in the same order. A refold would
/// collect the same items with the same values in the same order, so this is the same
/// computation, bit for bit, without re-reading the log (a test holds the two equal).
/// `None` for an event that decides a promise's status, or a proof with later repeats (the
/// item does not keep its kind): those refold.
fn fold_without(
    set: &EvidenceSet,
    index: usize,
    own: &[&Evidence],
    params: &Params,
) -> Option<TrustFold> {
    let mut replaced = BTreeMap::new();
    for item in own {
        match item.factor {
            Factor::VisitPositive | Factor::CallPositive => {
                recount_touches(set, index, item, params, &mut replaced)
            }
            Factor::FavorPositive => recount_favors(set, index, item, params, &mut replaced),
            Factor::ThirdPartyProofPositive => {
                let repeats = set
                    .items
                    .iter()
                    .any(|o| o.event_index > index && o.factor == Factor::ThirdPartyProofRepeated);
                if repeats {
                    return None;
                }
            }
            Factor::PromiseKeptPositive
            | Factor::PromiseBrokenNegative
            | Factor::PromiseOverdueNegative => return None,
            // Took nothing from any cap, or takes part in none.
            Factor::IntroductionPositive
            | Factor::SolutionPositive
            | Factor::CriticalAssistancePositive
            | Factor::VisitOverCap
            | Factor::CallOverCap
            | Factor::FavorOverCap
            | Factor::ThirdPartyProofRepeated => {}
        }
    }
    let rest = set
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.event_index != index)
        .map(|(k, i)| replaced.get(&k).unwrap_or(i));
    Some(fold_items(&set.roster, rest, params))
}

fn window(at: Timestamp, days: u32) -> i64 {
    at.day_number().div_euclid(i64::from(days.max(1)))
}

/// Recounts the touch cap of `item`'s contact and window without event `index`.
fn recount_touches(
    set: &EvidenceSet,
    index: usize,
    item: &Evidence,
    params: &Params,
    replaced: &mut BTreeMap<usize, Evidence>,
) {
    let days = params.touch_window_days;
    let mut used = 0.0_f64;
    for (k, o) in set.items.iter().enumerate() {
        let touch = matches!(
            o.factor,
            Factor::VisitPositive
                | Factor::VisitOverCap
                | Factor::CallPositive
                | Factor::CallOverCap
        );
        if !touch
            || o.event_index == index
            || o.channel != item.channel
            || window(o.at, days) != window(item.at, days)
        {
            continue;
        }
        let visit = o.event_type == EventType::Visit;
        let w = if visit {
            &params.weights.visit
        } else {
            &params.weights.call
        };
        let left = params.touch_cap_per_window - used;
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
            replaced.insert(k, recounted);
        }
    }
}

/// Without event `index`, the next favor of `item`'s contact and window counts instead.
fn recount_favors(
    set: &EvidenceSet,
    index: usize,
    item: &Evidence,
    params: &Params,
    replaced: &mut BTreeMap<usize, Evidence>,
) {
    let days = params.favor_window_days;
    let next = set.items.iter().enumerate().find(|(_, o)| {
        o.event_index != index
            && o.channel == item.channel
            && matches!(o.factor, Factor::FavorPositive | Factor::FavorOverCap)
            && window(o.at, days) == window(item.at, days)
    });
    if let Some((k, o)) = next {
        let w = &params.weights.favor;
        let mut counted = o.clone();
        counted.factor = Factor::FavorPositive;
        counted.raw_r = w.personal_r;
        counted.raw_s = w.personal_s;
        replaced.insert(k, counted);
    }
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
            if let Some(fold) = fold_without(set, index, &items, params) {
                return fold;
            }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::event::ProofKind::{Certification, TestReport};
    use crate::domain::event::{AccountSegment::Standard, ContactRole};
    use crate::domain::projection::project;
    use crate::domain::projection::testkit::{day, Log};

    pub(crate) fn sample() -> Log {
        let mut log = Log::opened(Standard);
        log.contact(1, "dm", ContactRole::DecisionMaker);
        log.contact(1, "te", ContactRole::TechnicalEvaluator);
        log.intro(5, "dm");
        log.visit(20, &["dm", "te"]);
        log.call(21, "dm");
        // dm's cap for the window is reached here (0.5 + 0.2 + 0.3) and the next visit is
        // refused: leaving out any of them recounts the others.
        log.visit(21, &["dm"]);
        log.visit(22, &["dm"]);
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

    /// Every contribution's delta equals the difference with a projection of the log
    /// without its event, bit for bit.
    fn assert_exact_leave_one_out(events: &[RecordedEvent], as_of: Timestamp) {
        let p = Params::default();
        let all = project(events, as_of, &p);
        let org = all
            .organizational_trust
            .contributions
            .iter()
            .map(|c| (None, c));
        let personal = all
            .personal_trust
            .iter()
            .flat_map(|(id, t)| t.contributions.iter().map(move |c| (Some(id), c)));
        for (whose, c) in org.chain(personal) {
            let rest: Vec<RecordedEvent> = events
                .iter()
                .filter(|e| e.event.event_id != c.event_id)
                .cloned()
                .collect();
            let without = project(&rest, as_of, &p);
            let (now, then) = match whose {
                None => (
                    all.organizational_trust.trust.expected,
                    without.organizational_trust.trust.expected,
                ),
                Some(id) => (
                    all.personal_trust[id].trust.expected,
                    without
                        .personal_trust
                        .get(id)
                        .map_or(0.5, |t| t.trust.expected),
                ),
            };
            assert_eq!(
                c.delta.to_bits(),
                (now - then).to_bits(),
                "{} {whose:?}",
                c.event_type
            );
        }
    }

    #[test]
    fn deltas_are_exactly_the_leave_one_out_differences() {
        assert_exact_leave_one_out(&sample().events, day(120));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// The shortcut that folds without an event (recounting only its caps) agrees with
        /// a full refold on logs of touches, favors, proofs and departures, in any log order.
        #[test]
        fn leave_one_out_holds_on_random_logs(
            ops in proptest::collection::vec((0_u8..7, 0_usize..3, 0_i64..120), 1..40)
        ) {
            let names = ["c0", "c1", "c2"];
            let mut log = Log::opened(Standard);
            log.contact(0, "c0", ContactRole::DecisionMaker);
            log.contact(0, "c1", ContactRole::Procurement);
            log.contact(0, "c2", ContactRole::User);
            for (kind, who, d) in ops {
                let c = names[who];
                match kind {
                    0 => log.visit(d, &[c]),
                    1 => log.call(d, c),
                    2 => log.favor(d, c, 100),
                    3 => log.intro(d, c),
                    4 => log.proof(d, if who == 0 { TestReport } else { Certification }),
                    5 => log.solution(d, &[c]),
                    _ => log.left(d, c),
                };
            }
            assert_exact_leave_one_out(&log.events, day(150));
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
}
