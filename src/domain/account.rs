//! What validation must know of an account's history: whether it was opened, its contacts,
//! promises, won orders and invoices. Folded from the account's events in stream order.

use std::collections::{BTreeMap, BTreeSet};

use super::event::{ContactRole, EventPayload, ProposedEvent};

/// A contact as validation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactState {
    /// The contact's buying role.
    pub role: ContactRole,
    /// False once the contact has left: later events may not name them.
    pub active: bool,
    /// True once the contact was forgotten: their data key is destroyed, so no personal data
    /// about them may be recorded again (it could not be sealed under the old key, and a new
    /// key would make the erasure a pause).
    pub forgotten: bool,
}

/// Where a promise stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromiseStatus {
    /// Made, no outcome yet.
    Open,
    /// Kept.
    Kept,
    /// Broken.
    Broken,
}

/// The state of one account as validation sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// `account_opened` has been recorded.
    pub opened: bool,
    /// Every contact ever added, by id.
    pub contacts: BTreeMap<String, ContactState>,
    /// Every promise ever made, by id.
    pub promises: BTreeMap<String, PromiseStatus>,
    /// The ids of won orders, which must be unique so revenue is never counted twice.
    pub won_orders: BTreeSet<String>,
    /// Every invoice, with the amount still outstanding in minor units.
    pub invoices: BTreeMap<String, i64>,
}

impl AccountState {
    /// The state after the events, in stream order.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a ProposedEvent>) -> Self {
        let mut state = AccountState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Whether `contact_id` names a contact who was forgotten.
    pub fn is_forgotten_contact(&self, contact_id: &str) -> bool {
        self.contacts.get(contact_id).is_some_and(|c| c.forgotten)
    }

    /// Whether `contact_id` names a contact who has not left.
    pub fn is_active_contact(&self, contact_id: &str) -> bool {
        self.contacts.get(contact_id).is_some_and(|c| c.active)
    }

    /// Folds one event in. Events are validated before they are recorded, so this trusts them.
    pub fn apply(&mut self, event: &ProposedEvent) {
        match &event.payload {
            EventPayload::AccountOpened(_) => self.opened = true,
            EventPayload::ContactAdded(c) => {
                self.contacts.insert(
                    c.contact_id.clone(),
                    ContactState {
                        role: c.role,
                        active: true,
                        forgotten: false,
                    },
                );
            }
            EventPayload::ContactLeft(c) => {
                if let Some(contact) = self.contacts.get_mut(&c.contact_id) {
                    contact.active = false;
                }
            }
            EventPayload::ContactForgotten(c) => {
                if let Some(contact) = self.contacts.get_mut(&c.contact_id) {
                    contact.forgotten = true;
                }
            }
            EventPayload::PromiseMade(p) => {
                self.promises
                    .insert(p.promise_id.clone(), PromiseStatus::Open);
            }
            EventPayload::PromiseKept(p) => {
                self.promises
                    .insert(p.promise_id.clone(), PromiseStatus::Kept);
            }
            EventPayload::PromiseBroken(p) => {
                self.promises
                    .insert(p.promise_id.clone(), PromiseStatus::Broken);
            }
            EventPayload::OrderWon(o) => {
                self.won_orders.insert(o.order_id.clone());
            }
            EventPayload::InvoiceIssued(i) => {
                self.invoices
                    .insert(i.invoice_id.clone(), i.amount.minor_units);
            }
            EventPayload::PaymentReceived(p) => {
                if let Some(outstanding) = self.invoices.get_mut(&p.invoice_id) {
                    *outstanding -= p.amount.minor_units;
                }
            }
            EventPayload::IntroductionMade(_)
            | EventPayload::Visit(_)
            | EventPayload::Call(_)
            | EventPayload::SolutionDelivered(_)
            | EventPayload::ThirdPartyProofShared(_)
            | EventPayload::FavorGiven(_)
            | EventPayload::OrderLost(_)
            | EventPayload::PriceConcessionDemanded(_)
            | EventPayload::CriticalAssistance(_)
            | EventPayload::RelationshipCost(_) => {}
        }
    }
}
