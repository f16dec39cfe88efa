use super::*;

#[test]
fn versions_before_2_10_are_refused() {
    assert!(check_version("2.9.25").is_err());
    assert!(check_version("v2.9.10").is_err());
    assert!(check_version("nonsense").is_err());
    assert!(check_version("2.10.0").is_ok());
    assert!(check_version("2.15.1").is_ok());
    assert!(check_version("3.0.0-beta.1").is_ok());
}

#[test]
fn store_options_name_nats_servers() {
    let options = JetStreamOptions::parse("nats://127.0.0.1:4222, nats://127.0.0.1:4223").unwrap();
    assert_eq!(
        options.urls,
        ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
    );
    assert_eq!(options.stream, DEFAULT_STREAM);
    assert!(JetStreamOptions::parse("").is_err());
    assert!(JetStreamOptions::parse("http://127.0.0.1:4222").is_err());
}

#[test]
fn a_subject_is_one_token_whatever_the_account_id() {
    let account = AccountId::parse("acme.north:plant@2").unwrap();
    let subject = subject_of(&account);
    assert_eq!(
        subject.matches('.').count(),
        SUBJECT_PREFIX.matches('.').count() + 1
    );
    assert!(subject.starts_with(SUBJECT_PREFIX));
}
