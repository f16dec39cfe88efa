//! The checks of one field that many event types share: required text, the ids a client
//! chooses, contacts and promises the account must hold, and money in the ledger's currency.
//! Each records what is wrong in a [`Checker`], which walks a batch for `history`.

use std::collections::BTreeSet;

use super::violation::Path;
use super::{FieldViolation, Policy};
use crate::domain::account::{AccountState, PromiseStatus};
use crate::domain::event::Money;

/// The longest id of a contact, promise, order or invoice, in bytes.
pub const MAX_REFERENCE_LEN: usize = 128;

/// Collects violations while walking a batch.
pub(super) struct Checker<'a> {
    pub(super) violations: Vec<FieldViolation>,
    pub(super) policy: &'a Policy,
}

impl Checker<'_> {
    pub(super) fn fail(&mut self, field: &Path<'_>, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field.to_string(), description));
    }

    pub(super) fn required_text(&mut self, field: &Path<'_>, value: &str) {
        if value.trim().is_empty() {
            self.fail(field, "is required");
        }
    }

    /// Checks an id the client chose for a contact, promise, order or invoice; true when valid.
    pub(super) fn reference(&mut self, field: &Path<'_>, id: &str) -> bool {
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

    pub(super) fn active_contact(
        &mut self,
        state: &AccountState,
        field: &Path<'_>,
        contact_id: &str,
    ) {
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

    pub(super) fn contact_list(
        &mut self,
        state: &AccountState,
        field: &Path<'_>,
        contact_ids: &[String],
    ) {
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

    pub(super) fn open_promise(
        &mut self,
        state: &AccountState,
        field: &Path<'_>,
        promise_id: &str,
    ) {
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

    pub(super) fn money(&mut self, field: &Path<'_>, money: &Money, amount: Amount) {
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
pub(super) enum Amount {
    /// More than zero (invoices, payments).
    Positive,
    /// Zero or more (costs, revenue, favor values).
    NotNegative,
    /// Any sign (a margin may be a loss).
    Any,
}
