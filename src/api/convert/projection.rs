//! The relationship projections onto the wire: the answers of `relledger.v1.Relationships`.
//!
//! Answers cannot fail to convert: every domain value has a wire value. The matches name every
//! variant with no `_` arm, so a variant added to the domain fails the build here instead of
//! reaching clients as `UNSPECIFIED`. The requests' enums come off the wire in
//! `projection_filters`.

use super::enums::to_wire;
use super::timestamp_to_proto;
use crate::api::proto;
use crate::domain::projection::{
    AccountProfile, AccountProjection, AccountShare, Alert, Cadence, Channel, CommercialFigures,
    Contribution, EvidencePart, Factor, GiftEntry, Grade, InvoiceLine, Level, PersonalTrust,
    Portfolio, PromiseLine, PromiseRecord, PromiseStatus, Quadrant, RelationshipBrief,
    RelationshipChange, RelationshipSummary, Rule, RuleCheck, ScoreChange, Trend, TrustChange,
    TrustScore,
};
use crate::domain::{AccountId, EventId, Timestamp};

/// The wire form of an account's relationship; `known_at` is the system time the question
/// named, if any, echoed so that the answer says what it was asked; each score lists at most
/// `max_contributions` contributions (the biggest), all of them when `None`.
pub fn relationship_to_proto(
    p: &AccountProjection,
    known_at: Option<Timestamp>,
    max_contributions: Option<usize>,
) -> proto::Relationship {
    let contributions = |list: &[Contribution], total: usize| {
        let shown = max_contributions.map_or(list, |n| &list[..n.min(list.len())]);
        (contributions(shown), total as u64)
    };
    let org = &p.organizational_trust;
    let (org_contributions, org_total) = contributions(&org.contributions, org.contributions_total);
    let account_id = account_of(p);
    proto::Relationship {
        account_id: account_id.clone(),
        profile: Some(profile_to_proto(&p.profile)),
        as_of: Some(timestamp_to_proto(p.as_of)),
        known_at_time: known_at.map(timestamp_to_proto),
        params_version: p.params_version.to_string(),
        events_counted: p.events_counted as u64,
        last_revision: p.last_revision,
        organizational_trust: Some(proto::OrganizationalTrust {
            trust: Some(trust_score_to_proto(&p.organizational_trust.trust)),
            contributions: org_contributions,
            contributions_total: org_total,
        }),
        personal_trust: p
            .personal_trust
            .values()
            .map(|personal| {
                let (listed, total) =
                    contributions(&personal.contributions, personal.contributions_total);
                personal_to_proto(personal, listed, total)
            })
            .collect(),
        quadrant: quadrant_to_proto(p.quadrant.quadrant) as i32,
        bond_contact_ids: p.quadrant.bond_contacts.clone(),
        quadrant_rules: rule_checks(&[p.quadrant.business.clone(), p.quadrant.bond.clone()]),
        level: level_to_proto(p.level.level) as i32,
        level_rules: rule_checks(&p.level.rules),
        promises: Some(promises_to_proto(&p.promises)),
        cadence: Some(cadence_to_proto(&p.cadence)),
        commercial: Some(commercial_to_proto(&p.commercial)),
        alerts: alerts(&account_id, &p.alerts),
    }
}

/// The summary of an account's relationship that a list carries.
pub fn relationship_summary_to_proto(b: &RelationshipBrief) -> proto::RelationshipSummary {
    let account_id = b
        .account_id
        .as_ref()
        .map_or_else(String::new, |id| id.to_string());
    proto::RelationshipSummary {
        account_id: account_id.clone(),
        profile: Some(profile_to_proto(&b.profile)),
        as_of: Some(timestamp_to_proto(b.as_of)),
        params_version: b.params_version.to_string(),
        organizational_trust: Some(trust_score_to_proto(&b.trust)),
        quadrant: quadrant_to_proto(b.quadrant) as i32,
        level: level_to_proto(b.level) as i32,
        revenue_minor_units: b.revenue_minor,
        margin_minor_units: b.margin_minor,
        receivables_overdue_minor_units: b.receivables_overdue_minor,
        alerts: alerts(&account_id, &b.alerts),
    }
}

/// The wire form of one change of the relationship change feed.
pub fn relationship_change_to_proto(c: &RelationshipChange) -> proto::RelationshipChange {
    proto::RelationshipChange {
        account_id: c.after.account_id.to_string(),
        position: c.after.position,
        event_id: c.after.event_id.to_string(),
        first_position: c.first_position,
        before: c.before.as_ref().map(relationship_state_to_proto),
        after: Some(relationship_state_to_proto(&c.after)),
    }
}

