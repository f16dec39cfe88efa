//! The three levels of relationship marketing (docs/domain.md §5; Berry & Parasuraman; the
//! rules are docs/scoring.md §6):
//! price (financial bonds), service (social bonds) and interdependence (structural bonds).
//! Each level needs the one below it, and every rule returns the events behind it.

use serde::{Deserialize, Serialize};

use crate::domain::event::EventPayload;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::cadence::Cadence;
use super::commercial::Commerce;
use super::params::Params;
use super::quadrant::{Rule, RuleCheck};
use super::within_days;

/// The relationship-marketing level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// No business.
    None,
    /// Level 1: business on price.
    Price,
    /// Level 2: business, a bond and a kept visit rhythm.
    Service,
    /// Level 3: level 2, structural help and repeat orders.
    Interdependence,
}

/// The level and every rule checked for it, met or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelView {
    /// The level.
    pub level: Level,
    /// Business, bond, visit cadence, structural help and repeat orders, in that order.
    pub rules: Vec<RuleCheck>,
}

/// Level 3's structural help: enough solutions or critical assistance in the window.
fn structural_help(events: &[&RecordedEvent], as_of: Timestamp, params: &Params) -> RuleCheck {
    let (mut solutions, mut critical, mut event_ids) = (0, 0, Vec::new());
    for record in events {
        let e = &record.event;
        if !within_days(as_of, e.occurred_at, params.structural_window_days) {
            continue;
        }
        match e.payload {
            EventPayload::SolutionDelivered(_) => solutions += 1,
            EventPayload::CriticalAssistance(_) => critical += 1,
            _ => continue,
        }
        event_ids.push(e.event_id);
    }
    let met =
        solutions >= params.structural_min_solutions || critical >= params.structural_min_critical;
    RuleCheck {
        rule: Rule::StructuralHelp,
        met,
        event_ids,
    }
}

/// Level 3's repeat orders: won orders in enough of the windows ending at `as_of` (not fixed
/// buckets: docs/scoring.md §6 and §1.3 say the windows end at `as_of`).
fn repeat_orders(commerce: &Commerce, as_of: Timestamp, params: &Params) -> RuleCheck {
    let width = i64::from(params.repeat_window_days.max(1));
    let span = width * i64::from(params.repeat_windows);
    let mut windows = vec![false; params.repeat_windows as usize];
    let mut event_ids = Vec::new();
    for order in commerce.orders_aged(as_of, 0, span) {
        windows[(as_of.days_since(order.at) / width) as usize] = true;
        event_ids.push(order.event_id);
    }
    let filled = windows.iter().filter(|w| **w).count() as u32;
    RuleCheck {
        rule: Rule::RepeatOrders,
        met: filled >= params.repeat_min_windows,
        event_ids,
    }
}

impl LevelView {
    /// The level from its rules.
    pub(crate) fn new(
        events: &[&RecordedEvent],
        (business, bond): (&RuleCheck, &RuleCheck),
        cadence: &Cadence,
        commerce: &Commerce,
        as_of: Timestamp,
        params: &Params,
    ) -> Self {
        let visits = RuleCheck {
            rule: Rule::VisitCadence,
            met: cadence.adherence >= params.service_min_adherence,
            event_ids: cadence.visit_event_ids.clone(),
        };
        let help = structural_help(events, as_of, params);
        let repeat = repeat_orders(commerce, as_of, params);
        let level = if !business.met {
            Level::None
        } else if !(bond.met && visits.met) {
            Level::Price
        } else if !(help.met && repeat.met) {
            Level::Service
        } else {
            Level::Interdependence
        };
        LevelView {
            level,
            rules: vec![business.clone(), bond.clone(), visits, help, repeat],
        }
    }
}

#[cfg(test)]
mod tests;
