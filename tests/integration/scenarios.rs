//! The article's stories, told as event logs and checked through the crate's public API only.
//!
//! Each test builds `RecordedEvent`s directly (positions and revisions counting up, hashes
//! left at genesis: the projection never reads them) and asks `project`, `portfolio`,
//! `explain_change` and `gift_register` what a sales manager or an auditor would ask.

use std::collections::BTreeMap;

use relledger::domain::projection::{
    explain_change, gift_register, portfolio, project, AccountProjection, AlertCode, Checkpoint,
    Factor, Level, Params, Quadrant, Trend,
};
use relledger::domain::time::NANOS_PER_DAY;
use relledger::domain::*;

/// Day `n` since the epoch, at 09:00 UTC. Day 20_000 is 2024-10-04.
fn day(n: i64) -> Timestamp {
    Timestamp::from_unix_nanos(n * NANOS_PER_DAY + 9 * 3_600 * 1_000_000_000)
}

fn cny(minor: i64) -> Money {
    Money {
        currency: "CNY".into(),
        minor_units: minor,
    }
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// One account's stream.
struct Account {
    id: AccountId,
    events: Vec<RecordedEvent>,
    /// Makes event ids unique across the accounts of one test.
    salt: u64,
}

impl Account {
    fn open(id: &str, salt: u64, d: i64, segment: AccountSegment) -> Self {
        let mut a = Account {
            id: AccountId::parse(id).unwrap(),
            events: Vec::new(),
            salt,
        };
        a.push(
            d,
            EventPayload::AccountOpened(AccountOpened {
                name: id.into(),
                segment,
                owner: "zhang".into(),
                industry: "construction".into(),
                region: "east".into(),
            }),
        );
        a
    }

    fn push(&mut self, d: i64, payload: EventPayload) -> EventId {
        let n = self.events.len() as u64;
        let id = format!("{:08x}-0000-4000-8000-{:012x}", self.salt, n + 1);
        let event_id = EventId::parse(&id).unwrap();
        self.events.push(RecordedEvent {
            position: self.salt * 1_000_000 + n,
            account_id: self.id.clone(),
            revision: n,
            recorded_at: day(d),
            recorded_by: None,
            event: ProposedEvent {
                event_id,
                occurred_at: day(d),
                actor: "zhang".into(),
                metadata: BTreeMap::new(),
                payload,
            },
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash([n as u8; 32]),
        });
        event_id
    }

    fn contact(&mut self, d: i64, id: &str, role: ContactRole) -> EventId {
        self.push(
            d,
            EventPayload::ContactAdded(ContactAdded {
                contact_id: id.into(),
                name: id.into(),
                role,
                title: String::new(),
                phone: Default::default(),
                email: Default::default(),
                public_official: false,
                notes: Default::default(),
            }),
        )
    }

    fn intro(&mut self, d: i64, contact: &str) -> EventId {
        self.push(
            d,
            EventPayload::IntroductionMade(IntroductionMade {
                contact_id: contact.into(),
                introduced_by: "the chairman".into(),
                relationship: "university classmates".into(),
                notes: Default::default(),
            }),
        )
    }

    fn visit(&mut self, d: i64, contacts: &[&str]) -> EventId {
        self.push(
            d,
            EventPayload::Visit(Visit {
                contact_ids: strings(contacts),
                purpose: "site meeting".into(),
                summary: String::new(),
                next_visit_on: Some(day(d + 30)),
                next_visit_pretext: "bring the test report".into(),
            }),
        )
    }

    fn call(&mut self, d: i64, contact: &str) -> EventId {
        self.push(
            d,
            EventPayload::Call(Call {
                contact_id: contact.into(),
                summary: String::new(),
            }),
        )
    }

    fn promise(&mut self, d: i64, id: &str, contact: &str, due: i64) -> EventId {
        self.push(
            d,
            EventPayload::PromiseMade(PromiseMade {
                promise_id: id.into(),
                contact_id: Some(contact.into()),
                description: "deliver the pour on time".into(),
                due_at: day(due),
            }),
        )
    }

    fn kept(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::PromiseKept(PromiseKept {
                promise_id: id.into(),
                note: String::new(),
            }),
        )
    }

    fn broken(&mut self, d: i64, id: &str) -> EventId {
        self.push(
            d,
            EventPayload::PromiseBroken(PromiseBroken {
                promise_id: id.into(),
                reason: "the plant was down".into(),
            }),
        )
    }

    fn solution(&mut self, d: i64, contacts: &[&str]) -> EventId {
        self.push(
            d,
            EventPayload::SolutionDelivered(SolutionDelivered {
                kind: SolutionKind::DesignProposal,
                contact_ids: strings(contacts),
                description: "mix design for the design institute".into(),
            }),
        )
    }

    fn favor(&mut self, d: i64, contact: &str, minor: i64) -> EventId {
        self.push(
            d,
            EventPayload::FavorGiven(FavorGiven {
                contact_id: contact.into(),
                kind: FavorKind::Meal,
                value: cny(minor),
                purpose: "project dinner".into(),
                recipient_is_public_official: false,
                approval_reference: String::new(),
                description: String::new(),
            }),
        )
    }

    fn order(&mut self, d: i64, revenue: i64, margin: i64) -> EventId {
        let order_id = format!("o{}", self.events.len());
        self.push(
            d,
            EventPayload::OrderWon(OrderWon {
                order_id,
                revenue: cny(revenue),
                margin: Some(cny(margin)),
                product: "C30 ready-mix".into(),
                description: String::new(),
            }),
        )
    }

    fn concession(&mut self, d: i64, bp: u32) -> EventId {
        self.push(
            d,
            EventPayload::PriceConcessionDemanded(PriceConcessionDemanded {
                order_id: "next-project".into(),
                discount_basis_points: bp,
                ultimatum: true,
                competitor: "another producer".into(),
                description: "take it at this price or another producer will".into(),
            }),
        )
    }

    fn invoice(&mut self, d: i64, id: &str, minor: i64, due: i64) -> EventId {
        self.push(
            d,
            EventPayload::InvoiceIssued(InvoiceIssued {
                invoice_id: id.into(),
                amount: cny(minor),
                due_at: day(due),
                order_id: "o".into(),
            }),
        )
    }

    fn payment(&mut self, d: i64, id: &str, minor: i64) -> EventId {
        self.push(
            d,
            EventPayload::PaymentReceived(PaymentReceived {
                invoice_id: id.into(),
                amount: cny(minor),
                reference: String::new(),
            }),
        )
    }

    fn critical(&mut self, d: i64, contacts: &[&str]) -> EventId {
        self.push(
            d,
            EventPayload::CriticalAssistance(CriticalAssistance {
                contact_ids: strings(contacts),
                description: "moved the cement out of the warehouse before the typhoon".into(),
                value_protected: Some(cny(60_000_000)),
            }),
        )
    }

    fn project(&self, as_of: i64) -> AccountProjection {
        project(&self.events, day(as_of), &Params::default())
    }
}

