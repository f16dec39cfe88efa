//! Builders for the unit tests: an account's log written in a few words per event.

use std::collections::BTreeMap;

use crate::domain::event::*;
use crate::domain::ids::{AccountId, EventId};
use crate::domain::record::{ChainHash, RecordedEvent};
use crate::domain::time::{Timestamp, NANOS_PER_DAY};

/// Day `n` since the epoch, at 10:00 UTC.
pub fn day(n: i64) -> Timestamp {
    Timestamp::from_unix_nanos(n * NANOS_PER_DAY + 10 * 3_600_000_000_000)
}

fn cny(minor: i64) -> Money {
    Money {
        currency: "CNY".into(),
        minor_units: minor,
    }
}

/// One account's log, positions and revisions counting up.
pub struct Log {
    pub events: Vec<RecordedEvent>,
}

impl Log {
    /// A log whose account is opened on day 0 with the given segment.
    pub fn opened(segment: AccountSegment) -> Self {
        let mut log = Log { events: Vec::new() };
        log.push(
            0,
            EventPayload::AccountOpened(AccountOpened {
                name: "B Construction".into(),
                segment,
                owner: "li".into(),
                industry: "construction".into(),
                region: "east".into(),
            }),
        );
        log
    }

    /// Appends `payload` as occurring on `day_n`; returns its id.
    pub fn push(&mut self, day_n: i64, payload: EventPayload) -> EventId {
        let n = self.events.len() as u64;
        let event_id = EventId::parse(&format!("00000000-0000-4000-8000-{:012x}", n + 1)).unwrap();
        self.events.push(RecordedEvent {
            position: n,
            account_id: AccountId::parse("acct-b").unwrap(),
            revision: n,
            recorded_at: day(day_n),
            recorded_by: None,
            event: ProposedEvent {
                event_id,
                occurred_at: day(day_n),
                actor: "li".into(),
                metadata: BTreeMap::new(),
                payload,
            },
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash::GENESIS,
        });
        event_id
    }

    pub fn contact(&mut self, d: i64, id: &str, role: ContactRole) -> EventId {
        self.contact_flagged(d, id, role, false)
    }

    pub fn contact_flagged(
        &mut self,
        d: i64,
        id: &str,
        role: ContactRole,
        official: bool,
    ) -> EventId {
        self.push(
            d,
            EventPayload::ContactAdded(ContactAdded {
                contact_id: id.into(),
                name: id.into(),
                role,
                title: String::new(),
                phone: Default::default(),
                email: Default::default(),
                public_official: official,
                notes: Default::default(),
            }),
        )
    }

