use super::*;

#[test]
fn a_created_key_is_private_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load(dir.path()), Err(KeyError::Missing { .. })));
    let key = load_or_create(dir.path()).unwrap();
    assert_eq!(load(dir.path()).unwrap().to_bytes(), key.to_bytes());
    assert_eq!(
        load_or_create(dir.path()).unwrap().to_bytes(),
        key.to_bytes()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(SIGNING_KEY_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(dir.path()), Err(KeyError::Exposed { .. })));
    }
}

#[test]
fn a_malformed_key_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SIGNING_KEY_FILE);
    load_or_create(dir.path()).unwrap();
    fs::write(&path, "not a key\n").unwrap();
    let error = load_or_create(dir.path()).unwrap_err();
    assert!(error.to_string().contains("malformed"), "{error}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "not a key\n");
}

#[test]
fn public_keys_parse_from_hex() {
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert_eq!(parse_public_key(&public_key_hex(&key)), Ok(key));
    assert!(parse_public_key("abcd").is_err());
}
