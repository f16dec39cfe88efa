use super::*;

fn round_trip(value: &PersonalText) -> String {
    let json = serde_json::to_string(value).unwrap();
    assert_eq!(
        &serde_json::from_str::<PersonalText>(&json).unwrap(),
        value,
        "{json}"
    );
    json
}

#[test]
fn the_stored_forms_are_pinned() {
    assert_eq!(round_trip(&"Zhang Wei".into()), r#""Zhang Wei""#);
    assert_eq!(round_trip(&PersonalText::default()), r#""""#);
    let sealed = PersonalText::Sealed(SealedText {
        nonce: [0xab; NONCE_LEN],
        ciphertext: vec![1, 2, 255],
    });
    assert_eq!(
        round_trip(&sealed),
        format!(
            r#"{{"sealed":{{"nonce":"{}","ciphertext":"0102ff"}}}}"#,
            "ab".repeat(24)
        )
    );
    assert_eq!(round_trip(&PersonalText::Erased), r#"{"erased":true}"#);
}

#[test]
fn a_malformed_sealed_value_is_refused() {
    for bad in [
        r#"{"sealed":{"nonce":"ab","ciphertext":"00"}}"#,
        r#"{"sealed":{"nonce":"zz","ciphertext":"00"}}"#,
        r#"{"sealed":{"nonce":"ab"}}"#,
        r#"17"#,
    ] {
        assert!(serde_json::from_str::<PersonalText>(bad).is_err(), "{bad}");
    }
}

#[test]
fn debug_never_shows_the_text() {
    let shown = format!("{:?}", PersonalText::from("Zhang Wei"));
    assert!(!shown.contains("Zhang"), "{shown}");
}

#[test]
fn a_binary_format_reads_back_each_form() {
    let sealed = PersonalText::Sealed(SealedText {
        nonce: [0xab; NONCE_LEN],
        ciphertext: vec![1, 2, 255],
    });
    for value in [
        PersonalText::default(),
        "Zhang Wei".into(),
        sealed,
        PersonalText::Erased,
    ] {
        let bytes = postcard::to_allocvec(&value).unwrap();
        assert_eq!(postcard::from_bytes::<PersonalText>(&bytes).unwrap(), value);
    }
}
