//! The rules an append must satisfy.
//!
//! Validation is pure: it sees the batch, the account's state before it ([`AccountState`]) and
//! the ledger's [`Policy`], and names every field that breaks a rule. A batch is checked as a
//! sequence: each event is checked against the state the events before it produce, so one
//! append may open an account, add its contacts and record a visit.
//!
//! - `shape`: the rules of a batch's shape, which hold whatever the account's history;
//! - `history`: the rules each event must satisfy against the state before it, and `fields`,
//!   the checks of single fields they share;
//! - `policy`: the ledger-wide [`Policy`], configuration rather than domain law;
//! - `violation`: how a broken rule is reported ([`FieldViolation`], [`ValidationError`]);
//! - this file: [`validate_batch`], every rule at once.

mod fields;
mod history;
mod policy;
mod shape;
mod violation;

pub use fields::MAX_REFERENCE_LEN;
pub use history::{validate_against, validate_not_forgotten};
pub use policy::Policy;
pub use shape::validate_shape;
pub use violation::{FieldViolation, ValidationError};

use super::account::AccountState;
use super::event::ProposedEvent;
use super::time::Timestamp;

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

#[cfg(test)]
mod tests;
