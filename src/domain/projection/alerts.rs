//! Alerts (docs/scoring.md §11): the lessons of docs/domain.md §7 and the compliance rules of
//! its §8, each a stable code, a sentence for a sales manager, and the events behind it.
//!
//! One alert per code per account, naming every event behind it, so a dashboard shows each
//! risk once. Alerts about favors look at the trailing window (the register keeps the rest).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::event::ContactRole;
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::cadence::Cadence;
use super::commercial::{Commerce, CommercialFigures, MarginSum};
use super::evidence::{Channel, EvidenceSet};
use super::gifts::GiftEntry;
use super::params::Params;
use super::promises::PromiseRecord;
use super::trust::{assess, TrustFold};
use super::within_days;

/// The stable code of an alert; serialized as in docs/scoring.md §11 (`PROMISE_OVERDUE`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertCode {
    /// A promise is past due plus grace with no outcome.
    PromiseOverdue,
    /// The visit cadence is overdue.
    CadenceLapsed,
    /// One contact gives most of the personal evidence transferred to the account.
    SingleThreaded,
    /// A decision maker or the top-trust contact left recently.
    KeyContactLeft,
    /// A favor above the per-item limit, or a contact's yearly total above the yearly limit.
    GiftOverLimit,
    /// A favor to a public official without an approval reference.
    GiftToPublicOfficial,
    /// Money owed past its due date.
    ReceivablesOverdue,
    /// The recent margin rate fell against the year before.
    MarginErosion,
    /// Repeated price concession demands.
    PricePressureRepeated,
    /// Relationship cost out of proportion to margin.
    CostExceedsMargin,
    /// The account's revenue share of the portfolio is critical (portfolio-level only).
    ConcentrationCritical,
}

impl AlertCode {
    /// The code as docs/scoring.md §11 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertCode::PromiseOverdue => "PROMISE_OVERDUE",
            AlertCode::CadenceLapsed => "CADENCE_LAPSED",
            AlertCode::SingleThreaded => "SINGLE_THREADED",
            AlertCode::KeyContactLeft => "KEY_CONTACT_LEFT",
            AlertCode::GiftOverLimit => "GIFT_OVER_LIMIT",
            AlertCode::GiftToPublicOfficial => "GIFT_TO_PUBLIC_OFFICIAL",
            AlertCode::ReceivablesOverdue => "RECEIVABLES_OVERDUE",
            AlertCode::MarginErosion => "MARGIN_EROSION",
            AlertCode::PricePressureRepeated => "PRICE_PRESSURE_REPEATED",
            AlertCode::CostExceedsMargin => "COST_EXCEEDS_MARGIN",
            AlertCode::ConcentrationCritical => "CONCENTRATION_CRITICAL",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The stable code.
    pub code: AlertCode,
    /// A sentence for a sales manager.
    pub message: String,
    /// The events behind it.
    pub event_ids: Vec<EventId>,
}

/// Minor units as a decimal amount with two places ("1234.50").
pub(crate) fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// What the alerts are computed from.
pub(crate) struct Facts<'a> {
    /// The account's events the trust fold reads, in log order.
    pub all: &'a [&'a RecordedEvent],
    /// Whether each contact who left held the most trust when it left, when already known
    /// (a compact state's, which no longer holds the events to work it out).
    pub key_left: Option<&'a BTreeMap<String, bool>>,
    pub as_of: Timestamp,
    pub params: &'a Params,
    pub set: &'a EvidenceSet,
    pub fold: &'a TrustFold,
    pub promises: &'a PromiseRecord,
    pub cadence: &'a Cadence,
    pub commerce: &'a Commerce,
    pub figures: &'a CommercialFigures,
    pub gifts: &'a [GiftEntry],
}

