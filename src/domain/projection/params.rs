//! The versioned parameter set of docs/scoring.md (its §2).
//!
//! Every number the projections use lives here, so that a replay can name the rules it used
//! (`params_version`) and a change of rules is a change of one value, not a hunt through the
//! code. The defaults are docs/scoring.md's; changing any of them means a new `params_version`
//! (and an update of that document).

use serde::Serialize;

use crate::domain::event::{AccountSegment, ContactRole, EventPayload};

/// The default parameter set's version. Bump it whenever a default changes.
pub const DEFAULT_PARAMS_VERSION: &str = "2026-12-07.2";

/// How one kind of event feeds the two trust channels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EvidenceWeight {
    /// Positive evidence added to the personal channel of each contact concerned.
    pub personal_r: f64,
    /// Negative evidence added to the personal channel of each contact concerned.
    pub personal_s: f64,
    /// Positive evidence added to the account's organizational channel.
    pub org_r: f64,
    /// Negative evidence added to the account's organizational channel.
    pub org_s: f64,
    /// The age in whole days at which the evidence counts half.
    pub half_life_days: u32,
}

impl EvidenceWeight {
    const fn new(personal_r: f64, personal_s: f64, org_r: f64, org_s: f64, h: u32) -> Self {
        EvidenceWeight {
            personal_r,
            personal_s,
            org_r,
            org_s,
            half_life_days: h,
        }
    }
}

/// The weights of the evidence table, one row per kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EvidenceWeights {
    /// `introduction_made`: an accelerator, personal only.
    pub introduction: EvidenceWeight,
    /// `visit`, for each contact met.
    pub visit: EvidenceWeight,
    /// `call`: shares the visit cap.
    pub call: EvidenceWeight,
    /// `promise_kept`.
    pub promise_kept: EvidenceWeight,
    /// `promise_broken`: opportunism weighs double.
    pub promise_broken: EvidenceWeight,
    /// A promise past `due_at + grace` with no outcome (derived, never stored).
    pub promise_overdue: EvidenceWeight,
    /// `solution_delivered`: expert help, mostly organizational.
    pub solution: EvidenceWeight,
    /// `third_party_proof_shared`: organizational only, once per proof kind.
    pub proof: EvidenceWeight,
    /// `favor_given`: light on purpose, capped, and its value never counts.
    pub favor: EvidenceWeight,
    /// `critical_assistance`: help beyond the contract, the heaviest and longest-lived.
    pub critical_assistance: EvidenceWeight,
}

/// How much each buying role's personal trust carries into the account's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoleWeights {
    /// Signs off on the purchase.
    pub decision_maker: f64,
    /// Judges the product technically.
    pub technical_evaluator: f64,
    /// Runs purchasing.
    pub procurement: f64,
    /// Uses the product.
    pub user: f64,
    /// Anyone else.
    pub other: f64,
}

impl RoleWeights {
    /// The weight of `role`.
    pub fn of(&self, role: ContactRole) -> f64 {
        match role {
            ContactRole::DecisionMaker => self.decision_maker,
            ContactRole::TechnicalEvaluator => self.technical_evaluator,
            ContactRole::Procurement => self.procurement,
            ContactRole::User => self.user,
            ContactRole::Other => self.other,
        }
    }
}

/// Expected days between visits, by the most senior active contact (or the key segment).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CadenceIntervals {
    /// When the most senior active contact is a decision maker.
    pub decision_maker_days: u32,
    /// When it is a technical evaluator.
    pub technical_evaluator_days: u32,
    /// Any other role, and an account with no active contact.
    pub other_days: u32,
    /// A `KEY` account, whoever its contacts are.
    pub key_account_days: u32,
    /// Overdue without a planned visit after `lapse_multiplier * expected interval`.
    pub lapse_multiplier: u32,
}

impl CadenceIntervals {
    /// The expected interval for an account of `segment` whose most senior active contact
    /// has `role` (none when it has no active contact).
    pub fn expected_days(&self, segment: AccountSegment, role: Option<ContactRole>) -> u32 {
        if segment == AccountSegment::Key {
            return self.key_account_days;
        }
        match role {
            Some(ContactRole::DecisionMaker) => self.decision_maker_days,
            Some(ContactRole::TechnicalEvaluator) => self.technical_evaluator_days,
            _ => self.other_days,
        }
    }
}

