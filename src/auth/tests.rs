use std::path::Path;
use std::time::Duration;

use super::limits::{Class, LimitsEntry};
use super::principals::FileEntries;
use super::*;

fn entries_with(name: &str, roles: &[Role], prefixes: &[&str]) -> (FileEntries, Token) {
    let mut file = FileEntries::default();
    let token = Token::generate().unwrap();
    let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    file.add_token(name, roles, &prefixes, token.hash())
        .unwrap();
    (file, token)
}

fn invalid(text: &str) -> String {
    AuthFile::parse(Path::new("auth.json"), text)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_token_names_its_principal_and_only_its_hash_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    let (file, token) = entries_with("sales-north", &[Role::Writer], &["north-"]);
    file.write(&path).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(token.expose()),
        "the file holds the token in clear"
    );
    assert!(text.contains(&token.hash().to_hex()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let auth = Authenticator::open(&path).unwrap();
    let principal = auth
        .authenticate(&Credential::Token(TokenHash::of(token.expose())))
        .unwrap();
    assert_eq!(principal.name, "sales-north");
    assert!(principal.roles.holds(Role::Writer));
    assert!(!principal.roles.holds(Role::Reader));
    assert_eq!(
        principal.scope,
        AccountScope::of_prefixes(vec!["north-".into()])
    );
    let unknown = Token::generate().unwrap();
    assert_eq!(
        auth.authenticate(&Credential::Token(unknown.hash())),
        Err(AccessError::UnknownCredential)
    );
    assert!(!format!("{token:?}").contains(token.expose()));
}

#[test]
fn a_reload_revokes_removed_tokens_and_an_invalid_file_keeps_the_principals_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    let (mut file, token) = entries_with("ops", &[Role::Admin], &[]);
    file.write(&path).unwrap();
    let auth = Authenticator::open(&path).unwrap();
    let credential = Credential::Token(token.hash());
    let reloads = auth.reloads();
    assert!(auth.authenticate(&credential).is_ok());

    std::fs::write(&path, "{ not json").unwrap();
    let refused = auth.reload().unwrap_err().to_string();
    assert!(refused.contains("not valid"), "{refused}");
    assert!(
        auth.authenticate(&credential).is_ok(),
        "a bad file revoked a token"
    );
    assert!(!reloads.has_changed().unwrap());

    assert!(file.revoke_token(token.hash()));
    file.write(&path).unwrap();
    auth.reload().unwrap();
    assert!(reloads.has_changed().unwrap());
    assert_eq!(
        auth.authenticate(&credential),
        Err(AccessError::UnknownCredential)
    );
}

#[test]
fn a_certificate_subject_names_its_principal() {
    let text = r#"{"principals":[{"name":"analytics","roles":["subscriber"],
        "certificate_subjects":["CN=analytics,O=Acme"]}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    std::fs::write(&path, text).unwrap();
    let auth = Authenticator::open(&path).unwrap();
    let found = auth
        .authenticate(&Credential::Subject("CN=analytics,O=Acme".into()))
        .unwrap();
    assert_eq!(found.name, "analytics");
    assert!(auth
        .authenticate(&Credential::Subject("CN=analytics".into()))
        .is_err());
}

