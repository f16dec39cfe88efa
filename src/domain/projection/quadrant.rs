//! The four kinds of relationship (docs/domain.md §4; the rules are docs/scoring.md §5): a
//! personal bond and a business relationship, each present or not.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::ids::EventId;
use crate::domain::time::Timestamp;

use super::commercial::Commerce;
use super::evidence::{Channel, EvidenceSet};
use super::params::Params;
use super::trust::TrustFold;

/// The rules the quadrant and the level are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Rule {
    /// Won order revenue in the trailing window is positive.
    Business,
    /// Some active contact trusts the salesperson enough, on enough evidence.
    Bond,
    /// Visit-cadence adherence over the year is high enough.
    VisitCadence,
    /// Enough solutions or critical assistance in the structural window.
    StructuralHelp,
    /// Won orders in enough of the recent repeat-order windows.
    RepeatOrders,
}

/// One rule, whether it holds, and the events that made it hold (or that count towards it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleCheck {
    /// The rule.
    pub rule: Rule,
    /// Whether it holds.
    pub met: bool,
    /// The events behind it, in log order.
    pub event_ids: Vec<EventId>,
}

/// Outsider, Friend, Supplier or Partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Quadrant {
    /// No bond, no business: first contact.
    Outsider,
    /// A bond without business yet.
    Friend,
    /// Business on price and performance alone.
    Supplier,
    /// Both.
    Partner,
}

/// The quadrant and the two rules behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuadrantView {
    /// The quadrant.
    pub quadrant: Quadrant,
    /// The active contacts with a bond, by id.
    pub bond_contacts: Vec<String>,
    /// The business rule.
    pub business: RuleCheck,
    /// The bond rule: its events are those that added positive evidence to a bonded contact.
    pub bond: RuleCheck,
}

/// The business rule: positive won-order revenue in the trailing window.
pub(crate) fn business(commerce: &Commerce, as_of: Timestamp, params: &Params) -> RuleCheck {
    let orders: Vec<_> = commerce
        .orders_aged(as_of, 0, i64::from(params.trailing_days))
        .collect();
    let revenue = orders
        .iter()
        .fold(0_i64, |sum, o| sum.saturating_add(o.revenue));
    RuleCheck {
        rule: Rule::Business,
        met: revenue > 0,
        event_ids: orders.iter().map(|o| o.event_id).collect(),
    }
}

/// The bond rule: an active contact with `P_c >= 0.65` and `u_c <= 0.5`. Left contacts do
/// not count: a bond with someone who has gone is no bond with the account.
pub(crate) fn bond(
    set: &EvidenceSet,
    fold: &TrustFold,
    params: &Params,
) -> (RuleCheck, Vec<String>) {
    let contacts: Vec<String> = fold
        .personal
        .iter()
        .filter(|(id, beta)| {
            set.roster.contact(id).is_active()
                && beta.expected(params) >= params.bond_min_expected
                && beta.uncertainty(params) <= params.bond_max_uncertainty
        })
        .map(|(id, _)| id.clone())
        .collect();
    let bonded: BTreeSet<&str> = contacts.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    let event_ids = set
        .items
        .iter()
        .filter(|i| i.raw_r > 0.0)
        .filter(|i| matches!(&i.channel, Channel::Personal { contact_id } if bonded.contains(contact_id.as_str())))
        .map(|i| i.event_id)
        .filter(|id| seen.insert(*id))
        .collect();
    (
        RuleCheck {
            rule: Rule::Bond,
            met: !contacts.is_empty(),
            event_ids,
        },
        contacts,
    )
}

impl QuadrantView {
    /// The quadrant of the two rules.
    pub(crate) fn new(business: RuleCheck, bond: RuleCheck, bond_contacts: Vec<String>) -> Self {
        let quadrant = match (bond.met, business.met) {
            (false, false) => Quadrant::Outsider,
            (true, false) => Quadrant::Friend,
            (false, true) => Quadrant::Supplier,
            (true, true) => Quadrant::Partner,
        };
        QuadrantView {
            quadrant,
            bond_contacts,
            business,
            bond,
        }
    }
}
