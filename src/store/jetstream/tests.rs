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
    assert!(JetStreamOptions::parse("tls://127.0.0.1:4222").is_ok());
    assert!(JetStreamOptions::parse("").is_err());
    assert!(JetStreamOptions::parse("http://127.0.0.1:4222").is_err());
}

#[test]
fn a_subject_is_one_token_whatever_the_account_id() {
    let account = AccountId::parse("acme.north:plant@2").unwrap();
    let prefix = JetStreamOptions::parse("nats://127.0.0.1:4222")
        .unwrap()
        .subjects("events");
    assert_eq!(prefix, "relledger.v1.RELLEDGER.events");
    let subject = subject_of(&prefix, &account);
    assert_eq!(
        subject.matches('.').count(),
        prefix.matches('.').count() + 1
    );
    assert!(subject.starts_with(&prefix));
}

#[test]
fn ledgers_on_one_cluster_have_their_own_subjects() {
    let mut one = JetStreamOptions::parse("nats://127.0.0.1:4222").unwrap();
    let mut other = one.clone();
    one.set_stream("SALES_EU").unwrap();
    other.set_stream("SALES_US").unwrap();
    for what in ["events", "subscriptions", "keys"] {
        assert_ne!(one.subjects(what), other.subjects(what));
        // Neither's wildcard takes the other's subjects.
        let wildcard = format!("{}.", one.subjects(what));
        assert!(!other.subjects(what).starts_with(&wildcard));
    }
    // A stream name is one subject token and leaves room for the suffixes of its companions.
    for bad in ["", "a.b", "a b", "a*", "a>", "a/b", &"S".repeat(50)] {
        assert!(one.clone().set_stream(bad).is_err(), "{bad:?} was taken");
    }
}
