//! Tests of the projection conversions: a real projection of a small account onto the wire,
//! every enum mapped, and the request enums refused with their field named.

use std::collections::BTreeMap;

use crate::api::convert::projection::*;
use crate::api::convert::projection_filters::*;
use crate::api::proto;
use crate::domain::event::*;
use crate::domain::projection::{
    explain_change, gift_register, portfolio, project, AlertCode, Checkpoint, Factor, Grade, Level,
    Params, Quadrant, RelationshipBrief,
};
use crate::domain::time::NANOS_PER_DAY;
use crate::domain::{AccountId, ChainHash, EventId, RecordedEvent, Timestamp};
use crate::read::relationships::ListOrder;

/// Day `n` since the epoch, at 09:00 UTC.
fn day(n: i64) -> Timestamp {
    Timestamp::from_unix_nanos(n * NANOS_PER_DAY + 9 * 3_600_000_000_000)
}

fn cny(minor_units: i64) -> Money {
    Money {
        currency: "CNY".into(),
        minor_units,
    }
}

/// One account's events, positions and revisions counting up from 0.
struct Stream(Vec<RecordedEvent>);

impl Stream {
    fn push(&mut self, d: i64, payload: EventPayload) -> EventId {
        let n = self.0.len() as u64;
        let event_id = EventId::parse(&format!("00000000-0000-4000-8000-{:012x}", n + 1)).unwrap();
        self.0.push(RecordedEvent {
            position: n,
            account_id: AccountId::parse("harbour").unwrap(),
            revision: n,
            recorded_at: day(d),
            recorded_by: None,
            event: ProposedEvent {
                event_id,
                occurred_at: day(d),
                actor: "li".into(),
                metadata: BTreeMap::new(),
                payload,
            },
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash::GENESIS,
        });
        event_id
    }

    fn contact(&mut self, d: i64, id: &str, role: ContactRole, public_official: bool) {
        self.push(
            d,
            EventPayload::ContactAdded(ContactAdded {
                contact_id: id.into(),
                name: id.into(),
                role,
                title: String::new(),
                phone: Default::default(),
                email: Default::default(),
                public_official,
                notes: Default::default(),
            }),
        );
    }
}

/// An account with a bond, business, a left contact, an overdue promise, an overdue invoice,
/// a favor to a public official and the typhoon's help: something in every part of the answer.
fn harbour() -> (Stream, EventId, EventId) {
    let mut s = Stream(Vec::new());
    s.push(
        0,
        EventPayload::AccountOpened(AccountOpened {
            name: "Harbour Construction".into(),
            segment: AccountSegment::Key,
            owner: "li".into(),
            industry: "contractor".into(),
            region: "east".into(),
        }),
    );
    s.contact(0, "boss", ContactRole::DecisionMaker, false);
    s.contact(0, "official", ContactRole::Other, true);
    s.contact(0, "buyer", ContactRole::Procurement, false);
    s.push(
        1,
        EventPayload::IntroductionMade(IntroductionMade {
            contact_id: "boss".into(),
            introduced_by: "the chairman".into(),
            relationship: "classmates".into(),
            notes: Default::default(),
        }),
    );
    for d in (10..=100).step_by(15) {
        s.push(
            d,
            EventPayload::Visit(Visit {
                contact_ids: vec!["boss".into()],
                purpose: "site meeting".into(),
                summary: String::new(),
                next_visit_on: Some(day(d + 20)),
                next_visit_pretext: String::new(),
            }),
        );
    }
    s.push(
        20,
        EventPayload::PromiseMade(PromiseMade {
            promise_id: "p1".into(),
            contact_id: Some("boss".into()),
            description: "a mix design".into(),
            due_at: day(30),
        }),
    );
    s.push(
        50,
        EventPayload::OrderWon(OrderWon {
            order_id: "o1".into(),
            revenue: cny(1_000_000),
            margin: Some(cny(100_000)),
            product: "C30".into(),
            description: String::new(),
        }),
    );
    s.push(
        50,
        EventPayload::InvoiceIssued(InvoiceIssued {
            invoice_id: "i1".into(),
            amount: cny(1_000_000),
            due_at: day(80),
            order_id: "o1".into(),
        }),
    );
    let favor = s.push(
        60,
        EventPayload::FavorGiven(FavorGiven {
            contact_id: "official".into(),
            kind: FavorKind::Meal,
            value: cny(5_000),
            purpose: "kick-off dinner".into(),
            recipient_is_public_official: false,
            approval_reference: String::new(),
            description: String::new(),
        }),
    );
    s.push(
        70,
        EventPayload::ContactLeft(ContactLeft {
            contact_id: "buyer".into(),
            reason: "retired".into(),
        }),
    );
    let typhoon = s.push(
        95,
        EventPayload::CriticalAssistance(CriticalAssistance {
            contact_ids: vec!["boss".into()],
            description: "moved the stock before the typhoon".into(),
            value_protected: Some(cny(60_000_000)),
        }),
    );
    (s, favor, typhoon)
}

