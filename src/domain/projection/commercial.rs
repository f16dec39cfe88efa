//! The commercial figures (docs/scoring.md §9; the model is docs/domain.md §6 and §7): what
//! the account returns and what the relationship costs. Orders, payments, costs and price
//! pressure never feed trust; they are read here.
//!
//! Money is `i64` minor units; sums saturate rather than wrap, and ratios are `f64` of those
//! integers, so they are as deterministic as the integers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::event::EventPayload;
use crate::domain::ids::EventId;
use crate::domain::record::RecordedEvent;
use crate::domain::time::Timestamp;

use super::params::Params;
use super::within_days;

/// A won order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Order {
    pub event_id: EventId,
    pub at: Timestamp,
    pub revenue: i64,
    pub margin: Option<i64>,
}

/// Money spent on the relationship: a `relationship_cost` or a favor's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cost {
    pub event_id: EventId,
    pub at: Timestamp,
    pub amount: i64,
    pub favor: bool,
}

/// An invoice and what was paid against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Invoice {
    pub event_id: EventId,
    pub amount: i64,
    pub due_at: Timestamp,
    pub paid: i64,
}

/// The commercial events of an account, read once.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Commerce {
    /// Won orders in log order.
    pub orders: Vec<Order>,
    /// Concession demands: event, time, discount in basis points.
    pub concessions: Vec<(EventId, Timestamp, u32)>,
    /// Relationship costs and favor values.
    pub costs: Vec<Cost>,
    /// Invoices by invoice id. Payments against unknown invoices are ignored: nothing is
    /// owed that they could settle.
    pub invoices: BTreeMap<String, Invoice>,
    /// How many orders, costs and demands were left by the last [`Commerce::forget_past`]:
    /// the next one is due at twice as many.
    #[serde(default)]
    kept: usize,
}

impl Commerce {
    /// Reads the visible events in log order.
    pub fn read(events: &[&RecordedEvent]) -> Self {
        let mut c = Commerce::default();
        for record in events {
            c.apply(record);
        }
        c
    }

    /// Reads one more event.
    pub fn apply(&mut self, record: &RecordedEvent) {
        let (id, at) = (record.event.event_id, record.event.occurred_at);
        match &record.event.payload {
            EventPayload::OrderWon(o) => self.orders.push(Order {
                event_id: id,
                at,
                revenue: o.revenue.minor_units,
                margin: o.margin.as_ref().map(|m| m.minor_units),
            }),
            EventPayload::PriceConcessionDemanded(d) => {
                self.concessions.push((id, at, d.discount_basis_points))
            }
            EventPayload::RelationshipCost(cost) => self.costs.push(Cost {
                event_id: id,
                at,
                amount: cost.amount.minor_units,
                favor: false,
            }),
            EventPayload::FavorGiven(f) => self.costs.push(Cost {
                event_id: id,
                at,
                amount: f.value.minor_units,
                favor: true,
            }),
            EventPayload::InvoiceIssued(inv) => {
                self.invoices
                    .entry(inv.invoice_id.clone())
                    .or_insert(Invoice {
                        event_id: id,
                        amount: inv.amount.minor_units,
                        due_at: inv.due_at,
                        paid: 0,
                    });
            }
            EventPayload::PaymentReceived(p) => {
                if let Some(inv) = self.invoices.get_mut(&p.invoice_id) {
                    inv.paid = inv.paid.saturating_add(p.amount.minor_units);
                }
            }
            _ => {}
        }
    }

    /// Drops, when enough have come since the last time, the orders, costs and concession
    /// demands that no window ending at `newest` or later reaches: a flow's age only grows
    /// with the instant judged at, and an account state judges at its newest event or later,
    /// so they would never count again. Invoices stay: a balance has no window, and an
    /// invoice's id decides what a later payment or a repeated `invoice_issued` does.
    pub fn forget_past(&mut self, newest: Timestamp, params: &Params) {
        let flows = self.orders.len() + self.costs.len() + self.concessions.len();
        if flows <= 2 * self.kept + 64 {
            return;
        }
        let reaches = |at: Timestamp, days: i64| newest.days_since(at) < days;
        let trailing = i64::from(params.trailing_days);
        // Demands: the figures' trailing window, and the price-pressure alert's.
        let demands = trailing.max(i64::from(params.price_pressure_days));
        let orders = order_reach(params);
        self.orders.retain(|o| reaches(o.at, orders));
        self.costs.retain(|c| reaches(c.at, trailing));
        self.concessions.retain(|(_, at, _)| reaches(*at, demands));
        self.kept = self.orders.len() + self.costs.len() + self.concessions.len();
    }

    /// Won orders whose age in days is in `from..to`.
    pub fn orders_aged(
        &self,
        as_of: Timestamp,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = &Order> {
        self.orders.iter().filter(move |o| {
            let age = as_of.days_since(o.at);
            (from..to).contains(&age)
        })
    }
}

/// How many days back from the instant judged at any rule reads won orders: the trailing
/// window, the margin's recent and prior windows, and the repeat orders' windows.
fn order_reach(params: &Params) -> i64 {
    let trailing = i64::from(params.trailing_days);
    let margin = i64::from(params.margin_recent_days) + i64::from(params.margin_prior_days);
    let repeat = i64::from(params.repeat_window_days.max(1)) * i64::from(params.repeat_windows);
    trailing.max(margin).max(repeat)
}

/// Revenue and margin of some orders; the rate only over orders whose margin is known.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct MarginSum {
    pub revenue: i64,
    pub margin: i64,
    pub revenue_with_margin: i64,
}