fn codes(p: &AccountProjection) -> Vec<AlertCode> {
    p.alerts.iter().map(|a| a.code).collect()
}

/// An account with only business: orders of `revenue` a month for the last year.
fn plain_customer(id: &str, salt: u64, revenue: i64) -> Account {
    let mut a = Account::open(id, salt, 19_600, AccountSegment::Standard);
    for d in (20_040..=20_400).step_by(30) {
        a.order(d, revenue, revenue / 10);
    }
    a
}

/// docs/domain.md §7: producer A gets 70% of its volume from contractor B, whose boss is the
/// chairman's classmate. The bond is iron; the business is not healthy.
#[test]
fn the_concrete_producer_is_an_iron_but_unhealthy_partner() {
    let mut b = Account::open("contractor-b", 1, 19_600, AccountSegment::Key);
    b.contact(19_600, "boss", ContactRole::DecisionMaker);
    b.contact(19_600, "buyer", ContactRole::Procurement);
    b.intro(19_600, "boss");
    for d in (20_000..=20_400).step_by(20) {
        b.visit(d, &["boss"]);
    }
    b.call(20_390, "buyer");
    b.promise(20_100, "pour-1", "boss", 20_130);
    b.kept(20_125, "pour-1");
    b.promise(20_250, "pour-2", "boss", 20_280);
    b.kept(20_270, "pour-2");
    // A year of orders at 12% margin, then the squeeze: the last 90 days at 2%.
    for d in (20_040..=20_300).step_by(30) {
        b.order(d, 7_000_000, 840_000);
    }
    let mut recent = Vec::new();
    for d in [20_330, 20_360, 20_390] {
        recent.push(b.order(d, 7_000_000, 140_000));
    }
    let demands: Vec<EventId> = [20_250, 20_310, 20_350, 20_380]
        .into_iter()
        .map(|d| b.concession(d, 500))
        .collect();
    // Arrears down the construction chain: A finances B's receivables.
    let late = b.invoice(20_250, "inv-7", 21_000_000, 20_310);
    b.payment(20_320, "inv-7", 5_000_000);
    b.invoice(20_390, "inv-9", 7_000_000, 20_450);

    let pb = b.project(20_400);
    assert_eq!(pb.quadrant.quadrant, Quadrant::Partner);
    assert_eq!(pb.quadrant.bond_contacts, vec!["boss".to_string()]);
    let got = codes(&pb);
    for code in [
        AlertCode::PricePressureRepeated,
        AlertCode::MarginErosion,
        AlertCode::ReceivablesOverdue,
        AlertCode::SingleThreaded,
    ] {
        assert!(got.contains(&code), "{code:?} missing from {got:?}");
    }
    let alert = |code| pb.alerts.iter().find(|a| a.code == code).unwrap();
    assert_eq!(alert(AlertCode::PricePressureRepeated).event_ids, demands);
    assert_eq!(alert(AlertCode::MarginErosion).event_ids, recent);
    assert_eq!(alert(AlertCode::ReceivablesOverdue).event_ids, vec![late]);
    assert!(alert(AlertCode::SingleThreaded).message.contains("boss"));
    let money = &pb.commercial;
    assert_eq!(money.receivables_outstanding_minor, 16_000_000 + 7_000_000);
    assert_eq!(money.receivables_overdue_minor, 16_000_000);
    assert_eq!(money.concession_demands, 4);
    assert_eq!(money.average_discount_bp, Some(500.0));

    // B brings 70% of the portfolio's revenue: 70 / (70 + 20 + 10).
    let b_revenue = money.revenue_minor;
    let c = plain_customer("plant-c", 2, b_revenue / 13 * 2 / 7);
    let d = plain_customer("plant-d", 3, b_revenue / 13 / 7);
    let accounts = vec![
        (b.id.clone(), pb.clone()),
        (c.id.clone(), c.project(20_400)),
        (d.id.clone(), d.project(20_400)),
    ];
    let folio = portfolio(&accounts, &Params::default());
    let share_b = folio
        .accounts
        .iter()
        .find(|a| a.account_id == b.id)
        .unwrap();
    assert!((share_b.share - 0.7).abs() < 0.001, "{}", share_b.share);
    assert!(share_b.critical && share_b.high && share_b.major);
    assert_eq!(folio.alerts.len(), 1);
    let (who, alert) = &folio.alerts[0];
    assert_eq!((who, alert.code), (&b.id, AlertCode::ConcentrationCritical));
    assert!((folio.hhi - 5_400.0).abs() < 5.0, "{}", folio.hhi);
    // Concentration is portfolio-level: the account's own alerts never carry it.
    assert!(!got.contains(&AlertCode::ConcentrationCritical));
}

