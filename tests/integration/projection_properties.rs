//! Determinism of the relationships service, as a property over random valid histories:
//!
//! - two folds of the same events give byte-identical serialized projections;
//! - the answer as of position p equals the live answer observed when the log ended at p
//!   (judged at the instant the record at p was recorded), for every p, after the log has
//!   grown past it;
//! - the live projector, caught up after every append, holds for every account exactly the
//!   summary of a fresh fold as of the account's last position, and the same summaries as a
//!   projector that folds the whole log at once.
//!
//! Random operations are interpreted against a small model of each account (its contacts,
//! open promises and invoices), so every generated event is valid and goes through the same
//! `Ledger::append` as a gRPC request.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use proptest::prelude::*;
use relledger::domain::projection::{Params, RelationshipSummary};
use relledger::domain::time::NANOS_PER_DAY;
use relledger::domain::*;
use relledger::ledger::Ledger;
use relledger::read::projector::Projector;
use relledger::read::relationships::{AsOf, RelationshipQuery, Relationships};
use relledger::store::{
    Direction, ExpectedRevision, Log, MemoryLog, MemorySnapshots, ReadAllFilter,
};

/// 2025-01-01T09:00:00Z: histories start here and stay in the past of any test run.
const START: i64 = 20_089 * NANOS_PER_DAY + 9 * 3_600 * 1_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    AddContact(u8),
    Visit(u8),
    Call(u8),
    MakePromise(u8, u8),
    SettlePromise(u8, bool),
    WinOrder(u32, i32),
    Invoice(u32, u8),
    Pay(u8),
    Favor(u8, u16),
    Solution(u8),
    Proof(u8),
    Assist(u8),
    Concession(u16),
    Leave(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => any::<u8>().prop_map(Op::AddContact),
        3 => any::<u8>().prop_map(Op::Visit),
        1 => any::<u8>().prop_map(Op::Call),
        1 => (any::<u8>(), 0..30u8).prop_map(|(c, d)| Op::MakePromise(c, d)),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(p, k)| Op::SettlePromise(p, k)),
        2 => (1..5_000_000u32, -500_000..1_000_000i32).prop_map(|(r, m)| Op::WinOrder(r, m)),
        1 => (1..3_000_000u32, 0..60u8).prop_map(|(a, d)| Op::Invoice(a, d)),
        1 => any::<u8>().prop_map(Op::Pay),
        1 => (any::<u8>(), 0..30_000u16).prop_map(|(c, v)| Op::Favor(c, v)),
        1 => any::<u8>().prop_map(Op::Solution),
        1 => any::<u8>().prop_map(Op::Proof),
        1 => any::<u8>().prop_map(Op::Assist),
        1 => (0..3_000u16).prop_map(Op::Concession),
        1 => any::<u8>().prop_map(Op::Leave),
    ]
}

/// What the generator must know of an account to produce only valid events.
#[derive(Default)]
struct Model {
    contacts: Vec<String>,
    left: Vec<String>,
    open_promises: Vec<String>,
    invoices: Vec<(String, i64)>,
    serial: u32,
}

