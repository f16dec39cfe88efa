//! An account's projection state, advanced event by event.
//!
//! A projection as of an instant no earlier than the account's newest event reads the same
//! intermediate results whatever the instant: the roster, the promises, the commercial events
//! and the evidence with the caps applied (a [`Tally`](super::caps)). [`AccountState`] keeps
//! them and advances them by each new event in constant time (amortised), so that the live
//! projector and a live `GetRelationship` evaluate the projection from the state instead of
//! reading and refolding the history. Of the commercial flows (orders, costs, price demands)
//! it keeps only those a window ending at its newest event or later still reaches
//! ([`Commerce::forget_past`]). What it still walks is named in
//! docs/decisions/0018-account-state-advanced-event-by-event.md.
//!
//! A **compact** state ([`AccountState::compact`]) keeps only what a summary reads: the parts
//! above without the items of evidence (their day sums of the last 90 days, and the caps'
//! memory of the windows those days fall in, are enough), of the promises only those a
//! summary may still read (settled ones leave their ids), of the visits only the instants of
//! each day's first and last in the cadence's year and the last visit, and of the events only
//! the latest solutions of the structural window and the favors (`compact`).
//! Its size then follows the windows the rules look back over, not the history. It summarizes
//! as the full state does; an explanation or a trend folds the history. A departure recorded
//! after later events, an event dated before a recent departure, or evidence dated over 90
//! days before the newest event needs what the state dropped: the state says so
//! ([`AccountState::needs_history`]) and is built again from the history.
//!
//! [`project`](super::project) from the events and [`AccountState::project`] are one
//! evaluation ([`Parts::evaluate`]) of parts built two ways: read from all the events at once,
//! or advanced event by event. Property tests hold the two byte for byte.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::event::{EventPayload, EventType};
use crate::domain::ids::{AccountId, EventId};
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::caps::{Known, Tally};
use super::commercial::Commerce;
use super::evidence::{self, Entries, EvidenceSet};
use super::promises::Promises;
use super::roster::Roster;
use super::stability::Anchors;
use super::{
    alerts, explain, gifts, quadrant, trust, AccountProfile, AccountProjection, Cadence,
    CommercialFigures, Detail, LevelView, OrganizationalTrust, Params, PersonalTrust,
    PromiseRecord, QuadrantView, RelationshipSummary, TrustScore,
};

/// Whether the trust fold, the cadence, the level or the gifts read events of this type. The
/// state keeps those events: a trust fold as of an earlier instant (the trend, a key contact's
/// departure) and an explanation still walk them.
fn read_by_trust(kind: EventType) -> bool {
    !matches!(
        kind,
        EventType::OrderWon
            | EventType::OrderLost
            | EventType::PriceConcessionDemanded
            | EventType::InvoiceIssued
            | EventType::PaymentReceived
            | EventType::RelationshipCost
            | EventType::ContactForgotten
    )
}

/// `record` without what no projection reads: free text, sealed personal fields, the actor
/// and the metadata. A kept event is then about its ids, instants and amounts; the property
/// tests, which compare with folds of the whole events, hold that nothing read is left out.
fn lightened(mut record: RecordedEvent) -> RecordedEvent {
    record.recorded_by = None;
    let event = &mut record.event;
    event.actor = String::new();
    event.metadata = Default::default();
    match &mut event.payload {
        EventPayload::ContactAdded(c) => {
            c.name = Default::default();
            c.title = String::new();
            c.phone = Default::default();
            c.email = Default::default();
            c.notes = Default::default();
        }
        EventPayload::ContactLeft(c) => c.reason = Default::default(),
        EventPayload::IntroductionMade(i) => {
            i.introduced_by = String::new();
            i.relationship = Default::default();
            i.notes = Default::default();
        }
        EventPayload::Visit(v) => {
            v.purpose = String::new();
            v.summary = String::new();
            v.next_visit_pretext = String::new();
        }
        EventPayload::Call(c) => c.summary = String::new(),
        EventPayload::PromiseMade(p) => p.description = String::new(),
        EventPayload::PromiseKept(k) => k.note = String::new(),
        EventPayload::PromiseBroken(b) => b.reason = String::new(),
        EventPayload::SolutionDelivered(s) => s.description = String::new(),
        EventPayload::ThirdPartyProofShared(p) => {
            p.issuer = String::new();
            p.description = String::new();
        }
        // A favor's value, recipient and approval reference decide its alerts.
        EventPayload::FavorGiven(f) => {
            f.purpose = String::new();
            f.description = String::new();
        }
        EventPayload::CriticalAssistance(c) => {
            c.description = String::new();
            c.value_protected = None;
        }
        _ => {}
    }
    record
}