/// docs/domain.md §5: the typhoon. Help far beyond the contract lifts a service
/// relationship to interdependence, and the explanation says so.
#[test]
fn the_typhoon_lifts_a_service_account_to_interdependence() {
    let mut a = Account::open("cement-buyer", 4, 19_800, AccountSegment::Standard);
    a.contact(19_800, "owner", ContactRole::DecisionMaker);
    a.contact(19_800, "yard", ContactRole::User);
    a.intro(19_800, "owner");
    for d in (20_000..=20_400).step_by(20) {
        a.visit(d, &["owner", "yard"]);
    }
    // Repeat orders in each of the last four quarters.
    for d in [20_100, 20_190, 20_280, 20_370] {
        a.order(d, 2_000_000, 300_000);
    }
    a.solution(20_200, &["yard"]);
    let before = a.project(20_400);
    assert_eq!(before.quadrant.quadrant, Quadrant::Partner);
    assert_eq!(before.level.level, Level::Service);

    // The warning, the trip, the goods moved: 600,000 saved.
    let typhoon = a.critical(20_395, &["owner"]);
    let after = a.project(20_400);
    assert_eq!(after.level.level, Level::Interdependence);
    let help = after
        .level
        .rules
        .iter()
        .find(|r| r.event_ids.contains(&typhoon))
        .expect("a level rule names the critical assistance");
    assert!(help.met);
    let org = &after.organizational_trust;
    assert_eq!(org.contributions[0].event_id, typhoon);
    assert_eq!(org.contributions[0].event_type, "critical_assistance");
    assert!(org.contributions[0].delta > 0.0);
    assert!(org.trust.expected > before.organizational_trust.trust.expected);
    assert_eq!(org.trust.trend, Trend::Improving);

    // Why did it change? The critical assistance arrived, and it is the biggest arrival.
    let change = explain_change(
        &a.events,
        Checkpoint::Time(day(20_390)),
        Checkpoint::Time(day(20_400)),
        &Params::default(),
    );
    assert_eq!(change.organizational.added[0].event_id, typhoon);
    assert!(change.organizational.arrivals_delta > 0.0);
}

