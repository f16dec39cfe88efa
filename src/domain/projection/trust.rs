//! Trust as beta reputation (Josang & Ismail 2002): personal trust per contact, and the
//! account's organizational trust, which personal trust feeds but never the other way round
//! (Doney & Cannon 1997).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::event::ContactRole;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::day_sums::{ByDay, DaySums};
use super::decay::Decays;
use super::evidence::{collect_counted, Channel, Evidence, EvidenceSet};
use super::params::Params;

/// Accumulated, decayed evidence: positive `r`, negative `s`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Beta {
    /// Positive evidence.
    pub r: f64,
    /// Negative evidence.
    pub s: f64,
}

impl Beta {
    /// Expected trust `P = (r + a W) / (r + s + W)`.
    pub fn expected(&self, params: &Params) -> f64 {
        (self.r + params.base_rate * params.prior_weight) / (self.r + self.s + params.prior_weight)
    }

    /// Uncertainty `u = W / (r + s + W)`: 1 with no evidence, falling as evidence grows.
    pub fn uncertainty(&self, params: &Params) -> f64 {
        params.prior_weight / (self.r + self.s + params.prior_weight)
    }

    fn add(&mut self, r: f64, s: f64) {
        self.r += r;
        self.s += s;
    }
}

/// A score's grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Grade {
    /// Score at least 60.
    Good,
    /// Score 40 to 59.
    Fair,
    /// Score below 40.
    Poor,
    /// Uncertainty above 0.8: too little evidence to grade.
    NotEnoughInfo,
}

/// The direction of trust over the trend window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trend {
    /// Expected trust rose by at least the threshold.
    Improving,
    /// Within the threshold.
    Steady,
    /// Fell by at least the threshold.
    Declining,
}

/// One trust score, as docs/scoring.md §4.4 reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustScore {
    /// The evidence behind it.
    pub evidence: Beta,
    /// Expected trust `P`, 0..1.
    pub expected: f64,
    /// `round(100 P)`.
    pub score: u8,
    /// Uncertainty `u`.
    pub uncertainty: f64,
    /// `1 - u`.
    pub confidence: f64,
    /// Good, Fair, Poor or not enough information.
    pub grade: Grade,
    /// `P(as_of) - P(as_of - trend window)`.
    pub trend_delta: f64,
    /// The trend that delta means.
    pub trend: Trend,
}

impl TrustScore {
    /// The score of `now`, with its trend against `before` (the same channel one trend window
    /// earlier).
    pub fn new(now: Beta, before: Beta, params: &Params) -> Self {
        let expected = now.expected(params);
        let uncertainty = now.uncertainty(params);
        // P is in [0, 1], so the product rounds into 0..=100.
        let score = (100.0 * expected).round() as u8;
        let grade = if uncertainty > params.not_enough_info_uncertainty {
            Grade::NotEnoughInfo
        } else if score >= params.grade_good_min {
            Grade::Good
        } else if score >= params.grade_fair_min {
            Grade::Fair
        } else {
            Grade::Poor
        };
        let trend_delta = expected - before.expected(params);
        let trend = if trend_delta >= params.trend_threshold {
            Trend::Improving
        } else if trend_delta <= -params.trend_threshold {
            Trend::Declining
        } else {
            Trend::Steady
        };
        TrustScore {
            evidence: now,
            expected,
            score,
            uncertainty,
            confidence: 1.0 - uncertainty,
            grade,
            trend_delta,
            trend,
        }
    }
}

/// The trust channels summed from one evidence set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrustFold {
    /// Each contact's own evidence (active or frozen), by contact id.
    pub personal: BTreeMap<String, Beta>,
    /// Active contacts' transferred evidence: `transfer * role_weight * (r_c, s_c)`.
    pub transferred: BTreeMap<String, Beta>,
    /// The organizational channel's own evidence, before the transfer.
    pub direct: Beta,
    /// The organizational channel: direct evidence plus the transferred.
    pub org: Beta,
}

impl TrustFold {
    /// Contact `id`'s evidence; none is the prior.
    pub fn personal_of(&self, id: &str) -> Beta {
        self.personal.get(id).copied().unwrap_or_default()
    }
}

