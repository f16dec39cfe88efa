use super::*;

fn token(position: Option<u64>, account: &str) -> PageToken {
    PageToken {
        order: ListOrder::Revenue,
        as_of: Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
        position,
        after: SortKey {
            primary: -42,
            account: AccountId::parse(account).unwrap(),
        },
    }
}

fn same(a: &PageToken, b: &PageToken) -> bool {
    a.order == b.order && a.as_of == b.as_of && a.position == b.position && a.after == b.after
}

#[test]
fn a_token_round_trips_with_its_position_and_a_dotted_account_id() {
    for position in [Some(0), Some(987_654), None] {
        let issued = token(position, "acme.cn:east.1");
        let parsed = PageToken::parse(&issued.format(), ListOrder::Revenue).unwrap();
        assert!(same(&parsed, &issued), "{}", issued.format());
    }
    assert!(token(Some(5), "a").format().starts_with("v3.revenue."));
    // A token issued before lists were pinned continues over the log as it is.
    let v2 = PageToken::parse("v2.revenue.17.-42.acme", ListOrder::Revenue).unwrap();
    assert_eq!(v2.position, None);
    assert_eq!(v2.after.account.as_str(), "acme");
}

#[test]
fn anything_else_is_refused_naming_the_page_token() {
    let issued = token(Some(5), "acme").format();
    for bad in [
        "",
        "v1.revenue.1.2.a",
        "v3.revenue.1.-2.a",
        "v3.revenue.x.5.-42.a",
        "v3.bogus.1.5.-42.a",
        "v3.revenue.1.5",
    ] {
        let refused = PageToken::parse(bad, ListOrder::Revenue).err().unwrap();
        assert_eq!(refused.violations[0].field, "page_token", "{bad}");
    }
    let other_order = PageToken::parse(&issued, ListOrder::Trust).err().unwrap();
    assert!(other_order.to_string().contains("another order"));
}