/// docs/domain.md §8: favors weigh lightly and never make a Partner on their own.
#[test]
fn favors_alone_never_make_a_bond() {
    let mut a = Account::open("dinner-club", 5, 19_000, AccountSegment::Standard);
    a.contact(19_000, "buyer", ContactRole::DecisionMaker);
    // A lavish dinner every week for three years.
    for d in (19_000..20_100).step_by(7) {
        a.favor(d, "buyer", 5_000_000);
    }
    let params = Params::default();
    for as_of in (19_000..20_200).step_by(11) {
        let p = project(&a.events, day(as_of), &params);
        let buyer = &p.personal_trust["buyer"].trust;
        assert!(
            buyer.uncertainty > params.bond_max_uncertainty,
            "day {as_of}: {buyer:?}"
        );
        assert!(!p.quadrant.bond.met);
        assert_eq!(p.quadrant.quadrant, Quadrant::Outsider);
    }
    // With business too, it is a Supplier, never a Partner.
    a.order(20_090, 1_000_000, 100_000);
    let p = a.project(20_100);
    assert_eq!(p.quadrant.quadrant, Quadrant::Supplier);
    let counted = p.personal_trust["buyer"]
        .contributions
        .iter()
        .filter(|c| c.parts[0].factor == Factor::FavorPositive)
        .count();
    let windows: std::collections::BTreeSet<i64> = (19_000..20_100)
        .step_by(7)
        .map(|d| day(d).day_number() / 90)
        .collect();
    assert_eq!(counted, windows.len(), "one favor per 90-day window");
    // And the auditor sees every one of them, each far over the limit.
    let register = gift_register(&a.events, &params);
    assert_eq!(register.len(), (19_000..20_100).step_by(7).count());
    assert!(register
        .iter()
        .all(|g| g.alerts.contains(&AlertCode::GiftOverLimit)));
    assert!(codes(&p).contains(&AlertCode::GiftOverLimit));
}