impl MarginSum {
    pub fn of<'a>(orders: impl Iterator<Item = &'a Order>) -> Self {
        let mut sum = MarginSum::default();
        for o in orders {
            sum.revenue = sum.revenue.saturating_add(o.revenue);
            if let Some(m) = o.margin {
                sum.margin = sum.margin.saturating_add(m);
                sum.revenue_with_margin = sum.revenue_with_margin.saturating_add(o.revenue);
            }
        }
        sum
    }

    /// `margin / revenue` over orders with a known margin; none without such revenue.
    pub fn rate(&self) -> Option<f64> {
        (self.revenue_with_margin > 0).then(|| self.margin as f64 / self.revenue_with_margin as f64)
    }
}

/// An invoice with money still owed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceLine {
    /// The invoice id.
    pub invoice_id: String,
    /// The `invoice_issued` event.
    pub event_id: EventId,
    /// When payment was due.
    pub due_at: Timestamp,
    /// Invoiced minus paid, minor units.
    pub outstanding_minor: i64,
    /// Past its due date.
    pub overdue: bool,
}

/// The account's commercial figures as of the projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommercialFigures {
    /// The trailing window of the flows below, in days.
    pub window_days: u32,
    /// Revenue of won orders in the window.
    pub revenue_minor: i64,
    /// Their number.
    pub orders_won: u32,
    /// Margin of the window's won orders whose margin is known.
    pub margin_minor: i64,
    /// `margin / revenue` of those orders; none when no margin is known.
    pub margin_rate: Option<f64>,
    /// `relationship_cost` events plus favor values in the window.
    pub relationship_cost_minor: i64,
    /// The favor values within that cost.
    pub favor_value_minor: i64,
    /// `(margin - cost) / cost`; none without cost.
    pub roi: Option<f64>,
    /// Invoiced minus paid, over every invoice (a balance, not a flow: no window).
    pub receivables_outstanding_minor: i64,
    /// The part of it past due.
    pub receivables_overdue_minor: i64,
    /// Invoices with money owed, by invoice id.
    pub open_invoices: Vec<InvoiceLine>,
    /// Price concession demands in the window.
    pub concession_demands: u32,
    /// Their average demanded discount in basis points; none without demands.
    pub average_discount_bp: Option<f64>,
}

impl CommercialFigures {
    /// The figures of `commerce` as of `as_of`.
    pub(crate) fn new(commerce: &Commerce, as_of: Timestamp, params: &Params) -> Self {
        let window = i64::from(params.trailing_days);
        let orders = MarginSum::of(commerce.orders_aged(as_of, 0, window));
        let orders_won = commerce.orders_aged(as_of, 0, window).count() as u32;
        let mut cost = 0_i64;
        let mut favors = 0_i64;
        for c in commerce
            .costs
            .iter()
            .filter(|c| within_days(as_of, c.at, params.trailing_days))
        {
            cost = cost.saturating_add(c.amount);
            if c.favor {
                favors = favors.saturating_add(c.amount);
            }
        }
        let mut outstanding = 0_i64;
        let mut overdue = 0_i64;
        let mut open_invoices = Vec::new();
        for (id, inv) in &commerce.invoices {
            let owed = inv.amount.saturating_sub(inv.paid).max(0);
            if owed == 0 {
                continue;
            }
            let late = as_of > inv.due_at;
            outstanding = outstanding.saturating_add(owed);
            if late {
                overdue = overdue.saturating_add(owed);
            }
            open_invoices.push(InvoiceLine {
                invoice_id: id.clone(),
                event_id: inv.event_id,
                due_at: inv.due_at,
                outstanding_minor: owed,
                overdue: late,
            });
        }
        let demands: Vec<u32> = commerce
            .concessions
            .iter()
            .filter(|(_, at, _)| within_days(as_of, *at, params.trailing_days))
            .map(|(_, _, bp)| *bp)
            .collect();
        let average_discount_bp = (!demands.is_empty())
            .then(|| demands.iter().map(|bp| f64::from(*bp)).sum::<f64>() / demands.len() as f64);
        CommercialFigures {
            window_days: params.trailing_days,
            revenue_minor: orders.revenue,
            orders_won,
            margin_minor: orders.margin,
            margin_rate: orders.rate(),
            relationship_cost_minor: cost,
            favor_value_minor: favors,
            roi: (cost > 0).then(|| (orders.margin as f64 - cost as f64) / cost as f64),
            receivables_outstanding_minor: outstanding,
            receivables_overdue_minor: overdue,
            open_invoices,
            concession_demands: demands.len() as u32,
            average_discount_bp,
        }
    }
}

#[cfg(test)]
mod tests;
