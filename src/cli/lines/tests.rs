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
    let input = "{\"actor\":\"a\",\"call\":{}}\n{\"actor\":\"a\",\"call\":{},\"eventId\":\"\"}\n";
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
