//! Projections: an account's events folded into the numbers of docs/scoring.md.
//!
//! [`project`] is a pure function of the account's events, an explicit `as_of` and a
//! versioned [`Params`]: no clock, no IO, no randomness, no hash-map order. Replaying the same
//! events with the same parameters gives byte-identical output (a test serializes two folds
//! and compares the bytes), which is what lets an auditor check a number long after it was
//! shown.
//!
//! # Layout
//!
//! - [`params`]: every number of docs/scoring.md, versioned (its §2);
//! - `decay`: `0.5^(age / H)` with only `+ - * /`, bit-identical everywhere;
//! - `roster`: the account's segment and contacts (roles, who left, public officials);
//! - [`promises`]: promises, their outcomes and the derived overdue status;
//! - [`evidence`]: what each event says about trust, per channel;
//! - `caps`: the evidence table's caps, over fixed windows in log order;
//! - `day_sums`: the evidence summed per channel, half-life and calendar day, as trust sums it;
//! - [`trust`]: beta reputation, personal and organizational trust;
//! - [`explain`]: each score's contributions, with exact leave-one-out deltas;
//! - [`change`]: what changed a score between two checkpoints;
//! - [`quadrant`], [`level`]: the article's four kinds and three levels of relationship;
//! - [`cadence`]: the visit rhythm;
//! - [`commercial`]: revenue, margin, relationship cost, receivables, price pressure;
//! - [`alerts`]: the account-level alerts;
//! - [`gifts`]: the gifts-and-hospitality register;
//! - [`portfolio`]: revenue concentration across accounts;
//! - [`summary`]: the few facts of a projection whose changes matter (quadrant, level, grade,
//!   alerts), kept by the live projector and reported by the change feed; and the brief a list
//!   shows of each relationship.
//!
//! # Invariants
//!
//! - Only events with `occurred_at <= as_of` count, taken in log order (stream revision).
//! - Ages are whole days (evidence's in calendar days, so that a channel's evidence is a sum
//!   over its days); window caps use fixed buckets `floor(day_number / N)`; trailing
//!   windows of N days hold the events whose age in days is `0..N`.
//! - Orders, payments, costs and price pressure never feed trust; a favor's value never does.
//! - Every collection that reaches the output is ordered (`BTreeMap`, log order, or an
//!   explicit sort with a total order).

pub mod alerts;
pub mod cadence;
mod caps;
pub mod change;
pub mod commercial;
mod day_sums;
mod decay;
pub mod evidence;
pub mod explain;
pub mod gifts;
pub mod level;
pub mod params;
pub mod portfolio;
pub mod promises;
pub mod quadrant;
mod roster;
pub mod stability;
pub mod state;
pub mod summary;
#[cfg(test)]
pub(crate) mod testkit;
pub mod trust;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::ids::{AccountId, EventId};
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

pub use alerts::{Alert, AlertCode};
pub use cadence::Cadence;
pub use change::{explain_change, Checkpoint, ScoreChange, TrustChange};
pub use commercial::{CommercialFigures, InvoiceLine};
pub use decay::decay;
pub use evidence::{Channel, Factor};
pub use explain::{Contribution, EvidencePart};
pub use gifts::{gift_register, GiftEntry};
pub use level::{Level, LevelView};
pub use params::{Params, DEFAULT_PARAMS_VERSION};
pub use portfolio::{concentration, portfolio, AccountRevenue, AccountShare, Portfolio};
pub use promises::{PromiseLine, PromiseRecord, PromiseStatus};
pub use quadrant::{Quadrant, QuadrantView, Rule, RuleCheck};
pub use stability::stable_until;
pub use state::AccountState;
pub use summary::{RelationshipBrief, RelationshipChange, RelationshipSummary};
pub use trust::{Beta, Grade, PersonalTrust, Trend, TrustScore};

/// Whether `at` lies in the trailing `days` days ending at `as_of`: its age in whole days is
/// `0..days`, i.e. `as_of - days * 86400 s < at <= as_of`.
pub(crate) fn within_days(as_of: Timestamp, at: Timestamp, days: u32) -> bool {
    (0..i64::from(days)).contains(&as_of.days_since(at))
}

/// The account's trust in the supplier as a company.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrganizationalTrust {
    /// The score.
    pub trust: TrustScore,
    /// Biggest first: all of them, or the biggest few when a projection asked for so many.
    /// Shared, so that a kept answer is copied without copying them.
    pub contributions: Arc<[Contribution]>,
    /// How many events contribute, listed or not.
    pub contributions_total: usize,
}

/// Who the account is, from its `account_opened` event (no event changes it yet): what a list
/// of relationships shows and filters on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountProfile {
    /// The customer's name.
    pub name: String,
    /// The owning salesperson.
    pub owner: String,
    /// Key or standard account (`None` before the account was opened).
    pub segment: Option<crate::domain::event::AccountSegment>,
    /// The customer's industry.
    pub industry: String,
    /// Where the customer operates.
    pub region: String,
}