/// docs/domain.md §2, lever 3: promise only what you can deliver, then deliver it.
#[test]
fn a_broken_promise_lowers_trust_and_says_so() {
    let mut a = Account::open("plant-e", 6, 20_000, AccountSegment::Standard);
    a.contact(20_000, "engineer", ContactRole::TechnicalEvaluator);
    a.intro(20_000, "engineer");
    a.visit(20_010, &["engineer"]);
    a.solution(20_020, &["engineer"]);
    a.promise(20_030, "sample", "engineer", 20_040);
    let before = a.project(20_045);
    let broken = a.broken(20_045, "sample");
    let after = a.project(20_045);

    let (was, is) = (
        &before.personal_trust["engineer"].trust,
        &after.personal_trust["engineer"].trust,
    );
    assert!(is.expected < was.expected);
    assert!(is.score < was.score);
    assert!(after.organizational_trust.trust.expected < before.organizational_trust.trust.expected);
    let c = after.personal_trust["engineer"]
        .contributions
        .iter()
        .find(|c| c.event_id == broken)
        .unwrap();
    assert_eq!(c.parts[0].factor, Factor::PromiseBrokenNegative);
    assert_eq!(c.parts[0].raw_s, 2.0);
    assert!(c.delta < 0.0);
    assert_eq!(after.promises.broken, 1);
    assert_eq!(after.promises.keep_rate, 1.0 / 3.0);

    // Left without an outcome, the promise turns overdue a week after its due date, and
    // that too shows as negative evidence.
    let mut silent = Account::open("plant-e", 6, 20_000, AccountSegment::Standard);
    silent.events = a.events[..a.events.len() - 1].to_vec();
    let p = silent.project(20_048);
    assert_eq!(p.promises.overdue, 1);
    assert!(codes(&p).contains(&AlertCode::PromiseOverdue));
    assert!(p.personal_trust["engineer"]
        .contributions
        .iter()
        .any(|c| c.parts[0].factor == Factor::PromiseOverdueNegative && c.delta < 0.0));
}

/// docs/scoring.md §1.2: the same events and params give byte-identical projections, and a
/// projection as of an earlier time is the fold of the events that had occurred by then.
#[test]
fn projections_replay_byte_for_byte() {
    let mut a = Account::open("replayed", 7, 19_900, AccountSegment::Key);
    a.contact(19_900, "boss", ContactRole::DecisionMaker);
    a.contact(19_900, "qa", ContactRole::TechnicalEvaluator);
    a.intro(19_900, "boss");
    for d in (19_910..=20_300).step_by(17) {
        a.visit(d, &["boss", "qa"]);
        a.call(d + 3, "qa");
    }
    a.promise(20_000, "p1", "qa", 20_020);
    a.kept(20_015, "p1");
    a.promise(20_200, "p2", "boss", 20_210);
    a.solution(20_100, &["qa"]);
    a.favor(20_105, "boss", 30_000);
    a.order(20_120, 3_000_000, 450_000);
    a.concession(20_200, 300);
    a.invoice(20_120, "i1", 3_000_000, 20_180);
    a.critical(20_250, &["boss", "qa"]);

    let params = Params::default();
    let json = |p: &AccountProjection| serde_json::to_string(p).unwrap();
    let one = json(&project(&a.events, day(20_320), &params));
    let two = json(&project(&a.events.clone(), day(20_320), &params));
    assert_eq!(one, two);
    assert!(one.contains("\"params_version\":\"2026-12-07.2\""));

    for cut in [19_950, 20_016, 20_150, 20_260] {
        let earlier: Vec<RecordedEvent> = a
            .events
            .iter()
            .filter(|e| e.event.occurred_at <= day(cut))
            .cloned()
            .collect();
        assert_eq!(
            json(&project(&a.events, day(cut), &params)),
            json(&project(&earlier, day(cut), &params)),
            "as of day {cut}"
        );
    }
}