fn relationship_state_to_proto(s: &RelationshipSummary) -> proto::RelationshipState {
    proto::RelationshipState {
        position: s.position,
        event_id: s.event_id.to_string(),
        quadrant: quadrant_to_proto(s.quadrant) as i32,
        level: level_to_proto(s.level) as i32,
        grade: grade_to_proto(s.grade) as i32,
        score: u32::from(s.score),
        alert_codes: s
            .alert_codes
            .iter()
            .map(|code| code.as_str().to_string())
            .collect(),
        revenue_minor_units: s.revenue_minor,
        as_of: Some(timestamp_to_proto(s.as_of)),
        params_version: s.params_version.clone(),
    }
}

/// The wire form of what changed `account`'s trust between two checkpoints.
pub fn trust_change_to_proto(
    account: &AccountId,
    change: &TrustChange,
) -> proto::ExplainChangeResponse {
    proto::ExplainChangeResponse {
        account_id: account.to_string(),
        from_as_of: Some(timestamp_to_proto(change.from_as_of)),
        to_as_of: Some(timestamp_to_proto(change.to_as_of)),
        params_version: change.params_version.to_string(),
        organizational: Some(score_change_to_proto(&change.organizational)),
        personal: change
            .personal
            .iter()
            .map(|(contact_id, c)| proto::PersonalScoreChange {
                contact_id: contact_id.clone(),
                change: Some(score_change_to_proto(c)),
            })
            .collect(),
    }
}

/// The wire form of the portfolio's concentration, judged at `as_of`.
pub fn portfolio_to_proto(p: &Portfolio, as_of: Timestamp) -> proto::GetPortfolioResponse {
    proto::GetPortfolioResponse {
        as_of: Some(timestamp_to_proto(as_of)),
        params_version: p.params_version.to_string(),
        total_revenue_minor_units: p.total_revenue_minor,
        hhi: p.hhi,
        accounts: p.accounts.iter().map(account_share_to_proto).collect(),
        alerts: p
            .alerts
            .iter()
            .map(|(account, alert)| alert_to_proto(account.as_str(), alert))
            .collect(),
        account_prefixes: Vec::new(),
    }
}

/// The wire form of one favor in the gifts-and-hospitality register.
pub fn gift_entry_to_proto(g: &GiftEntry) -> proto::GiftRegisterEntry {
    proto::GiftRegisterEntry {
        account_id: g.account_id.to_string(),
        contact_id: g.contact_id.clone(),
        event_id: g.event_id.to_string(),
        occurred_at: Some(timestamp_to_proto(g.occurred_at)),
        value: Some(proto::Money {
            currency: g.currency.clone(),
            minor_units: g.value_minor,
        }),
        kind: to_wire::<proto::FavorKind>(g.kind),
        purpose: g.purpose.clone(),
        public_official: g.public_official,
        approval_reference: g.approval_reference.clone(),
        contact_year_total_minor_units: g.contact_year_total_minor,
        alert_codes: g.alerts.iter().map(|c| c.as_str().to_string()).collect(),
    }
}

/// The account id of a projection; empty for an account without events (never answered).
fn account_of(p: &AccountProjection) -> String {
    p.account_id
        .as_ref()
        .map_or_else(String::new, |id| id.to_string())
}

/// Event ids as the wire spells them: canonical lower-case UUIDs.
fn event_ids(ids: &[EventId]) -> Vec<String> {
    ids.iter().map(EventId::to_string).collect()
}

fn profile_to_proto(p: &AccountProfile) -> proto::AccountProfile {
    proto::AccountProfile {
        name: p.name.clone(),
        owner: p.owner.clone(),
        segment: p
            .segment
            .map_or(proto::AccountSegment::Unspecified as i32, |s| {
                to_wire::<proto::AccountSegment>(s)
            }),
        industry: p.industry.clone(),
        region: p.region.clone(),
    }
}

fn trust_score_to_proto(t: &TrustScore) -> proto::TrustScore {
    proto::TrustScore {
        score: u32::from(t.score),
        confidence: t.confidence,
        expected: t.expected,
        uncertainty: t.uncertainty,
        grade: grade_to_proto(t.grade) as i32,
        trend: trend_to_proto(t.trend) as i32,
        trend_delta: t.trend_delta,
        evidence_r: t.evidence.r,
        evidence_s: t.evidence.s,
    }
}

