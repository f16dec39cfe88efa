//! A compact account state: what it keeps (see the parent module's docs), and which events
//! need the history instead.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::event::{ContactRole, EventPayload};
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::super::cadence::{Visited, CADENCE_YEAR_DAYS};
use super::super::caps::settled;
use super::super::evidence::{Entries, EvidenceSet};
use super::super::roster::Roster;
use super::super::{alerts, trust, Params};
use super::{lightened, read_by_trust, AccountState};

/// How many days of evidence before its newest event a compact state keeps the day sums of
/// (see [`AccountState::prune`]): evidence dated earlier than that when it arrives needs the
/// history. A quarter keeps late entries of the usual kind (a visit logged weeks after) from
/// costing a rebuild, and bounds the sums whatever the history's length.
const DAYS_KEPT: i64 = 90;

/// Whether a compact state whose roster is `roster` and newest instant `newest` can take
/// `record` without the history: not a departure recorded after later events (the key-contact
/// test and the caps need the events visible then), nor an event dated at or before a
/// departure that may still raise `KEY_CONTACT_LEFT` (it changes what the contact held then),
/// nor evidence dated over [`DAYS_KEPT`] days before the newest event (the day sums may no
/// longer hold its day: every pruning keeps the days from its own newest event's minus
/// `DAYS_KEPT`, no later than this one's).
pub(super) fn takes(
    roster: &Roster,
    newest: Option<Timestamp>,
    record: &RecordedEvent,
    params: &Params,
) -> bool {
    let at = record.event.occurred_at;
    if let EventPayload::ContactLeft(left) = &record.event.payload {
        let leaves = roster
            .contacts
            .get(&left.contact_id)
            .is_none_or(|c| c.left.is_none());
        if leaves && newest.is_some_and(|newest| at < newest) {
            return false;
        }
    }
    if !read_by_trust(record.event.payload.event_type()) {
        return true;
    }
    if newest.is_some_and(|newest| at.day_number() < newest.day_number() - DAYS_KEPT) {
        return false;
    }
    let newest = newest.unwrap_or(Timestamp::EPOCH).max(at);
    let window = i64::from(params.key_contact_left_days);
    // A decision maker who left is a key contact whatever it held.
    !roster.contacts.values().any(|contact| {
        contact.role != ContactRole::DecisionMaker
            && contact
                .left
                .is_some_and(|(left_at, _)| at <= left_at && newest.days_since(left_at) < window)
    })
}

/// What a compact state keeps besides its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Compact {
    /// Each contact who left, other than a decision maker, and whether it held the most
    /// trust when it left (`KEY_CONTACT_LEFT`), worked out from the events visible then.
    pub key_left: BTreeMap<String, bool>,
    /// The state's size after the last pruning ([`AccountState::pruned_size`]): the next
    /// prunes at twice that.
    kept: usize,
    /// Each day of the last year a visit occurred on, with the instants of its first and its
    /// last visit, instead of the visits: whether a cadence window holds a visit needs no
    /// more, since a window is a whole number of days long, so a day's visits that reach into
    /// it include its first or its last.
    visit_days: BTreeMap<i64, (Timestamp, Timestamp)>,
    /// The last visit (the later in the log on a tie), kept whatever its age: the next one is
    /// due from it.
    last_visit: Option<Visited>,
}

impl Compact {
    /// The visits the cadence reads: the instants of each day's first and last, then the
    /// last visit (which wins a tie, as the later in the log).
    pub fn visits(&self) -> impl Iterator<Item = Visited> + '_ {
        let instant = |at: Timestamp| Visited {
            at,
            event_id: None,
            next_visit_on: None,
        };
        self.visit_days
            .values()
            .flat_map(move |&(first, last)| [instant(first), instant(last)])
            .chain(self.last_visit)
    }

    /// How many days of visits it keeps.
    pub fn visit_days(&self) -> usize {
        self.visit_days.len()
    }

    /// Counts `visit` (the state's newest instant then `newest`).
    fn visit(&mut self, visit: Visited, newest: Timestamp) {
        if self.last_visit.is_none_or(|last| visit.at >= last.at) {
            self.last_visit = Some(visit);
        }
        if newest.days_since(visit.at) < CADENCE_YEAR {
            let day = self
                .visit_days
                .entry(visit.at.day_number())
                .or_insert((visit.at, visit.at));
            day.0 = day.0.min(visit.at);
            day.1 = day.1.max(visit.at);
        }
    }
}