fn codes(alerts: &[proto::Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.code.as_str()).collect()
}

#[test]
fn a_relationship_carries_every_part_of_the_projection() {
    let (s, _, typhoon) = harbour();
    let p = project(&s.0, day(100), &Params::default());
    let known_at = day(101);
    let wire = relationship_to_proto(&p, Some(known_at), None);

    assert_eq!(wire.account_id, "harbour");
    let profile = wire.profile.as_ref().unwrap();
    assert_eq!(profile.name, "Harbour Construction");
    assert_eq!(profile.segment, proto::AccountSegment::Key as i32);
    assert_eq!(
        wire.as_of,
        Some(crate::api::convert::timestamp_to_proto(day(100)))
    );
    assert_eq!(
        wire.known_at_time,
        Some(crate::api::convert::timestamp_to_proto(known_at))
    );
    assert_eq!(wire.params_version, p.params_version);
    assert_eq!(wire.events_counted, s.0.len() as u64);
    assert_eq!(wire.last_revision, Some(s.0.len() as u64 - 1));

    // Trust: the organizational score with its biggest contribution, the typhoon's help.
    let org = wire.organizational_trust.as_ref().unwrap();
    let score = org.trust.as_ref().unwrap();
    assert_eq!(score.score, u32::from(p.organizational_trust.trust.score));
    assert_eq!(score.evidence_r, p.organizational_trust.trust.evidence.r);
    assert_eq!(score.grade, proto::Grade::Good as i32);
    assert_eq!(org.contributions[0].event_id, typhoon.to_string());
    assert_eq!(org.contributions[0].event_type, "critical_assistance");
    let parts = &org.contributions[0].parts;
    assert!(parts.iter().any(|x| {
        x.channel == proto::EvidenceChannel::Organizational as i32
            && x.contact_id.is_empty()
            && x.factor == "CriticalAssistancePositive"
    }));
    assert!(parts.iter().any(|x| {
        x.channel == proto::EvidenceChannel::Personal as i32 && x.contact_id == "boss"
    }));
    let contacts: Vec<&str> = wire
        .personal_trust
        .iter()
        .map(|t| t.contact_id.as_str())
        .collect();
    assert_eq!(contacts, ["boss", "buyer", "official"]);
    let buyer = &wire.personal_trust[1];
    assert!(buyer.frozen);
    assert_eq!(
        buyer.left_at,
        Some(crate::api::convert::timestamp_to_proto(day(70)))
    );
    assert_eq!(buyer.role, proto::ContactRole::Procurement as i32);

    // Quadrant and level with their rules.
    assert_eq!(wire.quadrant, proto::Quadrant::Partner as i32);
    assert_eq!(wire.bond_contact_ids, ["boss"]);
    let rules: Vec<i32> = wire.quadrant_rules.iter().map(|r| r.rule).collect();
    assert_eq!(
        rules,
        [proto::Rule::Business as i32, proto::Rule::Bond as i32]
    );
    // A key account visited in only 4 of its 12 monthly windows: business on price.
    assert_eq!(wire.level, proto::Level::Price as i32);
    assert_eq!(wire.level_rules.len(), 5);
    let cadence_rule = &wire.level_rules[2];
    assert_eq!(cadence_rule.rule, proto::Rule::VisitCadence as i32);
    assert!(!cadence_rule.met && !cadence_rule.event_ids.is_empty());
    let help = &wire.level_rules[3];
    assert_eq!(help.rule, proto::Rule::StructuralHelp as i32);
    assert!(help.met && help.event_ids.contains(&typhoon.to_string()));

    // Promises, cadence, money.
    let promises = wire.promises.as_ref().unwrap();
    assert_eq!((promises.overdue, promises.on_time_share), (1, None));
    let line = &promises.promises[0];
    assert_eq!(line.status, proto::PromiseStatus::Overdue as i32);
    assert_eq!(
        (line.contact_id.as_str(), line.outcome_event_id.as_str()),
        ("boss", "")
    );
    let cadence = wire.cadence.as_ref().unwrap();
    assert_eq!(cadence.expected_interval_days, 30);
    assert_eq!(cadence.basis_role, proto::ContactRole::Unspecified as i32);
    assert!(cadence.last_visit.is_some() && !cadence.last_visit_event_id.is_empty());
    let money = wire.commercial.as_ref().unwrap();
    assert_eq!(money.revenue_minor_units, 1_000_000);
    assert_eq!(money.margin_rate, Some(0.1));
    assert_eq!(money.receivables_overdue_minor_units, 1_000_000);
    assert_eq!(money.open_invoices[0].invoice_id, "i1");
    assert!(money.open_invoices[0].overdue);
    assert_eq!(money.average_discount_basis_points, None);

    // Alerts, each naming the account.
    let got = codes(&wire.alerts);
    let want: Vec<&str> = p.alerts.iter().map(|a| a.code.as_str()).collect();
    assert_eq!(got, want);
    for code in [
        "PROMISE_OVERDUE",
        "GIFT_TO_PUBLIC_OFFICIAL",
        "RECEIVABLES_OVERDUE",
    ] {
        assert!(got.contains(&code), "{code} missing from {got:?}");
    }
    assert!(wire.alerts.iter().all(|a| a.account_id == "harbour"));

    // The summary carries the list's fields and nothing it need not.
    let summary = relationship_summary_to_proto(&RelationshipBrief::of(&p));
    assert_eq!(summary.account_id, "harbour");
    assert_eq!(summary.organizational_trust.as_ref(), org.trust.as_ref());
    assert_eq!(
        (summary.quadrant, summary.level),
        (wire.quadrant, wire.level)
    );
    assert_eq!(summary.alerts, wire.alerts);
    assert_eq!(summary.revenue_minor_units, 1_000_000);
}

