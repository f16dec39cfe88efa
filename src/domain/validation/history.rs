//! The rules that depend on the account's history: each event of a batch checked against the
//! state the events before it leave, one arm per event type. The checks of single fields that
//! many event types share live in `fields`.

use std::borrow::Cow;

use super::fields::{Amount, Checker};
use super::violation::Path;
use super::{Policy, ValidationError};
use crate::domain::account::AccountState;
use crate::domain::event::{EventPayload, ProposedEvent};

/// Only the personal-data rule of [`validate_against`]: no personal text about a contact who
/// was forgotten. The ledger checks it before it seals a batch, so that it never makes a new
/// data key for a forgotten contact, even for a batch that then turns out to be a retry.
pub fn validate_not_forgotten(
    state: &AccountState,
    events: &[ProposedEvent],
) -> Result<(), ValidationError> {
    let policy = Policy::default();
    let mut check = Checker {
        violations: Vec::new(),
        policy: &policy,
    };
    for (i, event) in events.iter().enumerate() {
        check.no_personal_data_of_forgotten(state, event, &Path::Event(i));
    }
    ValidationError::check(check.violations)
}

/// The rules that depend on the account's history (`state`, the account before the batch):
/// each event is checked against the state the events before it leave.
pub fn validate_against(
    state: &AccountState,
    events: &[ProposedEvent],
    policy: &Policy,
) -> Result<(), ValidationError> {
    let mut check = Checker {
        violations: Vec::new(),
        policy,
    };
    // Each event is checked against the state the events before it in the batch left. The
    // account's state holds every contact, promise, order and invoice it ever had, so it is
    // copied only when a later event needs it: copied for every append, it made an append's
    // cost grow with the account's history.
    let mut state = Cow::Borrowed(state);
    for (i, event) in events.iter().enumerate() {
        check.event(&state, event, &Path::Event(i));
        if i + 1 < events.len() {
            state.to_mut().apply(event);
        }
    }
    ValidationError::check(check.violations)
}

