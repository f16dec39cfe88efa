//! The input of `relledger append`: one `ProposedEvent` per line in the proto3 JSON mapping.
//!
//! For convenience at a shell, a line without an `eventId` gets a fresh random one and a line
//! without an `occurredAt` gets the current time. Such a line is not idempotent: appending the
//! same input again records the event again. Give `eventId` explicitly when a retry must be safe.

use crate::api::convert::timestamp_to_proto;
use crate::api::proto;
use crate::domain::EventId;

/// A line of the input that is not a `ProposedEvent` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// The 1-based line number in the input.
    pub line: usize,
    /// What the JSON decoder said (it names the column, and any unknown field).
    pub message: String,
}

/// Parses one `ProposedEvent` per non-blank line, filling a missing `eventId` with a random
/// UUID and a missing `occurredAt` with the current time. Fails on the first bad line.
pub fn parse_event_lines(input: &str) -> Result<Vec<proto::ProposedEvent>, LineError> {
    parse_event_lines_at(input, now())
}

/// [`parse_event_lines`] with `now` as the time given to events without `occurredAt`.
fn parse_event_lines_at(
    input: &str,
    now: pbjson_types::Timestamp,
) -> Result<Vec<proto::ProposedEvent>, LineError> {
    let mut events = Vec::new();
    for (index, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut event: proto::ProposedEvent =
            serde_json::from_str(line).map_err(|e| LineError {
                line: index + 1,
                message: e.to_string(),
            })?;
        // proto3 does not tell an empty string from an absent one, so neither does this.
        if event.event_id.is_empty() {
            event.event_id = EventId::new_random().to_string();
        }
        event.occurred_at.get_or_insert(now);
        events.push(event);
    }
    Ok(events)
}

/// The current time on the wire.
fn now() -> pbjson_types::Timestamp {
    timestamp_to_proto(crate::clock::now())
}

#[cfg(test)]
mod tests;