/// Issue 3, story 3: favors and meals alone never make a Friend, and the register flags what
/// compliance must see: a favor over the limit, and one to a public official without approval.
#[test]
fn gifts_do_not_buy_trust_and_are_flagged_where_due() {
    let mut a = Account::open("customs-office", 8, 20_000, AccountSegment::Standard);
    a.push(
        20_000,
        EventPayload::ContactAdded(ContactAdded {
            contact_id: "inspector".into(),
            name: "inspector".into(),
            role: ContactRole::DecisionMaker,
            title: String::new(),
            phone: Default::default(),
            email: Default::default(),
            public_official: true,
            notes: Default::default(),
        }),
    );
    a.contact(20_000, "buyer", ContactRole::Procurement);
    let modest = a.favor(20_010, "buyer", 8_000);
    let lavish = a.favor(20_020, "buyer", 25_000);
    let to_official = a.favor(20_030, "inspector", 5_000);
    for d in (20_040..20_400).step_by(10) {
        a.favor(d, "buyer", 6_000);
    }
    for as_of in (20_000..20_420).step_by(20) {
        let p = a.project(as_of);
        assert_ne!(p.quadrant.quadrant, Quadrant::Friend, "day {as_of}");
        assert_eq!(p.quadrant.quadrant, Quadrant::Outsider, "day {as_of}");
    }
    let register = gift_register(&a.events, &Params::default());
    let alerts_of = |id: EventId| {
        register
            .iter()
            .find(|g| g.event_id == id)
            .unwrap()
            .alerts
            .clone()
    };
    assert!(
        alerts_of(modest).is_empty(),
        "8,000 fen is within the 100.00 per-item limit"
    );
    assert!(alerts_of(lavish).contains(&AlertCode::GiftOverLimit));
    assert_eq!(alerts_of(to_official), [AlertCode::GiftToPublicOfficial]);
    let p = a.project(20_035);
    assert!(codes(&p).contains(&AlertCode::GiftToPublicOfficial));
    assert!(codes(&p).contains(&AlertCode::GiftOverLimit));
}

/// Issue 3, story 4: one broken promise costs more trust than one kept promise earns, and an
/// unsettled promise turns overdue once `as_of` passes due + 7 days, with no new event.
#[test]
fn a_broken_promise_costs_more_than_a_kept_one_earns_and_silence_turns_overdue() {
    let base = |salt| {
        let mut a = Account::open("plant-f", salt, 20_000, AccountSegment::Standard);
        a.contact(20_000, "engineer", ContactRole::TechnicalEvaluator);
        a.visit(20_005, &["engineer"]);
        a.promise(20_010, "p", "engineer", 20_020);
        a
    };
    let neutral = base(9).project(20_021).organizational_trust.trust.expected;
    let mut kept = base(9);
    kept.kept(20_019, "p");
    let mut broken = base(9);
    broken.broken(20_019, "p");
    let gained = kept.project(20_021).organizational_trust.trust.expected - neutral;
    let lost = neutral - broken.project(20_021).organizational_trust.trust.expected;
    assert!(gained > 0.0 && lost > 0.0);
    assert!(
        lost > gained,
        "a broken promise ({lost}) outweighs a kept one ({gained})"
    );

    let silent = base(9);
    let due_plus_seven = silent.project(20_027);
    assert_eq!(
        due_plus_seven.promises.overdue, 0,
        "not yet: as_of is not past due + 7 days"
    );
    assert!(!codes(&due_plus_seven).contains(&AlertCode::PromiseOverdue));
    let later = silent.project(20_028);
    assert_eq!(later.promises.overdue, 1);
    assert!(codes(&later).contains(&AlertCode::PromiseOverdue));
    assert_eq!(
        later.events_counted, due_plus_seven.events_counted,
        "no new event was needed"
    );
}