impl Checker<'_> {
    /// Checks one event against the state the events before it left.
    fn event(&mut self, state: &AccountState, event: &ProposedEvent, path: &Path<'_>) {
        let kind = event.payload.event_type().as_str();
        let message = path.field(kind);
        let at = |field: &'static str| message.field(field);
        if let EventPayload::AccountOpened(opened) = &event.payload {
            if state.opened {
                self.fail(&message, "the account is already opened");
            }
            self.required_text(&at("name"), &opened.name);
            return;
        }
        if !state.opened {
            self.fail(
                &path.field("payload"),
                "the account has not been opened: its first event must be account_opened",
            );
            return;
        }
        self.no_personal_data_of_forgotten(state, event, path);
        match &event.payload {
            EventPayload::AccountOpened(_) => {}
            EventPayload::ContactForgotten(c) => match state.contacts.get(&c.contact_id) {
                _ if c.contact_id.is_empty() => self.fail(&at("contact_id"), "is required"),
                None => self.fail(
                    &at("contact_id"),
                    format!("{:?} is not a contact of this account", c.contact_id),
                ),
                Some(contact) if contact.forgotten => self.fail(
                    &at("contact_id"),
                    format!("contact {:?} was already forgotten", c.contact_id),
                ),
                Some(_) => self.required_text(&at("reason"), &c.reason),
            },
            EventPayload::ContactAdded(c) => {
                if self.reference(&at("contact_id"), &c.contact_id)
                    && state.contacts.contains_key(&c.contact_id)
                {
                    self.fail(
                        &at("contact_id"),
                        format!("contact {:?} was already added", c.contact_id),
                    );
                }
            }
            EventPayload::ContactLeft(c) => {
                self.active_contact(state, &at("contact_id"), &c.contact_id)
            }
            EventPayload::IntroductionMade(intro) => {
                self.active_contact(state, &at("contact_id"), &intro.contact_id);
                self.required_text(&at("introduced_by"), &intro.introduced_by);
            }
            EventPayload::Visit(visit) => {
                if visit.contact_ids.is_empty() {
                    self.fail(&at("contact_ids"), "a visit meets at least one contact");
                }
                self.contact_list(state, &at("contact_ids"), &visit.contact_ids);
                if visit
                    .next_visit_on
                    .is_some_and(|next| next <= event.occurred_at)
                {
                    self.fail(
                        &at("next_visit_on"),
                        "must be after the visit's occurred_at",
                    );
                }
            }
            EventPayload::Call(call) => {
                self.active_contact(state, &at("contact_id"), &call.contact_id)
            }
            EventPayload::PromiseMade(p) => {
                if self.reference(&at("promise_id"), &p.promise_id)
                    && state.promises.contains_key(&p.promise_id)
                {
                    self.fail(
                        &at("promise_id"),
                        format!("promise {:?} was already made", p.promise_id),
                    );
                }
                if let Some(contact_id) = &p.contact_id {
                    self.active_contact(state, &at("contact_id"), contact_id);
                }
                if p.due_at < event.occurred_at {
                    self.fail(
                        &at("due_at"),
                        "must not be before the promise's occurred_at",
                    );
                }
            }
            EventPayload::PromiseKept(p) => {
                self.open_promise(state, &at("promise_id"), &p.promise_id)
            }
            EventPayload::PromiseBroken(p) => {
                self.open_promise(state, &at("promise_id"), &p.promise_id)
            }
            EventPayload::SolutionDelivered(s) => {
                self.contact_list(state, &at("contact_ids"), &s.contact_ids)
            }
            EventPayload::ThirdPartyProofShared(p) => {
                self.contact_list(state, &at("contact_ids"), &p.contact_ids)
            }
            EventPayload::FavorGiven(favor) => {
                self.active_contact(state, &at("contact_id"), &favor.contact_id);
                if favor.kind.is_cash_equivalent() {
                    self.fail(
                        &at("kind"),
                        "cash and cash equivalents (vouchers, gift cards) are never recorded as favors: \
                         they are not hospitality",
                    );
                }
                self.money(&at("value"), &favor.value, Amount::NotNegative);
            }
            EventPayload::OrderWon(order) => {
                if self.reference(&at("order_id"), &order.order_id)
                    && state.won_orders.contains(&order.order_id)
                {
                    self.fail(
                        &at("order_id"),
                        format!("order {:?} was already won", order.order_id),
                    );
                }
                self.money(&at("revenue"), &order.revenue, Amount::NotNegative);
                if let Some(margin) = &order.margin {
                    self.money(&at("margin"), margin, Amount::Any);
                    if margin.minor_units > order.revenue.minor_units {
                        self.fail(&at("margin"), "must not exceed the revenue");
                    }
                }
            }
            EventPayload::OrderLost(order) => {
                if let Some(lost) = &order.lost_revenue {
                    self.money(&at("lost_revenue"), lost, Amount::NotNegative);
                }
            }
            EventPayload::PriceConcessionDemanded(demand) => {
                if demand.discount_basis_points > 10_000 {
                    self.fail(&at("discount_basis_points"), "must be at most 10000 (100%)");
                }
            }
            EventPayload::InvoiceIssued(invoice) => {
                if self.reference(&at("invoice_id"), &invoice.invoice_id)
                    && state.invoices.contains_key(&invoice.invoice_id)
                {
                    self.fail(
                        &at("invoice_id"),
                        format!("invoice {:?} was already issued", invoice.invoice_id),
                    );
                }
                self.money(&at("amount"), &invoice.amount, Amount::Positive);
            }
            EventPayload::PaymentReceived(payment) => {
                self.money(&at("amount"), &payment.amount, Amount::Positive);
                match state.invoices.get(&payment.invoice_id) {
                    None => self.fail(
                        &at("invoice_id"),
                        format!("{:?} is not an invoice of this account", payment.invoice_id),
                    ),
                    Some(&outstanding) if payment.amount.minor_units > outstanding => self.fail(
                        &at("amount"),
                        format!("exceeds the {outstanding} minor units still outstanding on the invoice"),
                    ),
                    Some(_) => {}
                }
            }
            EventPayload::CriticalAssistance(help) => {
                self.contact_list(state, &at("contact_ids"), &help.contact_ids);
                if let Some(value) = &help.value_protected {
                    self.money(&at("value_protected"), value, Amount::NotNegative);
                }
            }
            EventPayload::RelationshipCost(cost) => {
                self.money(&at("amount"), &cost.amount, Amount::NotNegative)
            }
        }
    }

    /// A forgotten contact's data key is destroyed for good: personal text about them is
    /// refused rather than sealed under a new key, so an erasure cannot be undone by a later
    /// event, and a retry of an event that carried it cannot be told from new data any more.
    fn no_personal_data_of_forgotten(
        &mut self,
        state: &AccountState,
        event: &ProposedEvent,
        path: &Path<'_>,
    ) {
        let Some(personal) = event.payload.personal_fields() else {
            return;
        };
        if !state.is_forgotten_contact(personal.contact_id) {
            return;
        }
        let message = path.field(event.payload.event_type().as_str());
        for (name, value) in personal.fields {
            if !value.is_empty() {
                self.fail(
                    &message.field(name),
                    format!(
                        "contact {:?} was forgotten: no personal data about them is recorded any more",
                        personal.contact_id
                    ),
                );
            }
        }
    }
}