#[test]
fn a_change_the_portfolio_and_the_gift_register_convert() {
    let (s, favor, typhoon) = harbour();
    let params = Params::default();
    let account = AccountId::parse("harbour").unwrap();

    let change = explain_change(
        &s.0,
        Checkpoint::Time(day(90)),
        Checkpoint::Time(day(100)),
        &params,
    );
    let wire = trust_change_to_proto(&account, &change);
    assert_eq!(wire.account_id, "harbour");
    assert_eq!(
        wire.to_as_of,
        Some(crate::api::convert::timestamp_to_proto(day(100)))
    );
    let org = wire.organizational.as_ref().unwrap();
    assert_eq!(org.delta, change.organizational.delta);
    assert_eq!(org.decay_delta, change.organizational.decay_delta);
    assert_eq!(org.added[0].event_id, typhoon.to_string());
    let contacts: Vec<&str> = wire
        .personal
        .iter()
        .map(|c| c.contact_id.as_str())
        .collect();
    assert_eq!(contacts, ["boss", "buyer", "official"]);

    let other = AccountId::parse("other").unwrap();
    let p = project(&s.0, day(100), &params);
    let folio = portfolio(&[(account.clone(), p.clone()), (other, p)], &params);
    let wire = portfolio_to_proto(&folio, day(100));
    assert_eq!(
        wire.as_of,
        Some(crate::api::convert::timestamp_to_proto(day(100)))
    );
    assert_eq!(wire.total_revenue_minor_units, 2_000_000);
    assert_eq!(wire.hhi, 5_000.0);
    assert_eq!(wire.accounts[0].account_id, "harbour");
    assert!(wire.accounts.iter().all(|a| a.critical && a.share == 0.5));
    assert_eq!(codes(&wire.alerts), ["CONCENTRATION_CRITICAL"; 2]);
    assert_eq!(wire.alerts[1].account_id, "other");

    let register = gift_register(&s.0, &params);
    let entry = gift_entry_to_proto(&register[0]);
    assert_eq!(entry.event_id, favor.to_string());
    assert_eq!(
        (entry.account_id.as_str(), entry.contact_id.as_str()),
        ("harbour", "official")
    );
    assert_eq!(entry.value.as_ref().unwrap().minor_units, 5_000);
    assert_eq!(entry.value.as_ref().unwrap().currency, "CNY");
    assert_eq!(entry.kind, proto::FavorKind::Meal as i32);
    assert!(entry.public_official && entry.approval_reference.is_empty());
    assert_eq!(entry.contact_year_total_minor_units, 5_000);
    assert_eq!(entry.alert_codes, ["GIFT_TO_PUBLIC_OFFICIAL"]);
}

