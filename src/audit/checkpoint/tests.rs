use super::*;

/// Pins the signed message: auditors' tools depend on these bytes.
#[test]
fn golden_checkpoint_message_and_signature() {
    let hash = ChainHash([0xab; 32]);
    let signed_at = Timestamp::from_unix_nanos(1_700_000_000_000_000_001);
    let message = checkpoint_message(258, &hash, signed_at);
    let expected = format!(
        "{}00{}{}{}",
        hex::encode("relledger checkpoint v1"),
        "0000000000000102",
        "ab".repeat(32),
        "17979cfe362a0001"
    );
    assert_eq!(hex::encode(message), expected);

    let key = SigningKey::from_bytes(&[1; 32]);
    let checkpoint = sign_checkpoint(&key, 258, hash, signed_at);
    assert_eq!(verify_checkpoint_signature(&checkpoint), Ok(()));
    // Ed25519 is deterministic: the same key and message give the same signature.
    assert_eq!(
        sign_checkpoint(&key, 258, hash, signed_at).signature,
        checkpoint.signature
    );
    for tampered in [
        SignedCheckpoint {
            position: 259,
            ..checkpoint
        },
        SignedCheckpoint {
            hash: ChainHash([0xac; 32]),
            ..checkpoint
        },
        SignedCheckpoint {
            signed_at: Timestamp::from_unix_nanos(0),
            ..checkpoint
        },
        SignedCheckpoint {
            public_key: SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes(),
            ..checkpoint
        },
    ] {
        assert!(verify_checkpoint_signature(&tampered).is_err());
    }
}