/// One account's projection state (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// The account, from its first event.
    account_id: Option<AccountId>,
    /// From the first `account_opened`.
    profile: AccountProfile,
    /// Events read.
    events: usize,
    /// The highest stream revision read.
    last_revision: Option<u64>,
    /// The last event read.
    last_event: Option<EventId>,
    /// The latest `occurred_at` read: the state answers as of this instant or later.
    newest: Option<Timestamp>,
    /// Shared with the evidence an evaluation ages, copied only when an event changes them
    /// while an evaluation holds them.
    roster: Arc<Roster>,
    promises: Arc<Promises>,
    tally: Tally,
    commerce: Commerce,
    /// When an answer may next change, for `stable_until`.
    anchors: Anchors,
    /// The events [`read_by_trust`], in log order: all of them, or in a compact state only
    /// those a summary may still read (`compact::summary_reads`).
    trust_events: Vec<RecordedEvent>,
    /// Set once the state is compact ([`AccountState::compact`]).
    compact: Option<Compact>,
    /// A compact state met an event it cannot take without the history (see
    /// [`AccountState::needs_history`]).
    needs_history: bool,
}

impl AccountState {
    /// The state of `events` (in log order), read one by one.
    pub fn of(events: &[RecordedEvent], params: &Params) -> Self {
        let mut state = AccountState::default();
        for record in events {
            state.apply(record, params);
        }
        state
    }

    /// Advances the state by `record`, the account's next event in log order.
    pub fn apply(&mut self, record: &RecordedEvent, params: &Params) {
        self.advance(Cow::Borrowed(record), params);
    }

    /// [`AccountState::apply`] of a record the caller gives up, kept without a copy.
    pub fn take(&mut self, record: RecordedEvent, params: &Params) {
        self.advance(Cow::Owned(record), params);
    }

    fn advance(&mut self, record: Cow<'_, RecordedEvent>, params: &Params) {
        if self.needs_history {
            return;
        }
        if self.compact.is_some() && !compact::takes(&self.roster, self.newest, &record, params) {
            self.needs_history = true;
            return;
        }
        let event = &record.event;
        self.account_id
            .get_or_insert_with(|| record.account_id.clone());
        self.events += 1;
        self.last_revision = self.last_revision.max(Some(record.revision));
        self.last_event = Some(event.event_id);
        self.newest = self.newest.max(Some(event.occurred_at));
        self.anchors.apply(&record, params);
        self.commerce.apply(&record);
        if let Some(newest) = self.newest {
            self.commerce.forget_past(newest, params);
        }
        if self.profile.segment.is_none() {
            if let Some(profile) = AccountProfile::of(&record) {
                self.profile = profile;
            }
        }
        if !read_by_trust(event.payload.event_type()) {
            return;
        }
        let index = self.trust_events.len();
        let left = Roster::changed_by(&record)
            .then(|| Arc::make_mut(&mut self.roster).apply(&record))
            .flatten();
        if Promises::changed_by(&record) {
            Arc::make_mut(&mut self.promises).apply(&record);
        }
        let known = Known {
            roster: &self.roster,
            promises: &self.promises,
            params,
        };
        match left {
            // A departure takes back the contact's evidence dated after it, and the caps it
            // used: count again, as a fold of all the events at once counts (rare: a
            // departure recorded late; a compact state has refused it already). The
            // departure itself is no evidence.
            Some((id, at)) if self.tally.has_evidence_after(id, at) => {
                self.tally = Tally::of(self.trust_events.iter().enumerate(), &known);
            }
            _ => self.tally.count(index, &record, &known),
        }
        if self.compact.is_some() {
            let departed = left.map(|(id, at)| (id.to_string(), at));
            self.keep_compact(record, departed, params);
        } else {
            self.trust_events.push(lightened(record.into_owned()));
        }
    }

    /// The account, from its first event.
    pub fn account(&self) -> Option<&AccountId> {
        self.account_id.as_ref()
    }

    /// How many events the state has read.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The highest stream revision read.
    pub fn last_revision(&self) -> Option<u64> {
        self.last_revision
    }

    /// The last event read.
    pub fn last_event(&self) -> Option<EventId> {
        self.last_event
    }

    /// Who the account is, from its first `account_opened`.
    pub fn profile(&self) -> &AccountProfile {
        &self.profile
    }

    /// The latest `occurred_at` read: the earliest instant the state answers as of.
    pub fn newest(&self) -> Option<Timestamp> {
        self.newest
    }

