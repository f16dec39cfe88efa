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
mod tests {
    use super::*;
    use crate::api::proto::proposed_event::Payload;

    const NOW: pbjson_types::Timestamp = pbjson_types::Timestamp {
        seconds: 1_800_000_000,
        nanos: 7,
    };

    #[test]
    fn camel_case_and_snake_case_are_both_accepted() {
        let input = concat!(
            r#"{"eventId":"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11","occurredAt":"2026-11-01T09:30:00Z","actor":"li.wei","visit":{"contactIds":["c-zhang"],"purpose":"deliver the test report"}}"#,
            "\n",
            r#"{"event_id":"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d12","occurred_at":"2026-11-01T09:30:00Z","actor":"li.wei","promise_made":{"promise_id":"p-1","due_at":"2026-11-08T00:00:00Z"}}"#,
        );
        let events = parse_event_lines_at(input, NOW).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_id, "0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11");
        assert_eq!(
            events[0].occurred_at,
            Some(pbjson_types::Timestamp {
                seconds: 1_793_525_400,
                nanos: 0
            })
        );
        let Some(Payload::Visit(visit)) = &events[0].payload else {
            panic!("not a visit")
        };
        assert_eq!(visit.contact_ids, ["c-zhang"]);
        assert_eq!(visit.purpose, "deliver the test report");
        let Some(Payload::PromiseMade(promise)) = &events[1].payload else {
            panic!("not a promise")
        };
        assert_eq!(promise.promise_id, "p-1");
        assert!(promise.due_at.is_some());
    }

    #[test]
    fn missing_ids_and_times_are_filled() {
        let input =
            "{\"actor\":\"a\",\"call\":{}}\n{\"actor\":\"a\",\"call\":{},\"eventId\":\"\"}\n";
        let events = parse_event_lines_at(input, NOW).unwrap();
        assert_eq!(events.len(), 2);
        for event in &events {
            EventId::parse(&event.event_id).expect("a filled id is a valid event id");
            assert_eq!(event.occurred_at, Some(NOW));
        }
        assert_ne!(
            events[0].event_id, events[1].event_id,
            "each line gets its own id"
        );
    }

    #[test]
    fn the_current_time_is_used_by_default() {
        let before = now();
        let events = parse_event_lines("{\"call\":{}}").unwrap();
        let after = now();
        let t = events[0].occurred_at.unwrap();
        assert!((before.seconds, before.nanos) <= (t.seconds, t.nanos));
        assert!((t.seconds, t.nanos) <= (after.seconds, after.nanos));
    }

    #[test]
    fn blank_lines_are_skipped_and_count_for_line_numbers() {
        let input = "\n  \r\n{\"call\":{}}\r\n\n{\"call\":{}}\n\t\n";
        assert_eq!(parse_event_lines_at(input, NOW).unwrap().len(), 2);
        assert_eq!(parse_event_lines_at("", NOW).unwrap(), []);

        let err = parse_event_lines_at("\n{\"call\":{}}\n\n{\"call\":{\n", NOW).unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.to_string().starts_with("line 4: "), "{err}");
    }

    #[test]
    fn bad_lines_are_named() {
        for (input, line) in [
            ("not json", 1),
            ("{\"call\":{}}\n[1, 2]", 2),
            ("{\"call\":{}}\n{\"call\":{}}\n{\"actr\":\"typo\"}", 3),
            ("{\"occurredAt\":\"yesterday\"}", 1),
        ] {
            let err = parse_event_lines_at(input, NOW).unwrap_err();
            assert_eq!(err.line, line, "{input:?}: {err}");
        }
        let err = parse_event_lines_at("{\"actr\":\"typo\"}", NOW).unwrap_err();
        assert!(
            err.message.contains("actr"),
            "the unknown field is named: {err}"
        );
    }
}
