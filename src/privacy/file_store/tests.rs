use super::*;
use crate::domain::AccountId;

fn contact(id: &str) -> ContactRef {
    ContactRef::new(&AccountId::parse("harbour").unwrap(), id)
}

#[test]
fn keys_survive_a_reopen_and_a_destroyed_key_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let store = FileKeyStore::open(&keys).unwrap();
    let zhang = store.get_or_create(&contact("c-zhang")).unwrap();
    let li = store.get_or_create(&contact("c-li")).unwrap();
    assert_eq!(
        store.get_or_create(&contact("c-zhang")).unwrap().bytes(),
        zhang.bytes(),
        "a second call returns the same key"
    );
    drop(store);

    let store = FileKeyStore::open(&keys).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(
        store.get(&contact("c-zhang")).unwrap().bytes(),
        zhang.bytes()
    );
    assert!(store.destroy(&contact("c-zhang")).unwrap());
    assert!(store.get(&contact("c-zhang")).is_none());
    assert!(
        !store.destroy(&contact("c-zhang")).unwrap(),
        "nothing left to destroy"
    );
    drop(store);

    let store = FileKeyStore::open(&keys).unwrap();
    assert!(store.get(&contact("c-zhang")).is_none());
    assert_eq!(store.get(&contact("c-li")).unwrap().bytes(), li.bytes());
    assert_eq!(
        fs::read_dir(&keys).unwrap().count(),
        1,
        "one file per live key"
    );
    let zhang_file = keys.join(hex::encode(contact("c-zhang").key_name()));
    assert!(!zhang_file.exists());
    for entry in fs::read_dir(&keys).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(32).any(|w| w == zhang.bytes()));
    }
}

#[test]
fn a_leftover_temporary_key_is_removed_and_a_malformed_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    drop(FileKeyStore::open(&keys).unwrap());
    let leftover = keys.join(format!("{}.tmp", "ab".repeat(32)));
    fs::write(&leftover, [1u8; 33]).unwrap();
    let store = FileKeyStore::open(&keys).unwrap();
    assert!(store.is_empty());
    assert!(!leftover.exists());
    drop(store);

    let malformed = keys.join("cd".repeat(32));
    write_private(&malformed, &[1u8; 5]);
    assert!(matches!(
        FileKeyStore::open(&keys),
        Err(PrivacyError::Corrupt(reason)) if reason.contains("malformed")
    ));
}

fn write_private(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let store = FileKeyStore::open(&keys).unwrap();
    store.get_or_create(&contact("c-zhang")).unwrap();
    drop(store);
    let file = keys.join(hex::encode(contact("c-zhang").key_name()));
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        FileKeyStore::open(&keys),
        Err(PrivacyError::Corrupt(reason)) if reason.contains("chmod 600")
    ));
}