/// Every number of docs/scoring.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// Names this parameter set in every projection, so a replay can name its rules.
    pub params_version: &'static str,
    /// Beta reputation's prior weight W.
    pub prior_weight: f64,
    /// Beta reputation's base rate a.
    pub base_rate: f64,
    /// The evidence table.
    pub weights: EvidenceWeights,
    /// At most this much visit and call evidence per contact per window.
    pub touch_cap_per_window: f64,
    /// The width of the visit and call cap's fixed windows.
    pub touch_window_days: u32,
    /// At most one favor counts per contact per window of this many days.
    pub favor_window_days: u32,
    /// A promise with no outcome is overdue this many days after its due date.
    pub promise_grace_days: u32,
    /// The share of a contact's evidence that carries into the account's (before role weight).
    pub personal_transfer: f64,
    /// Role weights of the transfer.
    pub role_weights: RoleWeights,
    /// Grade Good from this score.
    pub grade_good_min: u8,
    /// Grade Fair from this score (below it, Poor).
    pub grade_fair_min: u8,
    /// Not enough information when the uncertainty is above this.
    pub not_enough_info_uncertainty: f64,
    /// The trend compares with the projection this many days earlier.
    pub trend_days: u32,
    /// A change of expected trust at least this large is a trend.
    pub trend_threshold: f64,
    /// A personal bond needs at least this expected trust...
    pub bond_min_expected: f64,
    /// ...and at most this uncertainty.
    pub bond_max_uncertainty: f64,
    /// Trailing window of the business test and the commercial figures.
    pub trailing_days: u32,
    /// Level 2 needs at least this visit-cadence adherence.
    pub service_min_adherence: f64,
    /// Level 3's window for solutions and critical assistance.
    pub structural_window_days: u32,
    /// Level 3 by this many solutions in the structural window...
    pub structural_min_solutions: usize,
    /// ...or this many critical assistances.
    pub structural_min_critical: usize,
    /// Level 3's repeat-order windows: their width...
    pub repeat_window_days: u32,
    /// ...their number...
    pub repeat_windows: u32,
    /// ...and how many must hold a won order.
    pub repeat_min_windows: u32,
    /// Visit intervals.
    pub cadence: CadenceIntervals,
    /// A favor above this value (minor units) is over the limit.
    pub gift_item_limit_minor: i64,
    /// A contact's favors above this total (minor units) in a rolling year are over the limit.
    pub gift_year_limit_minor: i64,
    /// The rolling year of the gift limit, in days.
    pub gift_year_days: u32,
    /// KEY_CONTACT_LEFT looks back this many days.
    pub key_contact_left_days: u32,
    /// SINGLE_THREADED when one contact gives more than this share of the transferred evidence.
    pub single_threaded_share: f64,
    /// MARGIN_EROSION compares the last this-many days...
    pub margin_recent_days: u32,
    /// ...with this many days before them...
    pub margin_prior_days: u32,
    /// ...and fires at this drop of margin rate, in basis points (500 = five points). An
    /// integer so that the boundary is exact.
    pub margin_erosion_bp: u32,
    /// PRICE_PRESSURE_REPEATED at this many concession demands...
    pub price_pressure_count: usize,
    /// ...within this many days.
    pub price_pressure_days: u32,
    /// COST_EXCEEDS_MARGIN when relationship cost is above this percentage of margin (an
    /// integer so that the comparison is exact).
    pub cost_margin_percent: u32,
    /// Concentration: a major account from this revenue share, in basis points.
    pub concentration_major_bp: u32,
    /// A high concentration from this share.
    pub concentration_high_bp: u32,
    /// A critical concentration from this share (CONCENTRATION_CRITICAL).
    pub concentration_critical_bp: u32,
}