/// Every account-level alert, in the order of the codes.
pub(crate) fn alerts(f: &Facts<'_>) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut raise = |code, message: String, event_ids: Vec<EventId>| {
        out.push(Alert {
            code,
            message,
            event_ids,
        })
    };
    let p = f.params;
    let overdue = f.promises.overdue_event_ids();
    if !overdue.is_empty() {
        let n = overdue.len();
        let msg = format!(
            "{n} promise(s) more than {} days past due with no outcome.",
            p.promise_grace_days
        );
        raise(AlertCode::PromiseOverdue, msg, overdue);
    }
    if f.cadence.overdue {
        let msg = format!(
            "No visit since the one due by {}; the expected interval is {} days.",
            day_text(f.cadence.due_by),
            f.cadence.expected_interval_days
        );
        raise(
            AlertCode::CadenceLapsed,
            msg,
            f.cadence.last_visit_event_id.into_iter().collect(),
        );
    }
    if let Some((contact, share)) = single_thread(f) {
        let msg = format!(
            "Contact {contact} gives {:.0}% of the personal trust reaching the account: the relationship rests on one person.",
            100.0 * share
        );
        let ids = contact_events(f.set, &contact);
        raise(AlertCode::SingleThreaded, msg, ids);
    }
    let left = key_contacts_left(f);
    if !left.is_empty() {
        let msg = format!(
            "Key contact(s) {} left in the last {} days.",
            left.iter()
                .map(|l| l.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            p.key_contact_left_days
        );
        raise(
            AlertCode::KeyContactLeft,
            msg,
            left.into_iter().map(|l| l.1).collect(),
        );
    }
    let recent_gifts: Vec<&GiftEntry> = f
        .gifts
        .iter()
        .filter(|g| within_days(f.as_of, g.occurred_at, p.trailing_days))
        .collect();
    for (code, text) in [
        (
            AlertCode::GiftOverLimit,
            format!(
                "favor(s) above {} each or {} per contact per year",
                money(p.gift_item_limit_minor),
                money(p.gift_year_limit_minor)
            ),
        ),
        (
            AlertCode::GiftToPublicOfficial,
            "favor(s) to a public official without an approval reference".to_string(),
        ),
    ] {
        let ids: Vec<EventId> = recent_gifts
            .iter()
            .filter(|g| g.alerts.contains(&code))
            .map(|g| g.event_id)
            .collect();
        if !ids.is_empty() {
            raise(
                code,
                format!("{} {text} in the last {} days.", ids.len(), p.trailing_days),
                ids,
            );
        }
    }
    let late: Vec<EventId> = f
        .figures
        .open_invoices
        .iter()
        .filter(|i| i.overdue)
        .map(|i| i.event_id)
        .collect();
    if !late.is_empty() {
        let msg = format!(
            "{} overdue on {} invoice(s) of {} outstanding.",
            money(f.figures.receivables_overdue_minor),
            late.len(),
            money(f.figures.receivables_outstanding_minor)
        );
        raise(AlertCode::ReceivablesOverdue, msg, late);
    }
    if let Some((recent, prior, ids)) = margin_erosion(f) {
        let msg = format!(
            "Margin rate of the last {} days is {:.1}%, against {:.1}% in the {} days before.",
            p.margin_recent_days,
            100.0 * recent,
            100.0 * prior,
            p.margin_prior_days
        );
        raise(AlertCode::MarginErosion, msg, ids);
    }
    let demands: Vec<EventId> = f
        .commerce
        .concessions
        .iter()
        .filter(|(_, at, _)| within_days(f.as_of, *at, p.price_pressure_days))
        .map(|(id, _, _)| *id)
        .collect();
    if demands.len() >= p.price_pressure_count {
        let msg = format!(
            "{} price concession demands in the last {} days.",
            demands.len(),
            p.price_pressure_days
        );
        raise(AlertCode::PricePressureRepeated, msg, demands);
    }
    let (cost, margin) = (f.figures.relationship_cost_minor, f.figures.margin_minor);
    if cost > 0 && i128::from(cost) * 100 > i128::from(margin) * i128::from(p.cost_margin_percent) {
        let ids = f
            .commerce
            .costs
            .iter()
            .filter(|c| within_days(f.as_of, c.at, p.trailing_days))
            .map(|c| c.event_id)
            .collect();
        let msg = format!(
            "Relationship cost {} is above {}% of the margin {} in the last {} days.",
            money(cost),
            p.cost_margin_percent,
            money(margin),
            p.trailing_days
        );
        raise(AlertCode::CostExceedsMargin, msg, ids);
    }
    out
}

fn day_text(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| format!("day {}", t.day_number()))
}