#[test]
fn factor_codes_are_the_domain_names() {
    use Factor::*;
    for factor in [
        IntroductionPositive,
        VisitPositive,
        VisitOverCap,
        CallPositive,
        CallOverCap,
        PromiseKeptPositive,
        PromiseBrokenNegative,
        PromiseOverdueNegative,
        SolutionPositive,
        ThirdPartyProofPositive,
        ThirdPartyProofRepeated,
        FavorPositive,
        FavorOverCap,
        CriticalAssistancePositive,
    ] {
        let serialized = serde_json::to_string(&factor).unwrap();
        assert_eq!(
            serialized,
            format!(
                "\"{}\"",
                crate::api::convert::projection::factor_code(factor)
            )
        );
    }
}

#[test]
fn every_alert_code_is_listed_and_parses() {
    for (i, code) in ALERT_CODES.iter().enumerate() {
        assert_eq!(listed(*code), i, "{code:?}");
        assert_eq!(alert_code_from_proto(code.as_str(), "f").unwrap(), *code);
    }
    assert_eq!(
        alert_code_from_proto("CONCENTRATION_CRITICAL", "f").unwrap(),
        AlertCode::ConcentrationCritical
    );
    let err = alert_code_from_proto("promise_overdue", "alert_codes[2]").unwrap_err();
    assert_eq!(err.violations[0].field, "alert_codes[2]");
    assert!(err.violations[0].description.contains("PROMISE_OVERDUE"));
}

#[test]
fn filter_enums_map_and_refuse_unspecified_and_unknown_values() {
    let q = |raw: i32| quadrant_from_proto(raw, "quadrants[0]");
    assert_eq!(
        q(proto::Quadrant::Outsider as i32).unwrap(),
        Quadrant::Outsider
    );
    assert_eq!(q(proto::Quadrant::Friend as i32).unwrap(), Quadrant::Friend);
    assert_eq!(
        q(proto::Quadrant::Supplier as i32).unwrap(),
        Quadrant::Supplier
    );
    assert_eq!(
        q(proto::Quadrant::Partner as i32).unwrap(),
        Quadrant::Partner
    );
    let l = |raw: i32| level_from_proto(raw, "levels[1]");
    assert_eq!(l(proto::Level::None as i32).unwrap(), Level::None);
    assert_eq!(l(proto::Level::Price as i32).unwrap(), Level::Price);
    assert_eq!(l(proto::Level::Service as i32).unwrap(), Level::Service);
    assert_eq!(
        l(proto::Level::Interdependence as i32).unwrap(),
        Level::Interdependence
    );
    let g = |raw: i32| grade_from_proto(raw, "grades[0]");
    assert_eq!(g(proto::Grade::Good as i32).unwrap(), Grade::Good);
    assert_eq!(g(proto::Grade::Fair as i32).unwrap(), Grade::Fair);
    assert_eq!(g(proto::Grade::Poor as i32).unwrap(), Grade::Poor);
    assert_eq!(
        g(proto::Grade::NotEnoughInfo as i32).unwrap(),
        Grade::NotEnoughInfo
    );
    let o = |raw: i32| list_order_from_proto(raw, "order_by");
    assert_eq!(o(0).unwrap(), ListOrder::AccountId);
    assert_eq!(o(proto::ListOrder::Trust as i32).unwrap(), ListOrder::Trust);
    assert_eq!(
        o(proto::ListOrder::Revenue as i32).unwrap(),
        ListOrder::Revenue
    );

    let field = |err: crate::domain::ValidationError| err.violations[0].field.clone();
    for raw in [0, 9, -1] {
        assert_eq!(field(q(raw).unwrap_err()), "quadrants[0]");
        assert_eq!(field(l(raw).unwrap_err()), "levels[1]");
        assert_eq!(field(g(raw).unwrap_err()), "grades[0]");
    }
    assert_eq!(field(o(7).unwrap_err()), "order_by");
}