/// The days before `as_of` a cadence window reaches.
const CADENCE_YEAR: i64 = CADENCE_YEAR_DAYS as i64;

/// Whether a summary as of `newest` or later may read `record`, an event the state keeps
/// (visits are kept as instants, see [`Compact`]): the solutions and critical assistance of
/// the structural window, and every favor (the gift register has no window).
fn summary_reads(record: &RecordedEvent, newest: Timestamp, params: &Params) -> bool {
    let age = newest.days_since(record.event.occurred_at);
    match record.event.payload {
        EventPayload::SolutionDelivered(_) | EventPayload::CriticalAssistance(_) => {
            age < i64::from(params.structural_window_days)
        }
        EventPayload::FavorGiven(_) => true,
        _ => false,
    }
}

impl AccountState {
    /// Keeps what a compact state keeps of `record`, just read (`departed`: the contact it
    /// made leave, and when).
    pub(super) fn keep_compact(
        &mut self,
        record: Cow<'_, RecordedEvent>,
        departed: Option<(String, Timestamp)>,
        params: &Params,
    ) {
        let Some(compact) = &mut self.compact else {
            return;
        };
        let newest = self.newest.unwrap_or(Timestamp::EPOCH);
        if let Some(visit) = Visited::of(&record) {
            compact.visit(visit, newest);
        } else if summary_reads(&record, newest, params) {
            self.trust_events.push(lightened(record.into_owned()));
        }
        let due = 2 * compact.kept + 64;
        if self.pruned_size() > due {
            self.prune(params);
        }
        if let Some((id, at)) = departed {
            // In order (`takes`): every event read is visible at the departure, so the state's
            // own fold as of it is the fold of the events visible then.
            let key = self.held_most_trust_at(&id, at, params);
            if let Some(compact) = &mut self.compact {
                compact.key_left.insert(id, key);
            }
        }
    }

    /// Whether contact `id`, who left at `at` (no earlier than any event read), held the most
    /// trust then.
    fn held_most_trust_at(&self, id: &str, at: Timestamp, params: &Params) -> bool {
        let parts = (Arc::clone(&self.roster), Arc::clone(&self.promises));
        let set = EvidenceSet::aged(at, parts, &self.tally, Entries::Derived, params);
        let fold = trust::fold_counted(&set, self.tally.sums(), params);
        alerts::held_most_trust(&set, &fold, id, params)
    }

    /// Keeps from now on only what a summary reads (see the module docs): the state's size
    /// is then bounded by the windows the rules look back over, not by the history. A
    /// compact state summarizes as before, but no longer projects (explanations and trends
    /// need every event: fold the history), and an event it cannot take without the history
    /// sets [`AccountState::needs_history`].
    pub fn compact(&mut self, params: &Params) {
        if self.compact.is_some() || self.needs_history {
            return;
        }
        let mut key_left = BTreeMap::new();
        for (id, contact) in &self.roster.contacts {
            let Some((at, _)) = contact.left else {
                continue;
            };
            if contact.role == ContactRole::DecisionMaker {
                continue;
            }
            let key = alerts::held_most_trust_when_left(self.trust_events.iter(), id, at, params);
            key_left.insert(id.clone(), key);
        }
        let newest = self.newest.unwrap_or(Timestamp::EPOCH);
        let mut compact = Compact {
            key_left,
            ..Compact::default()
        };
        for visit in self.trust_events.iter().filter_map(Visited::of) {
            compact.visit(visit, newest);
        }
        self.trust_events.retain(|e| Visited::of(e).is_none());
        self.tally.drop_items();
        self.compact = Some(compact);
        self.prune(params);
    }