impl AccountProfile {
    /// The profile of the account whose events (in log order) are `account_events`.
    pub fn read(account_events: &[RecordedEvent]) -> Self {
        account_events
            .iter()
            .find_map(AccountProfile::of)
            .unwrap_or_default()
    }

    /// The profile an `account_opened` event gives; `None` for any other event.
    pub fn of(record: &RecordedEvent) -> Option<Self> {
        match &record.event.payload {
            crate::domain::event::EventPayload::AccountOpened(opened) => Some(AccountProfile {
                name: opened.name.clone(),
                owner: opened.owner.clone(),
                segment: Some(opened.segment),
                industry: opened.industry.clone(),
                region: opened.region.clone(),
            }),
            _ => None,
        }
    }
}

/// Everything docs/scoring.md says about one account, as of one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountProjection {
    /// The account (none when it has no events).
    pub account_id: Option<AccountId>,
    /// Name, owner and segment, from the opening event.
    pub profile: AccountProfile,
    /// The instant projected, so the answer can be replayed.
    pub as_of: Timestamp,
    /// The rules used.
    pub params_version: &'static str,
    /// How many events counted (`occurred_at <= as_of`).
    pub events_counted: usize,
    /// The highest stream revision among the counted events: with `as_of` and
    /// `params_version`, what a replay needs to reproduce this projection.
    pub last_revision: Option<u64>,
    /// Each contact's personal trust, by contact id.
    pub personal_trust: BTreeMap<String, PersonalTrust>,
    /// The account's organizational trust.
    pub organizational_trust: OrganizationalTrust,
    /// Outsider, Friend, Supplier or Partner.
    pub quadrant: QuadrantView,
    /// None, Price, Service or Interdependence.
    pub level: LevelView,
    /// The promise record.
    pub promises: PromiseRecord,
    /// The visit cadence.
    pub cadence: Cadence,
    /// Revenue, margin, cost, receivables and price pressure.
    pub commercial: CommercialFigures,
    /// Account-level alerts, in the order of their codes.
    pub alerts: Vec<Alert>,
}

/// Projects one account's events (in log order) as of `as_of`.
///
/// Events with `occurred_at > as_of` are ignored, so projecting as of an earlier instant is
/// the same as projecting the events that had occurred by then.
pub fn project(
    account_events: &[RecordedEvent],
    as_of: Timestamp,
    params: &Params,
) -> AccountProjection {
    assemble(account_events, as_of, params, Detail::Explained(None))
}

/// [`project`] listing only each score's `max_contributions` biggest contributions (their
/// totals still count every one): the same list, cut, without writing out the rest.
pub fn project_listing(
    account_events: &[RecordedEvent],
    as_of: Timestamp,
    params: &Params,
    max_contributions: Option<usize>,
) -> AccountProjection {
    assemble(
        account_events,
        as_of,
        params,
        Detail::Explained(max_contributions),
    )
}

/// [`project`] without the contributions (every `contributions` list is empty): the same
/// scores, quadrant, level and alerts, without the leave-one-out folds that cost the most.
/// For callers that show projections in brief, such as a list of relationships (the live
/// projector, which keeps only a [`RelationshipSummary`], uses [`summarize`]).
pub fn project_unexplained(
    account_events: &[RecordedEvent],
    as_of: Timestamp,
    params: &Params,
) -> AccountProjection {
    assemble(account_events, as_of, params, Detail::Unexplained)
}

/// The [`RelationshipSummary`] of an account's events (in log order) as of `as_of`, for the
/// event at `position` (`event_id`): what [`RelationshipSummary::of`] of [`project_unexplained`]
/// gives, without the second fold of the trust evidence, as of `trend_days` earlier, that a
/// projection's trends need and a summary does not show (for an account whose evidence is
/// older than that, about as costly as the first). For the live projector, which keeps only
/// summaries and folds every account a page touches.
pub fn summarize(
    account: &AccountId,
    position: u64,
    event_id: EventId,
    account_events: &[RecordedEvent],
    as_of: Timestamp,
    params: &Params,
) -> RelationshipSummary {
    let projection = assemble(account_events, as_of, params, Detail::Summary);
    RelationshipSummary::of(account, position, event_id, &projection)
}

/// How much of a projection is worked out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Everything, contributions included: each score's biggest so many, or all of them.
    Explained(Option<usize>),
    /// Everything but the contributions.
    Unexplained,
    /// Only what a [`RelationshipSummary`] shows: no contributions, every trend `Steady` (not
    /// worked out), and rules and alerts without the ids of the events behind them (the items
    /// of evidence are not aged one by one). Never leaves [`summarize`].
    Summary,
}

fn assemble(
    account_events: &[RecordedEvent],
    as_of: Timestamp,
    params: &Params,
    detail: Detail,
) -> AccountProjection {
    let events = trust::visible(account_events, as_of);
    state::Read::of(&events, params)
        .parts()
        .evaluate(as_of, params, detail)
}