    /// The state's size, for a budget, in units of about what an event kept holds (a few
    /// hundred bytes), each part by its size: each event kept and each entry of the tally but
    /// its day sums (items of evidence, the caps' windows, overdue placeholders; see
    /// `Tally::len`) one; each promise a half; each invoice a quarter; each day sum, order,
    /// cost, concession demand and settled promise's id an eighth; each time of day an answer
    /// may change at, and each day of a compact state's visits, a sixteenth. Everything a
    /// state holds that grows with its events counts, so that a budget bounds the memory.
    pub fn weight(&self) -> usize {
        let c = &self.commerce;
        let day_sums = self.tally.sums().len();
        let eighths = day_sums
            + c.orders.len()
            + c.costs.len()
            + c.concessions.len()
            + self.promises.forgotten.len();
        let visit_days = self.compact.as_ref().map_or(0, Compact::visit_days);
        self.trust_events.len()
            + (self.tally.len() - day_sums)
            + self.promises.by_id.len() / 2
            + c.invoices.len() / 4
            + eighths / 8
            + (self.anchors.len() + visit_days) / 16
    }

    /// [`project_listing`](super::project_listing) of the events read, as of `as_of`; `None`
    /// when `as_of` is before the newest event's `occurred_at` (fold the events visible then
    /// instead).
    pub fn project(
        &self,
        as_of: Timestamp,
        params: &Params,
        max_contributions: Option<usize>,
    ) -> Option<AccountProjection> {
        let detail = Detail::Explained(max_contributions);
        (self.answers(as_of) && !self.is_compact())
            .then(|| self.parts().evaluate(as_of, params, detail))
    }

    /// [`project_unexplained`](super::project_unexplained) of the events read, as of `as_of`;
    /// `None` as for [`AccountState::project`].
    pub fn project_unexplained(
        &self,
        as_of: Timestamp,
        params: &Params,
    ) -> Option<AccountProjection> {
        (self.answers(as_of) && !self.is_compact())
            .then(|| self.parts().evaluate(as_of, params, Detail::Unexplained))
    }

    /// [`summarize`](super::summarize) of the events read, as of `as_of`, for the event at
    /// `position`; `None` as for [`AccountState::project`].
    pub fn summarize(
        &self,
        position: u64,
        event_id: EventId,
        as_of: Timestamp,
        params: &Params,
    ) -> Option<RelationshipSummary> {
        let account = self.account_id.as_ref()?;
        self.answers(as_of).then(|| {
            let projection = self.parts().evaluate(as_of, params, Detail::Summary);
            RelationshipSummary::of(account, position, event_id, &projection)
        })
    }

    /// [`stable_until`](super::stable_until) of the events read.
    pub fn stable_until(&self, as_of: Timestamp) -> Timestamp {
        self.anchors.until(as_of)
    }

    fn answers(&self, as_of: Timestamp) -> bool {
        !self.needs_history && self.newest.is_none_or(|newest| newest <= as_of)
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            account_id: self.account_id.as_ref(),
            profile: &self.profile,
            events_counted: self.events,
            last_revision: self.last_revision,
            trust_events: self.trust_events.iter().collect(),
            roster: &self.roster,
            promises: &self.promises,
            tally: &self.tally,
            commerce: &self.commerce,
            key_left: self.compact.as_ref().map(|c| &c.key_left),
            compact: self.compact.as_ref(),
        }
    }
}

/// What a projection is evaluated from: the state's parts, or the same parts read from the
/// events at once.
pub(super) struct Parts<'a> {
    pub account_id: Option<&'a AccountId>,
    pub profile: &'a AccountProfile,
    pub events_counted: usize,
    pub last_revision: Option<u64>,
    /// The events [`read_by_trust`], in log order; the tally's indices are into this list.
    pub trust_events: Vec<&'a RecordedEvent>,
    pub roster: &'a Arc<Roster>,
    pub promises: &'a Arc<Promises>,
    pub tally: &'a Tally,
    pub commerce: &'a Commerce,
    /// A compact state's key contacts who left (see `alerts::Facts`).
    pub key_left: Option<&'a BTreeMap<String, bool>>,
    /// A compact state's visits, which it keeps apart from its events.
    pub compact: Option<&'a Compact>,
}

/// The parts read from all of an account's visible events at once.
pub(super) struct Read<'a> {
    account_id: Option<&'a AccountId>,
    events_counted: usize,
    last_revision: Option<u64>,
    trust_events: Vec<&'a RecordedEvent>,
    profile: AccountProfile,
    roster: Arc<Roster>,
    promises: Arc<Promises>,
    tally: Tally,
    commerce: Commerce,
}