/// The part of one item of evidence in the organizational channel: direct evidence counts
/// fully, an active contact's personal evidence by the transfer factor and its role weight,
/// a left contact's not at all.
pub(crate) fn org_share(item: &Evidence, set: &EvidenceSet, params: &Params) -> Option<f64> {
    match &item.channel {
        Channel::Organizational => Some(1.0),
        Channel::Personal { contact_id } => {
            let contact = set.roster.contact(contact_id);
            contact
                .is_active()
                .then(|| params.personal_transfer * params.role_weights.of(contact.role))
        }
    }
}

/// Sums `set` into the trust channels, its counted evidence summed again from its items.
pub(crate) fn fold(set: &EvidenceSet, params: &Params) -> TrustFold {
    let counted = DaySums::of(set.items.iter().filter(|i| !i.is_derived()));
    fold_counted(set, &counted, params)
}

/// Sums `set` into the trust channels, with `counted` the day sums of its items that are not
/// derived (kept by a tally as it counted them, or summed from the items: the same bits).
pub(crate) fn fold_counted(set: &EvidenceSet, counted: &DaySums, params: &Params) -> TrustFold {
    let derived = DaySums::of(set.items.iter().filter(|i| i.is_derived()));
    let roster = &set.roster;
    let mut decays = Decays::default();
    let mut ids: BTreeSet<&str> = roster.contacts.keys().map(String::as_str).collect();
    ids.extend(counted.personal.keys().map(String::as_str));
    ids.extend(derived.personal.keys().map(String::as_str));
    // Each channel sums its counted days, then its derived ones, aged to its clock: the
    // account's instant, or when the contact left.
    let mut channel = |clock: Timestamp, days: [Option<&ByDay>; 2]| {
        let mut beta = Beta::default();
        for by_day in days.into_iter().flatten() {
            let aged = by_day.aged(clock, &mut decays);
            beta.add(aged.r, aged.s);
        }
        beta
    };
    let personal: BTreeMap<String, Beta> = ids
        .into_iter()
        .map(|id| {
            let clock = roster.contact(id).clock(set.as_of);
            let days = [counted.personal.get(id), derived.personal.get(id)];
            (id.to_string(), channel(clock, days))
        })
        .collect();
    let direct = channel(set.as_of, [Some(&counted.org), Some(&derived.org)]);
    // r_A = r_direct + transfer * sum(role_weight(c) * r_c), over active contacts, literally
    // as docs/scoring.md §4.3 writes it, so that the numbers can be checked by hand.
    let mut weighted = Beta::default();
    let mut transferred = BTreeMap::new();
    for (id, beta) in &personal {
        let contact = roster.contact(id);
        if !contact.is_active() {
            continue;
        }
        let rw = params.role_weights.of(contact.role);
        weighted.add(rw * beta.r, rw * beta.s);
        let t = params.personal_transfer * rw;
        transferred.insert(
            id.clone(),
            Beta {
                r: t * beta.r,
                s: t * beta.s,
            },
        );
    }
    let org = Beta {
        r: direct.r + params.personal_transfer * weighted.r,
        s: direct.s + params.personal_transfer * weighted.s,
    };
    TrustFold {
        personal,
        transferred,
        direct,
        org,
    }
}

/// The events of `all` that occurred no later than `as_of`, in log order.
pub(crate) fn visible(all: &[RecordedEvent], as_of: Timestamp) -> Vec<&RecordedEvent> {
    all.iter()
        .filter(|e| e.event.occurred_at <= as_of)
        .collect()
}

/// Evidence and trust of `events` (already visible at `as_of`).
pub(crate) fn assess(
    events: &[&RecordedEvent],
    as_of: Timestamp,
    params: &Params,
) -> (EvidenceSet, TrustFold) {
    let (set, tally) = collect_counted(events, as_of, params);
    let fold = fold_counted(&set, tally.sums(), params);
    (set, fold)
}

/// One contact's personal trust.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonalTrust {
    /// The contact.
    pub contact_id: String,
    /// The buying role (`OTHER` for a contact never added).
    pub role: ContactRole,
    /// Left the account: the score is frozen at `left_at` and out of the account's totals.
    pub frozen: bool,
    /// When the contact left.
    pub left_at: Option<Timestamp>,
    /// The score.
    pub trust: TrustScore,
    /// Biggest first: all of them, or the biggest few when a projection asked for so many.
    /// Shared, so that a kept answer is copied without copying them.
    pub contributions: std::sync::Arc<[super::explain::Contribution]>,
    /// How many events contribute, listed or not.
    pub contributions_total: usize,
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fold_tests;