    pub fn left(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::ContactLeft(ContactLeft {
                contact_id: id.into(),
                reason: "moved".into(),
            }),
        )
    }

    pub fn visit(&mut self, d: i64, ids: &[&str]) -> EventId {
        self.visit_planned(d, ids, None)
    }

    pub fn visit_planned(&mut self, d: i64, ids: &[&str], next: Option<i64>) -> EventId {
        self.push(
            d,
            EventPayload::Visit(Visit {
                contact_ids: ids.iter().map(|s| s.to_string()).collect(),
                purpose: "site".into(),
                summary: String::new(),
                next_visit_on: next.map(day),
                next_visit_pretext: String::new(),
            }),
        )
    }

    pub fn call(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::Call(Call {
                contact_id: id.into(),
                summary: String::new(),
            }),
        )
    }

    pub fn intro(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::IntroductionMade(IntroductionMade {
                contact_id: id.into(),
                introduced_by: "wang".into(),
                relationship: "classmate".into(),
                notes: Default::default(),
            }),
        )
    }

    pub fn promise(&mut self, d: i64, id: &str, contact: Option<&str>, due: i64) -> EventId {
        self.push(
            d,
            EventPayload::PromiseMade(PromiseMade {
                promise_id: id.into(),
                contact_id: contact.map(str::to_string),
                description: "deliver".into(),
                due_at: day(due),
            }),
        )
    }

    pub fn kept(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::PromiseKept(PromiseKept {
                promise_id: id.into(),
                note: String::new(),
            }),
        )
    }

    pub fn broken(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::PromiseBroken(PromiseBroken {
                promise_id: id.into(),
                reason: String::new(),
            }),
        )
    }

    pub fn solution(&mut self, d: i64, ids: &[&str]) -> EventId {
        self.push(
            d,
            EventPayload::SolutionDelivered(SolutionDelivered {
                kind: SolutionKind::DesignProposal,
                contact_ids: ids.iter().map(|s| s.to_string()).collect(),
                description: String::new(),
            }),
        )
    }

    pub fn proof(&mut self, d: i64, kind: ProofKind) -> EventId {
        self.push(
            d,
            EventPayload::ThirdPartyProofShared(ThirdPartyProofShared {
                kind,
                contact_ids: Vec::new(),
                issuer: "authority".into(),
                description: String::new(),
            }),
        )
    }

    pub fn favor(&mut self, d: i64, contact: &str, minor: i64) -> EventId {
        self.favor_full(d, contact, minor, false, "")
    }

    pub fn favor_full(
        &mut self,
        d: i64,
        contact: &str,
        minor: i64,
        official: bool,
        approval: &str,
    ) -> EventId {
        self.push(
            d,
            EventPayload::FavorGiven(FavorGiven {
                contact_id: contact.into(),
                kind: FavorKind::Meal,
                value: cny(minor),
                purpose: "project review".into(),
                recipient_is_public_official: official,
                approval_reference: approval.into(),
                description: String::new(),
            }),
        )
    }

    pub fn order(&mut self, d: i64, revenue: i64, margin: Option<i64>) -> EventId {
        let n = self.events.len();
        self.push(
            d,
            EventPayload::OrderWon(OrderWon {
                order_id: format!("o{n}"),
                revenue: cny(revenue),
                margin: margin.map(cny),
                product: "C30".into(),
                description: String::new(),
            }),
        )
    }

    pub fn concession(&mut self, d: i64, bp: u32) -> EventId {
        self.push(
            d,
            EventPayload::PriceConcessionDemanded(PriceConcessionDemanded {
                order_id: "o".into(),
                discount_basis_points: bp,
                ultimatum: true,
                competitor: "C".into(),
                description: String::new(),
            }),
        )
    }

    pub fn invoice(&mut self, d: i64, id: &str, minor: i64, due: i64) -> EventId {
        self.push(
            d,
            EventPayload::InvoiceIssued(InvoiceIssued {
                invoice_id: id.into(),
                amount: cny(minor),
                due_at: day(due),
                order_id: "o".into(),
            }),
        )
    }

    pub fn payment(&mut self, d: i64, id: &str, minor: i64) -> EventId {
        self.push(
            d,
            EventPayload::PaymentReceived(PaymentReceived {
                invoice_id: id.into(),
                amount: cny(minor),
                reference: String::new(),
            }),
        )
    }

    pub fn critical(&mut self, d: i64, ids: &[&str]) -> EventId {
        self.push(
            d,
            EventPayload::CriticalAssistance(CriticalAssistance {
                contact_ids: ids.iter().map(|s| s.to_string()).collect(),
                description: "typhoon".into(),
                value_protected: Some(cny(60_000_000)),
            }),
        )
    }

    pub fn cost(&mut self, d: i64, minor: i64) -> EventId {
        self.push(
            d,
            EventPayload::RelationshipCost(RelationshipCost {
                amount: cny(minor),
                category: "travel".into(),
                description: String::new(),
            }),
        )
    }
}

/// Moves each event `shifts[i]` nanoseconds later, with the instants it names (a planned
/// visit, a due date), so that events fall at their own times of day, as real ones do.
pub fn spread(events: &mut [RecordedEvent], shifts: &[i64]) {
    for (record, &shift) in events.iter_mut().zip(shifts) {
        let moved = |t: Timestamp| Timestamp::from_unix_nanos(t.unix_nanos() + shift);
        record.event.occurred_at = moved(record.event.occurred_at);
        record.recorded_at = record.event.occurred_at;
        match &mut record.event.payload {
            EventPayload::Visit(v) => v.next_visit_on = v.next_visit_on.map(moved),
            EventPayload::PromiseMade(p) => p.due_at = moved(p.due_at),
            EventPayload::InvoiceIssued(i) => i.due_at = moved(i.due_at),
            _ => {}
        }
    }
}