impl<'a> Read<'a> {
    /// Reads `events`, the account's events visible as of the projection, in log order. The
    /// roster and the promises are read first, so the caps are counted knowing every
    /// departure: the other way to the state's, which learns of a departure when it comes.
    pub fn of(events: &[&'a RecordedEvent], params: &Params) -> Self {
        let trust_events: Vec<&RecordedEvent> = events
            .iter()
            .copied()
            .filter(|e| read_by_trust(e.event.payload.event_type()))
            .collect();
        let (roster, promises, tally) = evidence::counted(&trust_events, params);
        Read {
            account_id: events.first().map(|e| &e.account_id),
            events_counted: events.len(),
            last_revision: events.iter().map(|e| e.revision).max(),
            profile: events
                .iter()
                .find_map(|e| AccountProfile::of(e))
                .unwrap_or_default(),
            commerce: Commerce::read(events),
            trust_events,
            roster: Arc::new(roster),
            promises: Arc::new(promises),
            tally,
        }
    }

    /// The parts read.
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            account_id: self.account_id,
            profile: &self.profile,
            events_counted: self.events_counted,
            last_revision: self.last_revision,
            trust_events: self.trust_events.clone(),
            roster: &self.roster,
            promises: &self.promises,
            tally: &self.tally,
            commerce: &self.commerce,
            key_left: None,
            compact: None,
        }
    }
}

impl Parts<'_> {
    /// The projection as of `as_of`, no earlier than any event of the parts.
    pub fn evaluate(&self, as_of: Timestamp, params: &Params, detail: Detail) -> AccountProjection {
        let events = &self.trust_events;
        let parts = (self.roster.clone(), self.promises.clone());
        // A summary shows no event ids: the fold needs only the day sums and what the instant
        // derives, not each item aged.
        let entries = match detail {
            Detail::Summary => Entries::Derived,
            Detail::Explained(_) | Detail::Unexplained => Entries::All,
        };
        let set = EvidenceSet::aged(as_of, parts, self.tally, entries, params);
        let fold = trust::fold_counted(&set, self.tally.sums(), params);
        // The trends compare with the evidence `trend_days` earlier: a second fold, of the
        // events visible then, which a summary goes without (compared with itself, every
        // trend reads Steady).
        let earlier;
        let before = match detail {
            Detail::Summary => &fold,
            Detail::Explained(_) | Detail::Unexplained => {
                let then = as_of.plus_days(-i64::from(params.trend_days));
                let visible: Vec<&RecordedEvent> = events
                    .iter()
                    .copied()
                    .filter(|e| e.event.occurred_at <= then)
                    .collect();
                earlier = trust::assess(&visible, then, params).1;
                &earlier
            }
        };
        let mut explained = match detail {
            Detail::Explained(limit) => explain::explain(events, &set, &fold, params, limit),
            Detail::Unexplained | Detail::Summary => explain::Explained::default(),
        };

        let personal_trust = fold
            .personal
            .iter()
            .map(|(id, beta)| {
                let contact = set.roster.contact(id);
                let left_at = contact.left.map(|(at, _)| at);
                let listed = explained.personal.remove(id).unwrap_or_default();
                let personal = PersonalTrust {
                    contact_id: id.clone(),
                    role: contact.role,
                    frozen: left_at.is_some(),
                    left_at,
                    trust: TrustScore::new(*beta, before.personal_of(id), params),
                    contributions: listed.shown.into(),
                    contributions_total: listed.total,
                };
                (id.clone(), personal)
            })
            .collect();
        let org = std::mem::take(&mut explained.org);
        let organizational_trust = OrganizationalTrust {
            trust: TrustScore::new(fold.org, before.org, params),
            contributions: org.shown.into(),
            contributions_total: org.total,
        };

        let commerce = self.commerce;
        let figures = CommercialFigures::new(commerce, as_of, params);
        let promises = PromiseRecord::new(&set.promises, as_of, params);
        let cadence = match self.compact {
            Some(compact) => Cadence::of_visits(compact.visits(), &set.roster, as_of, params),
            None => Cadence::new(events, &set.roster, as_of, params),
        };
        let business = quadrant::business(commerce, as_of, params);
        let (bond, bond_contacts) = quadrant::bond(&set, &fold, params);
        let level = LevelView::new(
            events,
            (&business, &bond),
            &cadence,
            commerce,
            as_of,
            params,
        );
        let quadrant = QuadrantView::new(business, bond, bond_contacts);
        let gifts = gifts::entries(events, &set.roster, params);
        let alerts = alerts::alerts(&alerts::Facts {
            all: events,
            key_left: self.key_left,
            as_of,
            params,
            set: &set,
            fold: &fold,
            promises: &promises,
            cadence: &cadence,
            commerce,
            figures: &figures,
            gifts: &gifts,
        });

        AccountProjection {
            account_id: self.account_id.cloned(),
            profile: self.profile.clone(),
            as_of,
            params_version: params.params_version,
            events_counted: self.events_counted,
            last_revision: self.last_revision,
            personal_trust,
            organizational_trust,
            quadrant,
            level,
            promises,
            cadence,
            commercial: figures,
            alerts,
        }
    }
}

mod compact;
use compact::Compact;

#[cfg(test)]
mod tests;