/// The events that gave `contact` counted personal evidence, in log order.
fn contact_events(set: &EvidenceSet, contact: &str) -> Vec<EventId> {
    let mut seen = BTreeSet::new();
    set.items
        .iter()
        .filter(|i| i.raw_r != 0.0 || i.raw_s != 0.0)
        .filter(|i| matches!(&i.channel, Channel::Personal { contact_id } if contact_id == contact))
        .map(|i| i.event_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// The contact giving more than the threshold share of the transferred personal evidence
/// (`r + s`, so that distrust concentrated in one person counts too), with its share.
fn single_thread(f: &Facts<'_>) -> Option<(String, f64)> {
    let weight = |b: &super::trust::Beta| b.r + b.s;
    let total: f64 = f.fold.transferred.values().map(weight).sum();
    if total <= 0.0 {
        return None;
    }
    f.fold
        .transferred
        .iter()
        .map(|(id, b)| (id.clone(), weight(b) / total))
        .find(|(_, share)| *share > f.params.single_threaded_share)
}

/// Contacts who left in the lookback window and were a decision maker or the top-trust
/// contact when they left: their frozen trust at least that of every contact still active
/// then (and some evidence behind it, so that an unknown contact is no one's key contact).
fn key_contacts_left(f: &Facts<'_>) -> Vec<(String, EventId)> {
    let mut out = Vec::new();
    for (id, contact) in &f.set.roster.contacts {
        let Some((at, event)) = contact.left else {
            continue;
        };
        if !within_days(f.as_of, at, f.params.key_contact_left_days) {
            continue;
        }
        let key = contact.role == ContactRole::DecisionMaker
            || match f.key_left {
                Some(known) => known.get(id).copied().unwrap_or(false),
                None => held_most_trust_when_left(f.all.iter().copied(), id, at, f.params),
            };
        if key {
            out.push((id.clone(), event));
        }
    }
    out
}

/// Whether contact `id`, who left at `at`, held the most trust then, judged from the events
/// of `all` (the account's, in log order) visible at that instant.
pub(crate) fn held_most_trust_when_left<'a>(
    all: impl Iterator<Item = &'a RecordedEvent>,
    id: &str,
    at: Timestamp,
    params: &Params,
) -> bool {
    let visible: Vec<&RecordedEvent> = all.filter(|e| e.event.occurred_at <= at).collect();
    let (then_set, then) = assess(&visible, at, params);
    held_most_trust(&then_set, &then, id, params)
}

/// Whether contact `id` held the most personal trust of the contacts active in `set`, with
/// some evidence of its own: a key contact when it leaves.
pub(crate) fn held_most_trust(
    set: &EvidenceSet,
    fold: &TrustFold,
    id: &str,
    params: &Params,
) -> bool {
    let mine = fold.personal_of(id);
    let mut others = fold
        .personal
        .iter()
        .filter(|(other, _)| *other != id && set.roster.contact(other).is_active())
        .map(|(_, b)| b.expected(params));
    mine.r + mine.s > 0.0 && others.all(|p| p <= mine.expected(params))
}

/// The recent and prior margin rates and the recent orders, when the recent rate fell by at
/// least the threshold. Compared in integers so that the boundary is exact.
fn margin_erosion(f: &Facts<'_>) -> Option<(f64, f64, Vec<EventId>)> {
    let p = f.params;
    let recent_days = i64::from(p.margin_recent_days);
    let recent = MarginSum::of(f.commerce.orders_aged(f.as_of, 0, recent_days));
    let prior_end = recent_days + i64::from(p.margin_prior_days);
    let prior = MarginSum::of(f.commerce.orders_aged(f.as_of, recent_days, prior_end));
    let (rr, pr) = (recent.rate()?, prior.rate()?);
    // prior_m / prior_rev - recent_m / recent_rev >= bp / 10000, cross-multiplied.
    let (pm, prev) = (
        i128::from(prior.margin),
        i128::from(prior.revenue_with_margin),
    );
    let (rm, rrev) = (
        i128::from(recent.margin),
        i128::from(recent.revenue_with_margin),
    );
    let drop = (pm * rrev - rm * prev) * 10_000;
    if drop < i128::from(p.margin_erosion_bp) * prev * rrev {
        return None;
    }
    let ids = f
        .commerce
        .orders_aged(f.as_of, 0, recent_days)
        .filter(|o| o.margin.is_some())
        .map(|o| o.event_id)
        .collect();
    Some((rr, pr, ids))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rule_tests;
