use super::*;

#[test]
fn event_type_names_round_trip() {
    for t in EventType::ALL {
        assert_eq!(EventType::from_name(t.as_str()), Some(t));
    }
    assert_eq!(EventType::from_name("meeting"), None);
}