impl Model {
    fn next(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}", self.serial)
    }

    fn contact(&self, pick: u8) -> Option<String> {
        let active: Vec<&String> = self
            .contacts
            .iter()
            .filter(|c| !self.left.contains(c))
            .collect();
        (!active.is_empty()).then(|| active[pick as usize % active.len()].clone())
    }

    /// The payload `op` stands for on this account at `now`, if it applies.
    fn payload(&mut self, op: &Op, now: Timestamp) -> Option<EventPayload> {
        let cny = |minor_units: i64| Money {
            currency: "CNY".into(),
            minor_units,
        };
        Some(match *op {
            Op::AddContact(role) => {
                let contact_id = self.next("c");
                self.contacts.push(contact_id.clone());
                let roles = [
                    ContactRole::DecisionMaker,
                    ContactRole::TechnicalEvaluator,
                    ContactRole::Procurement,
                    ContactRole::User,
                    ContactRole::Other,
                ];
                EventPayload::ContactAdded(ContactAdded {
                    contact_id,
                    name: "n".into(),
                    role: roles[role as usize % roles.len()],
                    title: String::new(),
                    phone: Default::default(),
                    email: Default::default(),
                    public_official: role % 7 == 0,
                    notes: Default::default(),
                })
            }
            Op::Visit(c) => EventPayload::Visit(Visit {
                contact_ids: vec![self.contact(c)?],
                purpose: "p".into(),
                summary: String::new(),
                next_visit_on: (c % 2 == 0).then(|| now.plus_days(i64::from(c % 40) + 1)),
                next_visit_pretext: String::new(),
            }),
            Op::Call(c) => EventPayload::Call(Call {
                contact_id: self.contact(c)?,
                summary: String::new(),
            }),
            Op::MakePromise(c, days) => {
                let promise_id = self.next("p");
                self.open_promises.push(promise_id.clone());
                EventPayload::PromiseMade(PromiseMade {
                    promise_id,
                    contact_id: self.contact(c),
                    description: "d".into(),
                    due_at: now.plus_days(i64::from(days)),
                })
            }
            Op::SettlePromise(p, kept) => {
                if self.open_promises.is_empty() {
                    return None;
                }
                let promise_id = self
                    .open_promises
                    .remove(p as usize % self.open_promises.len());
                if kept {
                    EventPayload::PromiseKept(PromiseKept {
                        promise_id,
                        note: String::new(),
                    })
                } else {
                    EventPayload::PromiseBroken(PromiseBroken {
                        promise_id,
                        reason: String::new(),
                    })
                }
            }
            Op::WinOrder(revenue, margin) => EventPayload::OrderWon(OrderWon {
                order_id: self.next("o"),
                revenue: cny(i64::from(revenue)),
                margin: Some(cny(i64::from(margin).min(i64::from(revenue)))),
                product: String::new(),
                description: String::new(),
            }),
            Op::Invoice(amount, days) => {
                let invoice_id = self.next("i");
                self.invoices.push((invoice_id.clone(), i64::from(amount)));
                EventPayload::InvoiceIssued(InvoiceIssued {
                    invoice_id,
                    amount: cny(i64::from(amount)),
                    due_at: now.plus_days(i64::from(days)),
                    order_id: String::new(),
                })
            }
            Op::Pay(i) => {
                let open: Vec<usize> = (0..self.invoices.len())
                    .filter(|&k| self.invoices[k].1 > 0)
                    .collect();
                let k = *open.get(i as usize % open.len().max(1))?;
                let (invoice_id, outstanding) = self.invoices[k].clone();
                let amount = (outstanding / 2).max(1);
                self.invoices[k].1 -= amount;
                EventPayload::PaymentReceived(PaymentReceived {
                    invoice_id,
                    amount: cny(amount),
                    reference: String::new(),
                })
            }
            Op::Favor(c, value) => EventPayload::FavorGiven(FavorGiven {
                contact_id: self.contact(c)?,
                kind: FavorKind::Meal,
                value: cny(i64::from(value)),
                purpose: "lunch".into(),
                recipient_is_public_official: false,
                approval_reference: String::new(),
                description: String::new(),
            }),
            Op::Solution(c) => EventPayload::SolutionDelivered(SolutionDelivered {
                kind: SolutionKind::TechnicalService,
                contact_ids: self.contact(c).into_iter().collect(),
                description: String::new(),
            }),
            Op::Proof(k) => {
                let kinds = [
                    ProofKind::TestReport,
                    ProofKind::CustomerReference,
                    ProofKind::Certification,
                ];
                EventPayload::ThirdPartyProofShared(ThirdPartyProofShared {
                    kind: kinds[k as usize % kinds.len()],
                    contact_ids: vec![],
                    issuer: String::new(),
                    description: String::new(),
                })
            }
            Op::Assist(c) => EventPayload::CriticalAssistance(CriticalAssistance {
                contact_ids: self.contact(c).into_iter().collect(),
                description: String::new(),
                value_protected: None,
            }),
            Op::Concession(bp) => EventPayload::PriceConcessionDemanded(PriceConcessionDemanded {
                order_id: String::new(),
                discount_basis_points: u32::from(bp),
                ultimatum: bp % 2 == 0,
                competitor: String::new(),
                description: String::new(),
            }),
            Op::Leave(c) => {
                let contact_id = self.contact(c)?;
                self.left.push(contact_id.clone());
                EventPayload::ContactLeft(ContactLeft {
                    contact_id,
                    reason: Default::default(),
                })
            }
        })
    }
}

fn proposed(at: Timestamp, payload: EventPayload) -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: at,
        actor: "prop".into(),
        metadata: BTreeMap::new(),
        payload,
    }
}

fn opening(at: Timestamp) -> ProposedEvent {
    proposed(
        at,
        EventPayload::AccountOpened(AccountOpened {
            name: "n".into(),
            segment: AccountSegment::Standard,
            owner: "o".into(),
            industry: String::new(),
            region: String::new(),
        }),
    )
}

async fn recorded_at(log: &MemoryLog, position: u64) -> Timestamp {
    let mut one = log.read_all(
        Some(position),
        Direction::Forwards,
        Some(1),
        ReadAllFilter::default(),
    );
    one.try_next().await.unwrap().unwrap().recorded_at
}

