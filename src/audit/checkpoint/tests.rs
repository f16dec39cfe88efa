use super::*;

/// Pins the signed message: auditors' tools depend on these bytes.
#[test]
fn golden_checkpoint_message_and_signature() {
    let hash = ChainHash([0xab; 32]);
    let signed_at = Timestamp::from_unix_nanos(1_700_000_000_000_000_001);
    let message = checkpoint_message(258, &hash, signed_at, None);
    let expected = format!(
        "{}00{}{}{}",
        hex::encode("relledger checkpoint v1"),
        "0000000000000102",
        "ab".repeat(32),
        "17979cfe362a0001"
    );
    assert_eq!(hex::encode(message), expected);

    let key = SigningKey::from_bytes(&[1; 32]);
    let checkpoint = sign_checkpoint(&key, 258, hash, signed_at, None);
    assert_eq!(verify_checkpoint_signature(&checkpoint), Ok(()));
    // Ed25519 is deterministic: the same key and message give the same signature.
    assert_eq!(
        sign_checkpoint(&key, 258, hash, signed_at, None).signature,
        checkpoint.signature
    );
    for tampered in [
        SignedCheckpoint {
            position: 259,
            ..checkpoint.clone()
        },
        SignedCheckpoint {
            hash: ChainHash([0xac; 32]),
            ..checkpoint.clone()
        },
        SignedCheckpoint {
            signed_at: Timestamp::from_unix_nanos(0),
            ..checkpoint.clone()
        },
        SignedCheckpoint {
            public_key: SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes(),
            ..checkpoint.clone()
        },
    ] {
        assert!(verify_checkpoint_signature(&tampered).is_err());
    }
}

/// Pins version 2: the principal that asked for the checkpoint is signed with it.
#[test]
fn golden_message_of_a_checkpoint_a_principal_asked_for() {
    let hash = ChainHash([0xab; 32]);
    let signed_at = Timestamp::from_unix_nanos(1_700_000_000_000_000_001);
    let message = checkpoint_message(258, &hash, signed_at, Some("dpo"));
    let expected = format!(
        "{}00{}{}{}{}{}",
        hex::encode("relledger checkpoint v2"),
        "0000000000000102",
        "ab".repeat(32),
        "17979cfe362a0001",
        "00000003",
        hex::encode("dpo")
    );
    assert_eq!(hex::encode(message), expected);

    let key = SigningKey::from_bytes(&[1; 32]);
    let checkpoint = sign_checkpoint(&key, 258, hash, signed_at, Some("dpo".into()));
    assert_eq!(verify_checkpoint_signature(&checkpoint), Ok(()));
    for tampered in [
        SignedCheckpoint {
            requested_by: Some("dp".into()),
            ..checkpoint.clone()
        },
        SignedCheckpoint {
            requested_by: None,
            ..checkpoint.clone()
        },
    ] {
        assert!(verify_checkpoint_signature(&tampered).is_err());
    }
}
