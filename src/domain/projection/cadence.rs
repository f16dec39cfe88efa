//! Visit cadence (docs/scoring.md §7; docs/domain.md §2, lever 2: visit, and visit again).
//!
//! How often the account should be visited depends on who the salesperson must keep close;
//! adherence asks whether every interval of the last year had its visit, so a burst of visits
//! in one month does not hide eleven empty ones.

use serde::{Deserialize, Serialize};

use crate::domain::event::{ContactRole, EventPayload};
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::params::Params;
use super::roster::Roster;

/// The account's visit cadence as of the projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cadence {
    /// Expected days between visits.
    pub expected_interval_days: u32,
    /// The role that set it (none for a key account or an account without active contacts).
    pub basis_role: Option<ContactRole>,
    /// `n = floor(CADENCE_YEAR_DAYS / E)` (a year): the windows adherence looks at.
    pub windows: u32,
    /// How many of them hold at least one visit.
    pub windows_with_visit: u32,
    /// `windows_with_visit / windows`.
    pub adherence: f64,
    /// The visits inside those windows, in log order.
    pub visit_event_ids: Vec<EventId>,
    /// The latest visit by `occurred_at` (the later in the log on a tie).
    pub last_visit: Option<Timestamp>,
    /// Its event.
    pub last_visit_event_id: Option<EventId>,
    /// The next visit planned at the last visit.
    pub next_planned: Option<Timestamp>,
    /// When the next visit is due: the planned one, or the last plus twice the interval.
    pub due_by: Option<Timestamp>,
    /// `as_of` is past `due_by`. An account never visited is not overdue: it has no rhythm
    /// to lapse from yet.
    pub overdue: bool,
}

/// The days before `as_of` the cadence's windows lie in: whole intervals inside a year.
pub(crate) const CADENCE_YEAR_DAYS: u32 = 365;

/// One visit as the cadence reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Visited {
    /// When it occurred.
    pub at: Timestamp,
    /// Its event: `None` for the instants a compact state keeps of a day's visits, which
    /// only a summary reads (it lists no visit).
    pub event_id: Option<EventId>,
    /// The next visit it planned.
    pub next_visit_on: Option<Timestamp>,
}

impl Visited {
    /// The visit `record` is, if it is one.
    pub fn of(record: &RecordedEvent) -> Option<Visited> {
        match &record.event.payload {
            EventPayload::Visit(visit) => Some(Visited {
                at: record.event.occurred_at,
                event_id: Some(record.event.event_id),
                next_visit_on: visit.next_visit_on,
            }),
            _ => None,
        }
    }
}

impl Cadence {
    /// The cadence of the visible `events` as of `as_of`.
    pub(crate) fn new(
        events: &[&RecordedEvent],
        roster: &Roster,
        as_of: Timestamp,
        params: &Params,
    ) -> Self {
        Cadence::of_visits(
            events.iter().filter_map(|record| Visited::of(record)),
            roster,
            as_of,
            params,
        )
    }

    /// The cadence of `visits`, in log order, as of `as_of`.
    pub(crate) fn of_visits(
        visits: impl Iterator<Item = Visited>,
        roster: &Roster,
        as_of: Timestamp,
        params: &Params,
    ) -> Self {
        let role = roster.most_senior_active_role();
        let e = params.cadence.expected_days(roster.segment, role).max(1);
        let basis_role = if roster.segment == crate::domain::event::AccountSegment::Key {
            None
        } else {
            role
        };
        let n = CADENCE_YEAR_DAYS / e;
        let mut hit = vec![false; n as usize];
        let mut visit_event_ids = Vec::new();
        let mut last: Option<Visited> = None;
        for visit in visits {
            let window = as_of.days_since(visit.at) / i64::from(e);
            if (0..i64::from(n)).contains(&window) {
                hit[window as usize] = true;
                visit_event_ids.extend(visit.event_id);
            }
            if last.is_none_or(|l| visit.at >= l.at) {
                last = Some(visit);
            }
        }
        let windows_with_visit = hit.iter().filter(|h| **h).count() as u32;
        let adherence = if n == 0 {
            0.0
        } else {
            f64::from(windows_with_visit) / f64::from(n)
        };
        let due_by = last.map(|l| {
            l.next_visit_on.unwrap_or_else(|| {
                l.at.plus_days(i64::from(params.cadence.lapse_multiplier * e))
            })
        });
        Cadence {
            expected_interval_days: e,
            basis_role,
            windows: n,
            windows_with_visit,
            adherence,
            visit_event_ids,
            last_visit: last.map(|l| l.at),
            last_visit_event_id: last.and_then(|l| l.event_id),
            next_planned: last.and_then(|l| l.next_visit_on),
            due_by,
            overdue: due_by.is_some_and(|d| as_of > d),
        }
    }
}

#[cfg(test)]
mod tests;