#[test]
fn the_file_is_refused_with_the_rule_it_breaks() {
    let hash = "ab".repeat(32);
    assert!(
        invalid(r#"{"principals":[{"name":"a","roles":["writer"],"acount_prefixes":[]}]}"#)
            .contains("unknown field")
    );
    assert!(
        invalid(r#"{"principals":[{"name":"a","roles":["owner"]}]}"#).contains("unknown variant")
    );
    assert!(invalid(r#"{"principals":[{"name":"a","roles":[]}]}"#).contains("has no role"));
    assert!(invalid(
        r#"{"principals":[{"name":"a","roles":["reader"]},{"name":"a","roles":["writer"]}]}"#
    )
    .contains("listed twice"));
    assert!(
        invalid(r#"{"principals":[{"name":"a","roles":["reader"],"token_sha256":["xyz"]}]}"#)
            .contains("64 hex digits")
    );
    let shared = format!(
        r#"{{"principals":[{{"name":"a","roles":["reader"],"token_sha256":["{hash}"]}},{{"name":"b","roles":["reader"],"token_sha256":["{hash}"]}}]}}"#
    );
    assert!(invalid(&shared).contains("listed twice"));
    assert!(invalid(
        r#"{"principals":[{"name":"a","roles":["reader"],"account_prefixes":["north west"]}]}"#
    )
    .contains("no account id has"));
    assert!(invalid(
        r#"{"principals":[{"name":"a","roles":["reader"],"limits":{"appends_per_second":0}}]}"#
    )
    .contains("at least 1"));
    assert!(invalid(r#"{"principals":[{"name":"","roles":["reader"]}]}"#).contains("1 to 128"));
}

#[test]
fn token_create_adds_tokens_to_a_principal_but_never_changes_its_roles() {
    let (mut file, _) = entries_with("etl", &[Role::Writer], &[]);
    let second = Token::generate().unwrap();
    file.add_token("etl", &[], &[], second.hash()).unwrap();
    assert_eq!(file.principals[0].token_sha256.len(), 2);
    let refused = file
        .add_token(
            "etl",
            &[Role::Admin],
            &[],
            Token::generate().unwrap().hash(),
        )
        .unwrap_err();
    assert!(refused.contains("other roles"), "{refused}");
    assert!(file
        .add_token("new", &[], &[], Token::generate().unwrap().hash())
        .unwrap_err()
        .contains("at least one --role"));
    assert!(file.remove_principal("etl"));
    assert!(file.principals.is_empty());
}

#[test]
fn admin_grants_everything_and_other_roles_only_their_own() {
    let admin = Roles::of(&[Role::Admin]);
    let reader = Roles::of(&[Role::Reader]);
    assert!(admin.grants(&[Role::Writer]));
    assert!(reader.grants(&[Role::Reader, Role::Writer]));
    assert!(!reader.grants(&[Role::Writer]));
    assert!(!reader.grants(&[Role::Admin]));
}

#[tokio::test(start_paused = true)]
async fn a_bucket_refuses_past_its_burst_says_when_to_retry_and_refills() {
    let limiter = Limiter::default();
    let limits = LimitsEntry {
        appends_per_second: Some(10),
        append_burst: Some(2),
        ..LimitsEntry::default()
    }
    .resolve()
    .unwrap();
    assert!(limiter.admit("etl", &limits, Class::Append).is_ok());
    assert!(limiter.admit("etl", &limits, Class::Append).is_ok());
    let limited = limiter.admit("etl", &limits, Class::Append).unwrap_err();
    assert_eq!(limited.limit, "appends_per_second = 10");
    assert_eq!(limited.retry_after, Duration::from_millis(100));
    // Reads are counted apart, and another principal has buckets of its own.
    assert!(limiter.admit("etl", &limits, Class::Read).is_ok());
    assert!(limiter.admit("other", &limits, Class::Append).is_ok());
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(limiter.admit("etl", &limits, Class::Append).is_ok());
    assert!(limiter.admit("etl", &limits, Class::Append).is_err());
}

#[test]
fn open_streams_are_capped_and_a_closed_one_frees_its_place() {
    let limiter = Limiter::default();
    let limits = LimitsEntry {
        max_streams: Some(1),
        ..LimitsEntry::default()
    }
    .resolve()
    .unwrap();
    let open = limiter.admit("feed", &limits, Class::Stream).unwrap();
    assert!(open.is_some());
    let limited = limiter.admit("feed", &limits, Class::Stream).unwrap_err();
    assert_eq!(limited.limit, "max_streams = 1");
    drop(open);
    assert!(limiter.admit("feed", &limits, Class::Stream).is_ok());
}

#[test]
fn an_open_caller_may_touch_every_account_and_a_scoped_one_only_its_own() {
    assert!(Caller::open().may_touch("south-1").is_ok());
    assert_eq!(Caller::open().name(), None);
    let principal = Arc::new(Principal {
        name: "north".into(),
        roles: Roles::of(&[Role::Reader]),
        scope: AccountScope::of_prefixes(vec!["north-".into()]),
        token_hashes: Vec::new(),
        subjects: Vec::new(),
        limits: Limits::default(),
    });
    let caller = Caller::principal(principal);
    assert!(caller.may_touch("north-1").is_ok());
    let refused = caller.may_touch("south-1").unwrap_err().to_string();
    assert!(refused.contains(r#"starting with "north-""#), "{refused}");
    assert_eq!(caller.name(), Some("north"));
}

mod hostile {
    //! The auth file is read at start and on every SIGHUP: whatever it holds, parsing answers
    //! an error or principals that keep the file's rules, and never panics.

    use proptest::prelude::*;

    use super::*;

    /// A valid file to damage.
    fn valid() -> String {
        let hash = "ab".repeat(32);
        format!(
            r#"{{"principals":[{{"name":"north","roles":["writer","reader"],"account_prefixes":["north-"],"token_sha256":["{hash}"],"certificate_subjects":["CN=north,O=Acme"],"limits":{{"appends_per_second":10,"max_streams":2}}}}]}}"#
        )
    }

    fn parse(text: &str) -> Result<AuthFile, AuthFileError> {
        AuthFile::parse(Path::new("auth.json"), text)
    }

    fn keeps_the_rules(file: &AuthFile) {
        let mut names = std::collections::HashSet::new();
        for principal in file.principals() {
            assert!(names.insert(principal.name.clone()), "a name twice");
            assert!(!principal.name.is_empty());
            assert!(Role::ALL.iter().any(|role| principal.roles.holds(*role)));
            let limits = principal.limits;
            assert!(limits.appends_per_second >= 1 && limits.max_streams >= 1);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text_is_refused_or_keeps_the_rules(text in ".{0,400}") {
            if let Ok(file) = parse(&text) {
                keeps_the_rules(&file);
            }
        }

        #[test]
        fn a_damaged_valid_file_is_refused_or_keeps_the_rules(
            edits in proptest::collection::vec((0.0f64..1.0, proptest::sample::select(vec![
                "", "\"", "{", "}", "[", "]", ",", ":", "0", "-1", "4294967296", "null",
                "\"admin\"", "\"owner\"", "\\u0000", "é", "\"x\":1,", " ",
            ]), 0usize..4), 1..5),
        ) {
            let mut text = valid();
            for (at, token, cut) in edits {
                let mut at = (at * text.len() as f64) as usize;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let end = (at + cut).min(text.len());
                let end = (end..=text.len()).find(|&e| text.is_char_boundary(e)).unwrap();
                text.replace_range(at..end, token);
            }
            if let Ok(file) = parse(&text) {
                keeps_the_rules(&file);
            }
        }
    }

    #[test]
    fn the_valid_file_parses() {
        let file = parse(&valid()).unwrap();
        assert_eq!(file.principals().len(), 1);
        assert_eq!(file.principals()[0].limits.appends_per_second, 10);
    }
}
