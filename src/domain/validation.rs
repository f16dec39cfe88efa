//! The rules an append must satisfy.
//!
//! Validation is pure: it sees the batch, the account's state before it ([`AccountState`]) and
//! the ledger's [`Policy`], and names every field that breaks a rule. A batch is checked as a
//! sequence: each event is checked against the state the events before it produce, so one
//! append may open an account, add its contacts and record a visit.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use super::account::AccountState;
use super::account::PromiseStatus;
use super::event::{EventPayload, Money, ProposedEvent};
use super::time::Timestamp;

/// One field that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, as on the wire: `events[2].visit.contact_ids[0]`.
    pub field: String,
    /// What is wrong with it, as a sentence fragment a client developer can act on.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A field's path in the request, as on the wire (`events[2].visit.contact_ids[0]`), written
/// out only when it names a violation: the checks make a path for every field they look at,
/// and almost every append passes them.
#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    /// `events[i]`.
    Event(usize),
    /// `parent.name`.
    Field(&'a Path<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'a str) -> Path<'a> {
        Path::Field(self, name)
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Event(i) => write!(f, "events[{i}]"),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A request that breaks one or more rules. Always holds at least one violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The violations, in request order.
    pub violations: Vec<FieldViolation>,
}

impl ValidationError {
    /// An error with a single violation.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        ValidationError {
            violations: vec![FieldViolation::new(field, description)],
        }
    }

    /// `Ok` when `violations` is empty, the error otherwise.
    pub fn check(violations: Vec<FieldViolation>) -> Result<(), ValidationError> {
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { violations })
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

/// The ledger-wide rules that are configuration rather than domain law.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The one currency every amount must be in (ISO 4217).
    pub currency: String,
    /// The most events one append may carry.
    pub max_batch_events: usize,
    /// How far past the server's clock an `occurred_at` may lie, in nanoseconds: clocks drift,
    /// but an event dated next month is a client bug.
    pub max_future_skew_nanos: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            currency: "CNY".to_string(),
            max_batch_events: 1000,
            max_future_skew_nanos: super::time::NANOS_PER_DAY,
        }
    }
}

/// The longest id of a contact, promise, order or invoice, in bytes.
pub const MAX_REFERENCE_LEN: usize = 128;

/// Checks a batch whose account's state before it is `state`, at server time `now`: both
/// [`validate_shape`] and [`validate_against`], every violation reported.
pub fn validate_batch(
    state: &AccountState,
    events: &[ProposedEvent],
    policy: &Policy,
    now: Timestamp,
) -> Result<(), ValidationError> {
    let mut violations = validate_shape(events, policy, now)
        .err()
        .map_or_else(Vec::new, |e| e.violations);
    violations.extend(
        validate_against(state, events, policy)
            .err()
            .map_or_else(Vec::new, |e| e.violations),
    );
    ValidationError::check(violations)
}

/// The rules that hold whatever the account's history: a batch is not empty, not over the
/// limit, names each event id once, and is not dated in the future. Checked before anything
/// else, so that a batch which can never be valid is refused before it is taken for a retry.
pub fn validate_shape(
    events: &[ProposedEvent],
    policy: &Policy,
    now: Timestamp,
) -> Result<(), ValidationError> {
    let mut violations = Vec::new();
    if events.is_empty() {
        violations.push(FieldViolation::new(
            "events",
            "at least one event is required",
        ));
    }
    if events.len() > policy.max_batch_events {
        violations.push(FieldViolation::new(
            "events",
            format!(
                "at most {} events per append, got {}",
                policy.max_batch_events,
                events.len()
            ),
        ));
    }
    let latest = now
        .unix_nanos()
        .saturating_add(policy.max_future_skew_nanos);
    let mut seen_ids = BTreeSet::new();
    for (i, event) in events.iter().enumerate() {
        if !seen_ids.insert(event.event_id) {
            violations.push(FieldViolation::new(
                format!("events[{i}].event_id"),
                format!("{} appears twice in this batch", event.event_id),
            ));
        }
        if event.occurred_at.unix_nanos() > latest {
            violations.push(FieldViolation::new(
                format!("events[{i}].occurred_at"),
                "lies more than a day in the future of the server's clock",
            ));
        }
    }
    ValidationError::check(violations)
}

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

/// Collects violations while walking a batch.
struct Checker<'a> {
    violations: Vec<FieldViolation>,
    policy: &'a Policy,
}

impl Checker<'_> {
    fn fail(&mut self, field: &Path<'_>, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field.to_string(), description));
    }

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

    fn required_text(&mut self, field: &Path<'_>, value: &str) {
        if value.trim().is_empty() {
            self.fail(field, "is required");
        }
    }

    /// Checks an id the client chose for a contact, promise, order or invoice; true when valid.
    fn reference(&mut self, field: &Path<'_>, id: &str) -> bool {
        if id.trim().is_empty() {
            self.fail(field, "is required");
            false
        } else if id.len() > MAX_REFERENCE_LEN {
            self.fail(field, format!("must be at most {MAX_REFERENCE_LEN} bytes"));
            false
        } else {
            true
        }
    }

    fn active_contact(&mut self, state: &AccountState, field: &Path<'_>, contact_id: &str) {
        match state.contacts.get(contact_id) {
            _ if contact_id.is_empty() => self.fail(field, "is required"),
            None => self.fail(
                field,
                format!("{contact_id:?} is not a contact of this account"),
            ),
            Some(contact) if !contact.active => self.fail(
                field,
                format!("contact {contact_id:?} has left the account"),
            ),
            Some(_) => {}
        }
    }

    fn contact_list(&mut self, state: &AccountState, field: &Path<'_>, contact_ids: &[String]) {
        let mut seen = BTreeSet::new();
        for (i, id) in contact_ids.iter().enumerate() {
            let field = field.index(i);
            if !seen.insert(id) {
                self.fail(&field, format!("{id:?} is listed twice"));
            } else {
                self.active_contact(state, &field, id);
            }
        }
    }

    fn open_promise(&mut self, state: &AccountState, field: &Path<'_>, promise_id: &str) {
        match state.promises.get(promise_id) {
            _ if promise_id.is_empty() => self.fail(field, "is required"),
            None => self.fail(
                field,
                format!("{promise_id:?} is not a promise of this account"),
            ),
            Some(PromiseStatus::Kept) => {
                self.fail(field, format!("promise {promise_id:?} was already kept"))
            }
            Some(PromiseStatus::Broken) => {
                self.fail(field, format!("promise {promise_id:?} was already broken"))
            }
            Some(PromiseStatus::Open) => {}
        }
    }

    fn money(&mut self, field: &Path<'_>, money: &Money, amount: Amount) {
        if money.currency != self.policy.currency {
            self.fail(
                &field.field("currency"),
                format!(
                    "must be the ledger's currency {}, got {:?}",
                    self.policy.currency, money.currency
                ),
            );
        }
        let units = money.minor_units;
        match amount {
            Amount::Positive if units <= 0 => {
                self.fail(&field.field("minor_units"), "must be more than zero")
            }
            Amount::NotNegative if units < 0 => {
                self.fail(&field.field("minor_units"), "must not be negative")
            }
            _ => {}
        }
    }
}

/// Which amounts a money field admits.
#[derive(Clone, Copy)]
enum Amount {
    /// More than zero (invoices, payments).
    Positive,
    /// Zero or more (costs, revenue, favor values).
    NotNegative,
    /// Any sign (a margin may be a loss).
    Any,
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