fn personal_to_proto(
    p: &PersonalTrust,
    contributions: Vec<proto::Contribution>,
    contributions_total: u64,
) -> proto::PersonalTrust {
    proto::PersonalTrust {
        contact_id: p.contact_id.clone(),
        role: to_wire::<proto::ContactRole>(p.role),
        frozen: p.frozen,
        left_at: p.left_at.map(timestamp_to_proto),
        trust: Some(trust_score_to_proto(&p.trust)),
        contributions,
        contributions_total,
    }
}

fn contributions(list: &[Contribution]) -> Vec<proto::Contribution> {
    list.iter().map(contribution_to_proto).collect()
}

fn contribution_to_proto(c: &Contribution) -> proto::Contribution {
    proto::Contribution {
        event_id: c.event_id.to_string(),
        event_type: c.event_type.to_string(),
        occurred_at: Some(timestamp_to_proto(c.occurred_at)),
        parts: c.parts.iter().map(evidence_part_to_proto).collect(),
        effective_r: c.effective_r,
        effective_s: c.effective_s,
        delta: c.delta,
    }
}

fn evidence_part_to_proto(p: &EvidencePart) -> proto::EvidencePart {
    let (channel, contact_id) = match &p.channel {
        Channel::Personal { contact_id } => (proto::EvidenceChannel::Personal, contact_id.clone()),
        Channel::Organizational => (proto::EvidenceChannel::Organizational, String::new()),
    };
    proto::EvidencePart {
        channel: channel as i32,
        contact_id,
        factor: factor_code(p.factor).to_string(),
        raw_r: p.raw_r,
        raw_s: p.raw_s,
        age_days: p.age_days,
        decay: p.decay,
        share: p.share,
        effective_r: p.effective_r,
        effective_s: p.effective_s,
    }
}

fn rule_checks(list: &[RuleCheck]) -> Vec<proto::RuleCheck> {
    list.iter()
        .map(|r| proto::RuleCheck {
            rule: rule_to_proto(r.rule) as i32,
            met: r.met,
            event_ids: event_ids(&r.event_ids),
        })
        .collect()
}

fn promises_to_proto(p: &PromiseRecord) -> proto::PromiseRecord {
    proto::PromiseRecord {
        open: p.open,
        kept: p.kept,
        broken: p.broken,
        overdue: p.overdue,
        keep_rate: p.keep_rate,
        on_time_share: p.on_time_share,
        promises: p.promises.iter().map(promise_line_to_proto).collect(),
    }
}

fn promise_line_to_proto(l: &PromiseLine) -> proto::PromiseLine {
    proto::PromiseLine {
        promise_id: l.promise_id.clone(),
        contact_id: l.contact_id.clone().unwrap_or_default(),
        due_at: Some(timestamp_to_proto(l.due_at)),
        status: promise_status_to_proto(l.status) as i32,
        made_event_id: l.made_event_id.to_string(),
        outcome_event_id: l
            .outcome_event_id
            .map_or_else(String::new, |id| id.to_string()),
        on_time: l.on_time,
    }
}

fn cadence_to_proto(c: &Cadence) -> proto::Cadence {
    proto::Cadence {
        expected_interval_days: c.expected_interval_days,
        basis_role: c
            .basis_role
            .map_or(proto::ContactRole::Unspecified as i32, |r| {
                to_wire::<proto::ContactRole>(r)
            }),
        windows: c.windows,
        windows_with_visit: c.windows_with_visit,
        adherence: c.adherence,
        visit_event_ids: event_ids(&c.visit_event_ids),
        last_visit: c.last_visit.map(timestamp_to_proto),
        last_visit_event_id: c
            .last_visit_event_id
            .map_or_else(String::new, |id| id.to_string()),
        next_planned: c.next_planned.map(timestamp_to_proto),
        due_by: c.due_by.map(timestamp_to_proto),
        overdue: c.overdue,
    }
}

fn commercial_to_proto(f: &CommercialFigures) -> proto::CommercialFigures {
    proto::CommercialFigures {
        window_days: f.window_days,
        revenue_minor_units: f.revenue_minor,
        orders_won: f.orders_won,
        margin_minor_units: f.margin_minor,
        margin_rate: f.margin_rate,
        relationship_cost_minor_units: f.relationship_cost_minor,
        favor_value_minor_units: f.favor_value_minor,
        roi: f.roi,
        receivables_outstanding_minor_units: f.receivables_outstanding_minor,
        receivables_overdue_minor_units: f.receivables_overdue_minor,
        open_invoices: f.open_invoices.iter().map(invoice_to_proto).collect(),
        concession_demands: f.concession_demands,
        average_discount_basis_points: f.average_discount_bp,
    }
}