fn bytes(projection: &relledger::domain::projection::AccountProjection) -> String {
    serde_json::to_string(projection).unwrap()
}

async fn check_history(steps: Vec<(bool, u8, Vec<Op>)>) -> Result<(), TestCaseError> {
    let log = Arc::new(MemoryLog::new());
    let ledger = Ledger::new(log.clone(), Policy::default());
    let relationships = Relationships::new(log.clone(), Params::default());
    let projector = Projector::open(
        log.clone(),
        Arc::new(MemorySnapshots::new()),
        Params::default(),
    )
    .await
    .unwrap();
    let mut feed = projector.changes();
    let accounts = [
        AccountId::parse("a").unwrap(),
        AccountId::parse("b").unwrap(),
    ];
    let mut models = [Model::default(), Model::default()];
    let mut clock = Timestamp::from_unix_nanos(START);
    for account in &accounts {
        ledger
            .append(account, ExpectedRevision::NoStream, vec![opening(clock)])
            .await
            .unwrap();
    }
    // (account, p) -> what a live query said when the log ended at p.
    let mut observed = Vec::new();
    for (second, days, ops) in steps {
        clock = clock.plus_days(i64::from(days % 8));
        let which = usize::from(second);
        let events: Vec<ProposedEvent> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| {
                let at = Timestamp::from_unix_nanos(clock.unix_nanos() + i as i64);
                models[which].payload(op, at).map(|p| proposed(at, p))
            })
            .collect();
        if events.is_empty() {
            continue;
        }
        let outcome = ledger
            .append(&accounts[which], ExpectedRevision::Any, events)
            .await
            .unwrap();
        let p = outcome.last_position;
        let live = RelationshipQuery {
            as_of: AsOf::Time(recorded_at(&log, p).await),
            known_at: None,
        };
        let first = relationships.get(&accounts[which], live).await.unwrap();
        let again = relationships.get(&accounts[which], live).await.unwrap();
        prop_assert_eq!(bytes(&first), bytes(&again), "two folds are byte-identical");
        observed.push((which, p, bytes(&first)));
        projector.catch_up().await.unwrap();
    }
    for (which, p, live) in observed {
        let at_p = RelationshipQuery {
            as_of: AsOf::Position(p),
            known_at: None,
        };
        let replayed = relationships.get(&accounts[which], at_p).await.unwrap();
        prop_assert_eq!(
            bytes(&replayed),
            live,
            "as of position {} equals the live answer then",
            p
        );
    }

    // Steps that proposed nothing appended nothing and did not catch up: the last appends may
    // not be projected yet.
    projector.catch_up().await.unwrap();

    // Every change the projector reported is a fresh fold as of its event, and follows the
    // account's previous one.
    let mut last_seen: BTreeMap<AccountId, RelationshipSummary> = BTreeMap::new();
    while let Ok(change) = feed.try_recv() {
        let after = &change.after;
        let at = RelationshipQuery {
            as_of: AsOf::Position(after.position),
            known_at: None,
        };
        let fresh = relationships.get(&after.account_id, at).await.unwrap();
        let fresh =
            RelationshipSummary::of(&after.account_id, after.position, after.event_id, &fresh);
        prop_assert_eq!(after, &fresh, "a reported change is a fresh fold's");
        if let Some(previous) = last_seen.get(&after.account_id) {
            prop_assert!(change
                .before
                .as_ref()
                .is_some_and(|b| b.position >= previous.position));
        }
        prop_assert!(after.is_news_after(change.before.as_ref()));
        last_seen.insert(after.account_id.clone(), after.clone());
    }

    let incremental = projector.store().summaries().await.unwrap();
    for summary in &incremental {
        let at = RelationshipQuery {
            as_of: AsOf::Position(summary.position),
            known_at: None,
        };
        let fresh = relationships.get(&summary.account_id, at).await.unwrap();
        let fresh = RelationshipSummary::of(
            &summary.account_id,
            summary.position,
            summary.event_id,
            &fresh,
        );
        prop_assert_eq!(summary, &fresh, "the live summary is a fresh fold's");
    }
    let all_at_once = Projector::open(
        log.clone(),
        Arc::new(MemorySnapshots::new()),
        Params::default(),
    )
    .await
    .unwrap();
    all_at_once.catch_up().await.unwrap();
    prop_assert_eq!(all_at_once.store().summaries().await.unwrap(), incremental);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn projections_are_deterministic_and_replay_as_of_any_position(
        steps in prop::collection::vec((any::<bool>(), any::<u8>(), prop::collection::vec(op(), 1..4)), 1..30)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check_history(steps))?;
    }
}
