use super::*;

fn context<'a>(account: &'a AccountId, field: &'a str) -> FieldContext<'a> {
    FieldContext {
        account,
        contact_id: "c-zhang",
        event_id: EventId::parse("0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11").unwrap(),
        field,
    }
}

#[test]
fn a_sealed_value_opens_only_with_its_key_and_in_its_place() {
    let account = AccountId::parse("harbour").unwrap();
    let key = DataKey::generate().unwrap();
    let here = context(&account, "contact_added.name");
    let sealed = seal(&key, &here, "Zhang Wei");
    assert!(!sealed
        .ciphertext
        .windows(5)
        .any(|w| w == b"Zhang" || w == b"Wei"));
    assert_eq!(open(&key, &here, &sealed).as_deref(), Some("Zhang Wei"));
    let other_key = DataKey::generate().unwrap();
    assert_eq!(open(&other_key, &here, &sealed), None);
    let elsewhere = context(&account, "contact_added.notes");
    assert_eq!(open(&key, &elsewhere, &sealed), None);
}

#[test]
fn sealing_is_deterministic_per_place_and_text_only() {
    let account = AccountId::parse("harbour").unwrap();
    let key = DataKey::generate().unwrap();
    let name = context(&account, "contact_added.name");
    assert_eq!(
        seal(&key, &name, "Zhang Wei"),
        seal(&key, &name, "Zhang Wei")
    );
    assert_ne!(
        seal(&key, &name, "Zhang Wei"),
        seal(&key, &name, "Zhang Wen")
    );
    let notes = context(&account, "contact_added.notes");
    assert_ne!(
        seal(&key, &name, "Zhang Wei").nonce,
        seal(&key, &notes, "Zhang Wei").nonce
    );
    let other_key = DataKey::generate().unwrap();
    assert_ne!(
        seal(&key, &name, "Zhang Wei"),
        seal(&other_key, &name, "Zhang Wei")
    );
}
