//! The article's stories as event histories, shared by the tests that tell them over different
//! RPCs (the projections and the change feed).

use relledger::api::proto::{self, AccountSegment, ContactRole};

use super::events::*;

/// docs/domain.md §7: contractor B, with one close bond, a year of orders at 12% margin, then
/// the squeeze: orders at 2%, repeated price-concession ultimatums, and arrears.
pub struct ConcreteProducer {
    /// The history, in append order.
    pub events: Vec<proto::ProposedEvent>,
    /// The ids of the last 90 days' orders (the falling margin).
    pub recent_orders: Vec<String>,
    /// The ids of the price-concession demands.
    pub demands: Vec<String>,
    /// The id of the invoice left overdue.
    pub late_invoice: String,
}

/// Contractor B's history; see [`ConcreteProducer`].
pub fn concrete_producer() -> ConcreteProducer {
    let mut b = vec![
        event_on(
            -800,
            account_opened_by("Contractor B", "li.wei", AccountSegment::Key),
        ),
        event_on(-800, contact_added("boss", ContactRole::DecisionMaker)),
        event_on(-800, contact_added("buyer", ContactRole::Procurement)),
        event_on(-800, introduction("boss")),
    ];
    for d in (-400..=0).step_by(20) {
        b.push(event_on(d, visit_planning(&["boss"], on_day(d + 30))));
    }
    b.push(event_on(-10, call("buyer")));
    b.push(event_on(-300, promise_due("pour-1", "boss", on_day(-270))));
    b.push(event_on(-275, promise_kept("pour-1")));
    b.push(event_on(-150, promise_due("pour-2", "boss", on_day(-120))));
    b.push(event_on(-130, promise_kept("pour-2")));
    for d in (-360..=-120).step_by(30) {
        b.push(event_on(d, order_won(&format!("o{d}"), 7_000_000, 840_000)));
    }
    // The last 90 days at 2%: "take it at this price or another producer will".
    let mut recent_orders = Vec::new();
    for d in [-70, -40, -10] {
        let order = event_on(d, order_won(&format!("o{d}"), 7_000_000, 140_000));
        recent_orders.push(order.event_id.clone());
        b.push(order);
    }
    let mut demands = Vec::new();
    for d in [-150, -90, -50, -20] {
        let demand = event_on(d, price_concession(500));
        demands.push(demand.event_id.clone());
        b.push(demand);
    }
    // Arrears down the construction chain: A finances B's receivables.
    let late = event_on(-150, invoice("inv-7", 21_000_000, on_day(-90)));
    let late_invoice = late.event_id.clone();
    b.push(late);
    b.push(event_on(-80, payment("inv-7", 5_000_000)));
    b.push(event_on(-10, invoice("inv-9", 7_000_000, on_day(50))));
    ConcreteProducer {
        events: b,
        recent_orders,
        demands,
        late_invoice,
    }
}

/// docs/domain.md §5, before the typhoon: a service relationship with a bond, a kept visit
/// rhythm, repeat orders and one solution.
pub fn typhoon_service_history() -> Vec<proto::ProposedEvent> {
    let mut events = vec![
        event_on(
            -600,
            account_opened_by("Cement Buyer", "li.wei", AccountSegment::Standard),
        ),
        event_on(-600, contact_added("owner", ContactRole::DecisionMaker)),
        event_on(-600, contact_added("yard", ContactRole::User)),
        event_on(-600, introduction("owner")),
    ];
    for d in (-400..=0).step_by(20) {
        events.push(event_on(
            d,
            visit_planning(&["owner", "yard"], on_day(d + 30)),
        ));
    }
    for d in [-300, -210, -120, -30] {
        events.push(event_on(d, order_won(&format!("o{d}"), 2_000_000, 300_000)));
    }
    events.push(event_on(-200, solution(&["yard"])));
    events
}
