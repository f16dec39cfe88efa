//! Evidence: what each event says about trust, per channel (docs/scoring.md §3).
//!
//! An event adds positive (`r`) or negative (`s`) evidence to the personal channel of the
//! contacts it concerns and/or to the account's organizational channel, decayed by its age.
//! The table's caps are applied by `caps` as the events are walked in log order.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::domain::event::{EventPayload, EventType};
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::caps::{Collector, Source};
use super::decay::decay;
use super::params::Params;
use super::promises::Promises;
use super::roster::Roster;

/// Which trust an item of evidence feeds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Debug, Clone, PartialEq)]
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
    /// Whole days from `at` to the clock.
    pub fn age_days(&self) -> i64 {
        self.clock.days_since(self.at)
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
    pub roster: Roster,
    /// Promises, for the derived overdue evidence and the promise record.
    pub promises: Promises,
    /// Every item, in log order of its event.
    pub items: Vec<Evidence>,
}

/// Collects the evidence of `events`, the account's events with `occurred_at <= as_of` in
/// log order.
pub(crate) fn collect(events: &[&RecordedEvent], as_of: Timestamp, params: &Params) -> EvidenceSet {
    let roster = Roster::read(events);
    let promises = Promises::read(events);
    let mut c = Collector::new(params, as_of, &roster);
    let w = &params.weights;
    for (i, record) in events.iter().enumerate() {
        let event = &record.event;
        let src = Source {
            index: i,
            id: event.event_id,
            kind: event.payload.event_type(),
            at: event.occurred_at,
        };
        match &event.payload {
            EventPayload::IntroductionMade(intro) => c.personal(
                &src,
                &intro.contact_id,
                Factor::IntroductionPositive,
                &w.introduction,
            ),
            EventPayload::Visit(visit) => {
                let mut seen = BTreeSet::new();
                for contact in visit.contact_ids.iter().filter(|id| seen.insert(*id)) {
                    c.touch(
                        &src,
                        contact,
                        Factor::VisitPositive,
                        Factor::VisitOverCap,
                        &w.visit,
                    );
                }
            }
            EventPayload::Call(call) => c.touch(
                &src,
                &call.contact_id,
                Factor::CallPositive,
                Factor::CallOverCap,
                &w.call,
            ),
            EventPayload::PromiseMade(made) => {
                // The overdue evidence is derived from the promise, so it sits at the
                // promise's place in the log, dated when the grace period ended.
                let Some(promise) = promises.by_id.get(&made.promise_id) else {
                    continue;
                };
                if promise.made_event == event.event_id {
                    c.promise_overdue(&src, promise);
                }
            }
            EventPayload::PromiseKept(_) | EventPayload::PromiseBroken(_) => {
                // Only the first outcome of a promise made counts; repeats say nothing new.
                if let Some(promise) = promises.by_outcome(event.event_id) {
                    let kept = matches!(event.payload, EventPayload::PromiseKept(_));
                    c.promise_outcome(&src, promise, kept);
                }
            }
            EventPayload::SolutionDelivered(solution) => {
                let mut seen = BTreeSet::new();
                for contact in solution.contact_ids.iter().filter(|id| seen.insert(*id)) {
                    c.personal(&src, contact, Factor::SolutionPositive, &w.solution);
                }
                c.org(&src, Factor::SolutionPositive, &w.solution);
            }
            EventPayload::ThirdPartyProofShared(proof) => c.proof(&src, proof.kind),
            EventPayload::FavorGiven(favor) => c.favor(&src, &favor.contact_id),
            EventPayload::CriticalAssistance(help) => {
                let mut seen = BTreeSet::new();
                for contact in help.contact_ids.iter().filter(|id| seen.insert(*id)) {
                    let f = Factor::CriticalAssistancePositive;
                    c.personal(&src, contact, f, &w.critical_assistance);
                }
                c.org(
                    &src,
                    Factor::CriticalAssistancePositive,
                    &w.critical_assistance,
                );
            }
            // Orders, payments, costs and price pressure feed the commercial figures, never
            // trust; contacts and the account itself are read by the roster.
            _ => {}
        }
    }
    let items = c.into_items();
    EvidenceSet {
        as_of,
        roster,
        promises,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{AccountSegment::Standard, ContactRole::DecisionMaker, ProofKind};
    use crate::domain::projection::testkit::{day, Log};
    use crate::domain::projection::{project, trust::visible};

    fn items(log: &Log, as_of: Timestamp) -> Vec<Evidence> {
        collect(&visible(&log.events, as_of), as_of, &Params::default()).items
    }

    fn counted(items: &[Evidence]) -> Vec<(Factor, f64)> {
        items
            .iter()
            .map(|i| (i.factor, i.raw_r + i.raw_s))
            .collect()
    }

    #[test]
    fn visits_and_calls_share_a_cap_of_one_per_contact_per_thirty_day_window() {
        let mut log = Log::opened(Standard);
        log.contact(1, "b", DecisionMaker);
        // Days 30..=59 are the fixed window floor(day / 30) = 1.
        log.visit(30, &["b"]);
        log.call(31, "b");
        log.call(32, "b");
        log.visit(33, &["b"]);
        log.visit(59, &["b"]);
        log.visit(60, &["b"]);
        let got = counted(&items(&log, day(60)));
        assert_eq!(got[0], (Factor::VisitPositive, 0.5));
        assert_eq!(got[1], (Factor::CallPositive, 0.2));
        assert_eq!(got[2], (Factor::CallPositive, 0.2));
        // What is left of the cap: 1.0 - 0.9.
        assert_eq!(got[3].0, Factor::VisitPositive);
        assert!((got[3].1 - 0.1).abs() < 1e-12);
        assert_eq!(got[4], (Factor::VisitOverCap, 0.0));
        assert_eq!(got[5], (Factor::VisitPositive, 0.5));
    }

    #[test]
    fn a_favors_value_never_counts_and_one_per_contact_per_ninety_days() {
        let build = |value| {
            let mut log = Log::opened(Standard);
            log.contact(1, "b", DecisionMaker);
            log.favor(90, "b", value);
            log.favor(100, "b", value);
            log.favor(179, "b", value);
            log.favor(180, "b", value);
            log
        };
        let (cheap, lavish) = (build(100), build(99_999_999));
        let got = counted(&items(&cheap, day(200)));
        assert_eq!(
            got,
            vec![
                (Factor::FavorPositive, 0.3),
                (Factor::FavorOverCap, 0.0),
                (Factor::FavorOverCap, 0.0),
                (Factor::FavorPositive, 0.3)
            ]
        );
        let p = Params::default();
        let (a, b) = (
            project(&cheap.events, day(200), &p),
            project(&lavish.events, day(200), &p),
        );
        assert_eq!(a.personal_trust, b.personal_trust);
        assert_eq!(a.organizational_trust, b.organizational_trust);
    }

    #[test]
    fn one_proof_counts_per_kind() {
        let mut log = Log::opened(Standard);
        log.proof(1, ProofKind::TestReport);
        log.proof(2, ProofKind::TestReport);
        log.proof(3, ProofKind::Certification);
        let got = counted(&items(&log, day(3)));
        assert_eq!(
            got,
            vec![
                (Factor::ThirdPartyProofPositive, 0.5),
                (Factor::ThirdPartyProofRepeated, 0.0),
                (Factor::ThirdPartyProofPositive, 0.5)
            ]
        );
    }

    #[test]
    fn an_overdue_promise_is_derived_after_due_plus_seven_days() {
        let mut log = Log::opened(Standard);
        log.contact(1, "b", DecisionMaker);
        log.promise(2, "p1", Some("b"), 10);
        // At due + 7 days exactly it is still open.
        assert!(items(&log, day(17)).is_empty());
        let later = Timestamp::from_unix_nanos(day(17).unix_nanos() + 1);
        let got = items(&log, later);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].factor, got[0].raw_s),
            (Factor::PromiseOverdueNegative, 1.0)
        );
        assert_eq!(
            got[0].channel,
            Channel::Personal {
                contact_id: "b".into()
            }
        );
        assert_eq!((got[1].raw_s, got[1].at), (0.5, day(17)));
        // Kept late, it is no longer overdue: the kept evidence replaces it.
        log.kept(20, "p1");
        let got = items(&log, day(20));
        assert_eq!(
            counted(&got),
            vec![
                (Factor::PromiseKeptPositive, 1.0),
                (Factor::PromiseKeptPositive, 0.5)
            ]
        );
    }

    #[test]
    fn a_contact_who_left_is_frozen_and_out_of_the_totals() {
        let p = Params::default();
        let mut log = Log::opened(Standard);
        log.contact(1, "b", DecisionMaker);
        log.intro(2, "b");
        log.visit(40, &["b"]);
        log.left(50, "b");
        let at_leaving = project(&log.events, day(50), &p);
        let long_after = project(&log.events, day(400), &p);
        let before = project(&log.events, day(49), &p);
        let (then, now) = (
            &at_leaving.personal_trust["b"],
            &long_after.personal_trust["b"],
        );
        assert!(now.frozen);
        assert_eq!(now.left_at, Some(day(50)));
        assert_eq!(then.trust.evidence, now.trust.evidence);
        assert_eq!(now.trust.score, then.trust.score);
        assert!(before.organizational_trust.trust.evidence.r > 0.0);
        assert_eq!(long_after.organizational_trust.trust.evidence.r, 0.0);
        assert!(!long_after.quadrant.bond.met);
    }
}
