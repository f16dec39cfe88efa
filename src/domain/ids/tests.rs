use super::*;

#[test]
fn account_ids_allow_the_documented_characters_only() {
    assert!(AccountId::parse("acme-01.cn:east@key_x").is_ok());
    assert_eq!(AccountId::parse(""), Err(IdError::Empty));
    assert_eq!(AccountId::parse("a b"), Err(IdError::BadCharacter(' ')));
    assert_eq!(AccountId::parse("a\0b"), Err(IdError::BadCharacter('\0')));
    assert!(matches!(
        AccountId::parse("x".repeat(129)),
        Err(IdError::TooLong { .. })
    ));
}

#[test]
fn event_ids_deserialize_from_json_strings_and_refuse_the_rest() {
    let id: EventId = serde_json::from_str("\"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11\"").unwrap();
    assert_eq!(id.to_string(), "0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11");
    let nil = serde_json::from_str::<EventId>("\"00000000-0000-0000-0000-000000000000\"");
    assert!(nil.unwrap_err().to_string().contains("nil UUID"));
    assert!(serde_json::from_str::<EventId>("\"not-a-uuid\"").is_err());
    assert!(serde_json::from_str::<EventId>("42").is_err());
    // Serialized as the canonical string, which the stored record format pins.
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        "\"0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11\""
    );
}

#[test]
fn a_binary_format_keeps_an_event_id_as_its_16_bytes() {
    let id = EventId::parse("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11").unwrap();
    let bytes = postcard::to_allocvec(&id).unwrap();
    assert_eq!(bytes, id.as_bytes());
    assert_eq!(postcard::from_bytes::<EventId>(&bytes).unwrap(), id);
    assert!(
        postcard::from_bytes::<EventId>(&[0; 16]).is_err(),
        "the nil UUID"
    );
}

#[test]
fn event_ids_are_canonicalised_to_lower_case() {
    let id = EventId::parse("0B5C4C2E-8F5A-4F7E-9A57-2F1F3E0C6D11").unwrap();
    assert_eq!(id.to_string(), "0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11");
    assert_eq!(
        EventId::parse("00000000-0000-0000-0000-000000000000"),
        Err(IdError::NilUuid)
    );
    assert!(matches!(
        EventId::parse("not-a-uuid"),
        Err(IdError::NotAUuid(_))
    ));
}