impl Params {
    /// The most days after an instant an event of `payload`'s type names that a rule may read
    /// it, judged at a later instant: the longest window over such events (the structural
    /// window for a solution, the trailing year, the margin's and repeat orders' windows for an
    /// order, the cadence's year and the lapse of a visit interval for a visit, the alerts'
    /// look-backs), plus the trend's days, since the trend judges the same rules that many
    /// days earlier. `occurred` is for its `occurred_at`; a due date or a planned visit reaches
    /// [`Params::due_reach_days`]. Past it, the instant's time of day no longer marks when an
    /// answer may change (see `stability`). Every window of the rules is here: a new one must
    /// be too.
    pub fn occurred_reach_days(&self, payload: &EventPayload) -> i64 {
        let days = |d: u32| i64::from(d);
        let c = &self.cadence;
        let window = match payload {
            EventPayload::Visit(_) => {
                let longest_interval = [
                    c.decision_maker_days,
                    c.technical_evaluator_days,
                    c.other_days,
                    c.key_account_days,
                ]
                .into_iter()
                .max()
                .unwrap_or(0)
                .max(1);
                days(c.lapse_multiplier)
                    .saturating_mul(days(longest_interval))
                    .max(days(super::cadence::CADENCE_YEAR_DAYS))
            }
            EventPayload::SolutionDelivered(_) | EventPayload::CriticalAssistance(_) => {
                days(self.structural_window_days)
            }
            EventPayload::OrderWon(_) | EventPayload::OrderLost(_) => {
                let margin =
                    days(self.margin_recent_days).saturating_add(days(self.margin_prior_days));
                let repeat =
                    days(self.repeat_window_days).saturating_mul(days(self.repeat_windows));
                days(self.trailing_days).max(margin).max(repeat)
            }
            EventPayload::PriceConcessionDemanded(_) => {
                days(self.trailing_days).max(days(self.price_pressure_days))
            }
            EventPayload::RelationshipCost(_) => days(self.trailing_days),
            EventPayload::FavorGiven(_) => days(self.trailing_days)
                .max(days(self.gift_year_days))
                .max(days(self.favor_window_days)),
            EventPayload::ContactLeft(_) => days(self.key_contact_left_days),
            EventPayload::Call(_) => days(self.touch_window_days),
            // Read by no window: the trust fold ages evidence by calendar days, and a balance
            // or a roster has no window.
            EventPayload::AccountOpened(_)
            | EventPayload::ContactAdded(_)
            | EventPayload::IntroductionMade(_)
            | EventPayload::PromiseMade(_)
            | EventPayload::PromiseKept(_)
            | EventPayload::PromiseBroken(_)
            | EventPayload::ThirdPartyProofShared(_)
            | EventPayload::InvoiceIssued(_)
            | EventPayload::PaymentReceived(_)
            | EventPayload::ContactForgotten(_) => 0,
        };
        window.saturating_add(days(self.trend_days))
    }

    /// The most days after a due date (a promise's, an invoice's) or a planned visit that a
    /// rule may read it: a promise is overdue the grace period after its due date, and the
    /// trend judges that many days earlier.
    pub fn due_reach_days(&self) -> i64 {
        i64::from(self.promise_grace_days).saturating_add(i64::from(self.trend_days))
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            params_version: DEFAULT_PARAMS_VERSION,
            prior_weight: 2.0,
            base_rate: 0.5,
            weights: EvidenceWeights {
                introduction: EvidenceWeight::new(1.0, 0.0, 0.0, 0.0, 365),
                visit: EvidenceWeight::new(0.5, 0.0, 0.0, 0.0, 90),
                call: EvidenceWeight::new(0.2, 0.0, 0.0, 0.0, 90),
                promise_kept: EvidenceWeight::new(1.0, 0.0, 0.5, 0.0, 365),
                promise_broken: EvidenceWeight::new(0.0, 2.0, 0.0, 1.0, 365),
                promise_overdue: EvidenceWeight::new(0.0, 1.0, 0.0, 0.5, 365),
                solution: EvidenceWeight::new(0.5, 0.0, 1.5, 0.0, 365),
                proof: EvidenceWeight::new(0.0, 0.0, 0.5, 0.0, 365),
                favor: EvidenceWeight::new(0.3, 0.0, 0.0, 0.0, 180),
                critical_assistance: EvidenceWeight::new(3.0, 0.0, 3.0, 0.0, 730),
            },
            touch_cap_per_window: 1.0,
            touch_window_days: 30,
            favor_window_days: 90,
            promise_grace_days: 7,
            personal_transfer: 0.5,
            role_weights: RoleWeights {
                decision_maker: 1.0,
                technical_evaluator: 0.8,
                procurement: 0.6,
                user: 0.5,
                other: 0.3,
            },
            grade_good_min: 60,
            grade_fair_min: 40,
            not_enough_info_uncertainty: 0.8,
            trend_days: 30,
            trend_threshold: 0.05,
            bond_min_expected: 0.65,
            bond_max_uncertainty: 0.5,
            trailing_days: 365,
            service_min_adherence: 0.5,
            structural_window_days: 730,
            structural_min_solutions: 2,
            structural_min_critical: 1,
            repeat_window_days: 91,
            repeat_windows: 4,
            repeat_min_windows: 3,
            cadence: CadenceIntervals {
                decision_maker_days: 45,
                technical_evaluator_days: 30,
                other_days: 60,
                key_account_days: 30,
                lapse_multiplier: 2,
            },
            gift_item_limit_minor: 10_000,
            gift_year_limit_minor: 30_000,
            gift_year_days: 365,
            key_contact_left_days: 180,
            single_threaded_share: 0.6,
            margin_recent_days: 90,
            margin_prior_days: 365,
            margin_erosion_bp: 500,
            price_pressure_count: 3,
            price_pressure_days: 180,
            cost_margin_percent: 30,
            concentration_major_bp: 1_000,
            concentration_high_bp: 2_500,
            concentration_critical_bp: 5_000,
        }
    }
}

#[cfg(test)]
mod tests;