fn invoice_to_proto(i: &InvoiceLine) -> proto::OpenInvoice {
    proto::OpenInvoice {
        invoice_id: i.invoice_id.clone(),
        event_id: i.event_id.to_string(),
        due_at: Some(timestamp_to_proto(i.due_at)),
        outstanding_minor_units: i.outstanding_minor,
        overdue: i.overdue,
    }
}

fn alerts(account_id: &str, list: &[Alert]) -> Vec<proto::Alert> {
    list.iter().map(|a| alert_to_proto(account_id, a)).collect()
}

fn alert_to_proto(account_id: &str, a: &Alert) -> proto::Alert {
    proto::Alert {
        code: a.code.as_str().to_string(),
        message: a.message.clone(),
        event_ids: event_ids(&a.event_ids),
        account_id: account_id.to_string(),
    }
}

fn score_change_to_proto(c: &ScoreChange) -> proto::ScoreChange {
    proto::ScoreChange {
        expected_from: c.expected_from,
        expected_to: c.expected_to,
        delta: c.delta,
        decay_delta: c.decay_delta,
        arrivals_delta: c.arrivals_delta,
        added: contributions(&c.added),
        removed: contributions(&c.removed),
    }
}

fn account_share_to_proto(s: &AccountShare) -> proto::AccountShare {
    proto::AccountShare {
        account_id: s.account_id.to_string(),
        revenue_minor_units: s.revenue_minor,
        share: s.share,
        major: s.major,
        high: s.high,
        critical: s.critical,
    }
}

fn quadrant_to_proto(q: Quadrant) -> proto::Quadrant {
    match q {
        Quadrant::Outsider => proto::Quadrant::Outsider,
        Quadrant::Friend => proto::Quadrant::Friend,
        Quadrant::Supplier => proto::Quadrant::Supplier,
        Quadrant::Partner => proto::Quadrant::Partner,
    }
}

fn level_to_proto(l: Level) -> proto::Level {
    match l {
        Level::None => proto::Level::None,
        Level::Price => proto::Level::Price,
        Level::Service => proto::Level::Service,
        Level::Interdependence => proto::Level::Interdependence,
    }
}

fn grade_to_proto(g: Grade) -> proto::Grade {
    match g {
        Grade::Good => proto::Grade::Good,
        Grade::Fair => proto::Grade::Fair,
        Grade::Poor => proto::Grade::Poor,
        Grade::NotEnoughInfo => proto::Grade::NotEnoughInfo,
    }
}

fn trend_to_proto(t: Trend) -> proto::Trend {
    match t {
        Trend::Improving => proto::Trend::Improving,
        Trend::Steady => proto::Trend::Steady,
        Trend::Declining => proto::Trend::Declining,
    }
}

fn rule_to_proto(r: Rule) -> proto::Rule {
    match r {
        Rule::Business => proto::Rule::Business,
        Rule::Bond => proto::Rule::Bond,
        Rule::VisitCadence => proto::Rule::VisitCadence,
        Rule::StructuralHelp => proto::Rule::StructuralHelp,
        Rule::RepeatOrders => proto::Rule::RepeatOrders,
    }
}

fn promise_status_to_proto(s: PromiseStatus) -> proto::PromiseStatus {
    match s {
        PromiseStatus::Open => proto::PromiseStatus::Open,
        PromiseStatus::Kept => proto::PromiseStatus::Kept,
        PromiseStatus::Broken => proto::PromiseStatus::Broken,
        PromiseStatus::Overdue => proto::PromiseStatus::Overdue,
    }
}

/// The stable code of an evidence rule: the domain variant's name, as the proto documents.
pub(super) fn factor_code(f: Factor) -> &'static str {
    match f {
        Factor::IntroductionPositive => "IntroductionPositive",
        Factor::VisitPositive => "VisitPositive",
        Factor::VisitOverCap => "VisitOverCap",
        Factor::CallPositive => "CallPositive",
        Factor::CallOverCap => "CallOverCap",
        Factor::PromiseKeptPositive => "PromiseKeptPositive",
        Factor::PromiseBrokenNegative => "PromiseBrokenNegative",
        Factor::PromiseOverdueNegative => "PromiseOverdueNegative",
        Factor::SolutionPositive => "SolutionPositive",
        Factor::ThirdPartyProofPositive => "ThirdPartyProofPositive",
        Factor::ThirdPartyProofRepeated => "ThirdPartyProofRepeated",
        Factor::FavorPositive => "FavorPositive",
        Factor::FavorOverCap => "FavorOverCap",
        Factor::CriticalAssistancePositive => "CriticalAssistancePositive",
    }
}
