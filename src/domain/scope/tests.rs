use super::*;

fn account(id: &str) -> AccountId {
    AccountId::parse(id).unwrap()
}

#[test]
fn a_scope_covers_the_accounts_of_any_of_its_prefixes() {
    let scope = AccountScope::of_prefixes(vec!["north-".into(), "key:".into()]);
    assert!(scope.covers(&account("north-17")));
    assert!(scope.covers(&account("key:acme")));
    assert!(!scope.covers(&account("south-3")));
    assert!(!scope.covers(&account("nort")));
    assert_eq!(
        scope.to_string(),
        r#"accounts starting with "north-" or "key:""#
    );
}

#[test]
fn no_prefixes_means_every_account() {
    let scope = AccountScope::of_prefixes(Vec::new());
    assert!(scope.is_all());
    assert!(scope.covers(&account("anything")));
}
