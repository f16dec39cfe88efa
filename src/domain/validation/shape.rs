//! The rules of a batch's shape, which hold whatever the account's history: checked on the
//! batch alone, before the account's state is loaded or the batch is taken for a retry.

use std::collections::BTreeSet;

use super::{FieldViolation, Policy, ValidationError};
use crate::domain::event::ProposedEvent;
use crate::domain::time::{Timestamp, NANOS_PER_DAY, NANOS_PER_SECOND};

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
                format!(
                    "lies more than {} in the future of the server's clock",
                    span(policy.max_future_skew_nanos)
                ),
            ));
        }
    }
    ValidationError::check(violations)
}

/// A span of nanoseconds as a sentence says it: "a day", "3 hours", "90 seconds".
fn span(nanos: i64) -> String {
    let units = [
        (NANOS_PER_DAY, "day", "a day"),
        (3_600 * NANOS_PER_SECOND, "hour", "an hour"),
        (60 * NANOS_PER_SECOND, "minute", "a minute"),
        (NANOS_PER_SECOND, "second", "a second"),
    ];
    for (size, name, one) in units {
        if nanos >= size && nanos % size == 0 {
            return match nanos / size {
                1 => one.to_string(),
                n => format!("{n} {name}s"),
            };
        }
    }
    format!("{nanos} nanoseconds")
}