/// Issue 3, story 5: when the key contact leaves, KEY_CONTACT_LEFT is raised, and the account's
/// trust falls to exactly what the remaining contacts and the organization hold.
#[test]
fn when_the_key_contact_leaves_trust_falls_to_what_the_others_hold() {
    let build = |with_boss_evidence: bool| {
        let mut a = Account::open("contractor-k", 10, 20_000, AccountSegment::Standard);
        a.contact(20_000, "boss", ContactRole::DecisionMaker);
        a.contact(20_000, "qa", ContactRole::TechnicalEvaluator);
        if with_boss_evidence {
            a.intro(20_001, "boss");
            for d in (20_005..20_200).step_by(20) {
                a.visit(d, &["boss"]);
            }
        }
        for d in (20_010..20_200).step_by(40) {
            a.visit(d, &["qa"]);
        }
        a.solution(20_100, &["qa"]);
        a
    };
    let mut a = build(true);
    let before = a.project(20_210);
    let left = a.push(
        20_210,
        EventPayload::ContactLeft(ContactLeft {
            contact_id: "boss".into(),
            reason: "retired".into(),
        }),
    );
    let after = a.project(20_211);
    assert!(after.organizational_trust.trust.expected < before.organizational_trust.trust.expected);
    let alert = after
        .alerts
        .iter()
        .find(|x| x.code == AlertCode::KeyContactLeft)
        .expect("KEY_CONTACT_LEFT");
    assert!(alert.event_ids.contains(&left));
    assert!(after.personal_trust["boss"].frozen);

    let mut without = build(false);
    without.push(
        20_210,
        EventPayload::ContactLeft(ContactLeft {
            contact_id: "boss".into(),
            reason: "retired".into(),
        }),
    );
    assert_eq!(
        after.organizational_trust.trust.expected,
        without.project(20_211).organizational_trust.trust.expected,
        "the boss's personal evidence no longer counts toward the account"
    );
}

/// Issue 3, story 6: no visit for twice the expected interval lapses the cadence, and a planned
/// next visit is honoured: missing the planned date lapses it sooner.
#[test]
fn cadence_lapses_after_twice_the_interval_or_past_the_planned_visit() {
    let mut unplanned = Account::open("plant-c", 11, 20_000, AccountSegment::Standard);
    unplanned.contact(20_000, "boss", ContactRole::DecisionMaker);
    unplanned.push(
        20_000,
        EventPayload::Visit(Visit {
            contact_ids: vec!["boss".into()],
            purpose: "introduction".into(),
            summary: String::new(),
            next_visit_on: None,
            next_visit_pretext: String::new(),
        }),
    );
    // A decision maker expects a visit every 45 days: lapsed only past 90.
    let p = unplanned.project(20_090);
    assert_eq!(p.cadence.expected_interval_days, 45);
    assert!(!p.cadence.overdue && !codes(&p).contains(&AlertCode::CadenceLapsed));
    let p = unplanned.project(20_091);
    assert!(p.cadence.overdue && codes(&p).contains(&AlertCode::CadenceLapsed));

    // The visit planned the next one 30 days out: missing it lapses the cadence then.
    let mut planned = Account::open("plant-c", 12, 20_000, AccountSegment::Standard);
    planned.contact(20_000, "boss", ContactRole::DecisionMaker);
    planned.visit(20_000, &["boss"]);
    let p = planned.project(20_030);
    assert_eq!(p.cadence.next_planned, Some(day(20_030)));
    assert!(!p.cadence.overdue);
    let p = planned.project(20_031);
    assert!(p.cadence.overdue && codes(&p).contains(&AlertCode::CadenceLapsed));
}