    /// Drops the kept events a summary no longer reads, the day sums before the last
    /// [`DAYS_KEPT`] days (all but the one whose carried sum holds them), and the caps'
    /// windows that ended before them.
    fn prune(&mut self, params: &Params) {
        let newest = self.newest.unwrap_or(Timestamp::EPOCH);
        self.tally
            .keep_days_from(newest.day_number() - DAYS_KEPT, params);
        self.anchors.forget_before(newest);
        // A summary reads a settled promise no more (the tally holds no placeholder for it),
        // whatever comes later: a departure recorded after the outcome leaves it settled, one
        // recorded late needs the history anyway.
        let roster = &self.roster;
        if self.promises.by_id.values().any(|p| settled(p, roster)) {
            Arc::make_mut(&mut self.promises).forget(|p| settled(p, roster));
        }
        let events = &self.trust_events;
        let key = |i: usize| (events[i].event.occurred_at, i);
        let mut keep = vec![false; events.len()];
        // The structural rule asks for at least so many solutions, or critical assistance,
        // in a window ending at `as_of`: the latest so many tell.
        let (mut solutions, mut critical) = (Vec::new(), Vec::new());
        for (i, e) in events.iter().enumerate() {
            match e.event.payload {
                EventPayload::SolutionDelivered(_) if summary_reads(e, newest, params) => {
                    solutions.push(key(i))
                }
                EventPayload::CriticalAssistance(_) if summary_reads(e, newest, params) => {
                    critical.push(key(i))
                }
                EventPayload::FavorGiven(_) => keep[i] = true,
                _ => {}
            }
        }
        for (mut latest, most) in [
            (solutions, params.structural_min_solutions),
            (critical, params.structural_min_critical),
        ] {
            latest.sort_unstable_by(|a, b| b.cmp(a));
            for (_, i) in latest.into_iter().take(most) {
                keep[i] = true;
            }
        }
        // A day none of whose visits a cadence window reaches from `newest` on.
        if let Some(compact) = &mut self.compact {
            compact
                .visit_days
                .retain(|_, (_, last)| newest.days_since(*last) < CADENCE_YEAR);
        }
        let mut index = 0;
        self.trust_events.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        self.trust_events.shrink_to_fit();
        let size = self.pruned_size();
        if let Some(compact) = &mut self.compact {
            compact.kept = size;
        }
    }

    /// What pruning bounds: the events kept, the tally (day sums, the caps' windows,
    /// placeholders), the promises and the times of day an answer may change at. Each of them
    /// may grow while the others do not (calls add day sums and no kept event, promises no
    /// kept event either, every event a time of day), so pruning is due when their sum
    /// doubles.
    fn pruned_size(&self) -> usize {
        let visit_days = self.compact.as_ref().map_or(0, |c| c.visit_days.len());
        self.trust_events.len()
            + self.tally.len()
            + self.promises.by_id.len()
            + self.anchors.len()
            + visit_days
    }

    /// Whether the state can take `events`, its next ones in log order, without the history:
    /// always, unless it is compact and one of them would set
    /// [`AccountState::needs_history`]. Asked before reading them, so that the history is
    /// read with them when it is needed.
    pub fn takes_all(&self, events: &[RecordedEvent], params: &Params) -> bool {
        if self.needs_history {
            return false;
        }
        if self.compact.is_none() {
            return true;
        }
        // What `advance` reads to decide, advanced alike: the newest instant and the roster.
        let (mut roster, mut newest) = (Arc::clone(&self.roster), self.newest);
        for record in events {
            if !takes(&roster, newest, record, params) {
                return false;
            }
            newest = newest.max(Some(record.event.occurred_at));
            if Roster::changed_by(record) {
                Arc::make_mut(&mut roster).apply(record);
            }
        }
        true
    }

    /// Whether the state is compact ([`AccountState::compact`]).
    pub fn is_compact(&self) -> bool {
        self.compact.is_some()
    }

    /// Whether a compact state met an event it could not take without the history: a
    /// departure recorded after later events, or an event dated before a recent departure.
    /// It then answers nothing; build the state again from the history (and compact it).
    pub fn needs_history(&self) -> bool {
        self.needs_history
    }
}
