//! The Relationships gRPC API end to end: a real server on 127.0.0.1:0, events appended through
//! the Ledger client, and the article's stories asked back through a real Relationships client.
//!
//! Each story is told as given-events-then-expected-projection. Events are dated in whole days
//! around `at(0)` (`on_day`), in the past, and every question about them names its `as_of_time`,
//! so the answers do not depend on the day the tests run.

use crate::common;

use common::events::*;
use common::stories::{concrete_producer, typhoon_service_history};
use common::{read_all, TestServer};
use futures::TryStreamExt;
use pbjson_types::Timestamp;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::{
    self, explain_change_request, get_relationship_request::AsOf, AccountSegment, Alert,
    ContactRole, ExplainChangeRequest, FavorKind, GetPortfolioRequest, GetRelationshipRequest,
    GiftRegisterEntry, GiftRegisterRequest, Level, ListOrder, ListRelationshipsRequest, Quadrant,
    ReadAllRequest, Relationship,
};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

type Client = RelationshipsClient<Channel>;

/// A server on a fresh data dir, and a Relationships client connected to it.
async fn start() -> (tempfile::TempDir, TestServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = RelationshipsClient::new(server.channel().await);
    (dir, server, client)
}

/// Asks for one account's relationship.
async fn get(
    client: &mut Client,
    account: &str,
    as_of: Option<AsOf>,
    known_at_time: Option<Timestamp>,
) -> Result<Relationship, Status> {
    let response = client
        .get_relationship(GetRelationshipRequest {
            account_id: account.to_string(),
            as_of,
            known_at_time,
            max_contributions: None,
        })
        .await?;
    Ok(response.into_inner().relationship.expect("a relationship"))
}

/// The relationship as of `on_day(day)`, with everything the ledger knows.
async fn get_on_day(client: &mut Client, account: &str, day: i64) -> Relationship {
    get(client, account, Some(AsOf::AsOfTime(on_day(day))), None)
        .await
        .unwrap()
}

/// When the record at `position` was recorded.
async fn recorded_at(server: &mut TestServer, position: u64) -> Timestamp {
    let request = ReadAllRequest {
        from_position: Some(position),
        max_count: 1,
        ..Default::default()
    };
    let records = read_all(&mut server.client, request).await.unwrap();
    records[0].recorded_at.expect("a recorded_at")
}

fn codes(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.code.as_str()).collect()
}

fn alert<'a>(alerts: &'a [Alert], code: &str) -> &'a Alert {
    alerts
        .iter()
        .find(|a| a.code == code)
        .unwrap_or_else(|| panic!("{code} missing from {:?}", codes(alerts)))
}

/// Asserts `status` is INVALID_ARGUMENT naming `field`, in its message and its BadRequest.
fn assert_refused(status: Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(field), "{}", status.message());
    let details = status.get_error_details();
    let fields: Vec<&str> = details
        .bad_request()
        .expect("BadRequest details")
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, [field]);
}

/// The id of an event about to be appended.
fn id_of(event: &proto::ProposedEvent) -> String {
    event.event_id.clone()
}

/// docs/domain.md §7: producer A gets 70% of its volume from contractor B, whose boss is the
/// chairman's classmate. The bond is iron; the business is not healthy.
#[tokio::test]
async fn the_concrete_producer_is_an_iron_but_unhealthy_partner() {
    let (_dir, mut server, mut client) = start().await;

    // Given contractor B: one close bond, a year of orders at 12% margin, then the squeeze.
    let story = concrete_producer();
    let (recent, demands, late_id) = (story.recent_orders, story.demands, story.late_invoice);
    server.append("contractor-b", story.events).await.unwrap();
    // And two plain customers: B's 84m against their 24m and 12m is 70%.
    for (account, revenue) in [("plant-c", 2_000_000), ("plant-d", 1_000_000)] {
        let mut events = vec![event_on(
            -400,
            account_opened_by(account, "li.wei", AccountSegment::Standard),
        )];
        for d in (-330..=0).step_by(30) {
            events.push(event_on(
                d,
                order_won(&format!("o{d}"), revenue, revenue / 10),
            ));
        }
        server.append(account, events).await.unwrap();
    }

    // Then B is a Partner...
    let rb = get_on_day(&mut client, "contractor-b", 0).await;
    assert_eq!(rb.as_of, Some(on_day(0)));
    assert_eq!(rb.quadrant, Quadrant::Partner as i32);
    assert_eq!(rb.bond_contact_ids, ["boss"]);
    // ...with every warning of the article, each naming its events.
    let alerts = &rb.alerts;
    assert_eq!(alert(alerts, "PRICE_PRESSURE_REPEATED").event_ids, demands);
    assert_eq!(alert(alerts, "MARGIN_EROSION").event_ids, recent);
    assert_eq!(alert(alerts, "RECEIVABLES_OVERDUE").event_ids, [late_id]);
    assert!(alert(alerts, "SINGLE_THREADED").message.contains("boss"));
    assert!(alerts.iter().all(|a| a.account_id == "contractor-b"));
    assert!(!codes(alerts).contains(&"CONCENTRATION_CRITICAL"));
    let money = rb.commercial.as_ref().unwrap();
    assert_eq!(money.revenue_minor_units, 84_000_000);
    assert_eq!(money.receivables_outstanding_minor_units, 23_000_000);
    assert_eq!(money.receivables_overdue_minor_units, 16_000_000);
    assert_eq!(money.concession_demands, 4);
    assert_eq!(money.average_discount_basis_points, Some(500.0));

    // And the portfolio says B is critical.
    let folio = client
        .get_portfolio(GetPortfolioRequest {
            as_of_time: Some(on_day(0)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(folio.as_of, Some(on_day(0)));
    assert_eq!(folio.total_revenue_minor_units, 120_000_000);
    let shares: Vec<(&str, bool, bool, bool)> = folio
        .accounts
        .iter()
        .map(|a| (a.account_id.as_str(), a.major, a.high, a.critical))
        .collect();
    assert_eq!(
        shares,
        [
            ("contractor-b", true, true, true),
            ("plant-c", true, false, false),
            ("plant-d", true, false, false),
        ]
    );
    assert!((folio.accounts[0].share - 0.7).abs() < 1e-12);
    assert!((folio.hhi - 5_400.0).abs() < 1e-6, "{}", folio.hhi);
    assert_eq!(codes(&folio.alerts), ["CONCENTRATION_CRITICAL"]);
    assert_eq!(folio.alerts[0].account_id, "contractor-b");
    assert_eq!(folio.alerts[0].event_ids.len(), 12, "the year's orders");
    server.stop().await;
}

/// docs/domain.md §5: the typhoon. Help far beyond the contract lifts a service
/// relationship to interdependence, and the explanation names it first.
#[tokio::test]
async fn the_typhoon_lifts_a_service_account_to_interdependence() {
    let (_dir, mut server, mut client) = start().await;

    // Given a service relationship: a bond, a kept rhythm, repeat orders, one solution.
    let events = typhoon_service_history();
    let before_p = server
        .append("cement-buyer", events)
        .await
        .unwrap()
        .last_position;
    let known_before = recorded_at(&mut server, before_p).await;
    // The warning, the trip, the goods moved: 600,000 saved.
    let typhoon = event_on(-5, critical_assistance(&["owner"]));
    let typhoon_id = id_of(&typhoon);
    let typhoon_p = server
        .append("cement-buyer", vec![typhoon])
        .await
        .unwrap()
        .last_position;

    // Before: what the ledger knew before the typhoon was recorded, and what was true the
    // day before it happened.
    let as_of_end = Some(AsOf::AsOfTime(on_day(0)));
    let before = get(&mut client, "cement-buyer", as_of_end, Some(known_before))
        .await
        .unwrap();
    assert_eq!(before.known_at_time, Some(known_before));
    assert_eq!(before.quadrant, Quadrant::Partner as i32);
    assert_eq!(before.level, Level::Service as i32);
    let day_before = get_on_day(&mut client, "cement-buyer", -6).await;
    assert_eq!(day_before.level, Level::Service as i32);

    // After: interdependence, and the critical assistance is why.
    let after = get(&mut client, "cement-buyer", as_of_end, None)
        .await
        .unwrap();
    assert_eq!(after.level, Level::Interdependence as i32);
    let help = after
        .level_rules
        .iter()
        .find(|r| r.rule == proto::Rule::StructuralHelp as i32)
        .unwrap();
    assert!(help.met && help.event_ids.contains(&typhoon_id));
    let org = after.organizational_trust.as_ref().unwrap();
    let biggest = &org.contributions[0];
    assert_eq!(biggest.event_id, typhoon_id);
    assert_eq!(biggest.event_type, "critical_assistance");
    assert!(biggest.delta > 0.0);
    assert!(biggest
        .parts
        .iter()
        .all(|p| p.factor == "CriticalAssistancePositive"));
    let expected = |r: &Relationship| {
        let trust = r.organizational_trust.as_ref().unwrap().trust.as_ref();
        trust.unwrap().expected
    };
    assert!(expected(&after) > expected(&before));

    // What changed? The critical assistance arrived, the biggest arrival, by time and by
    // log position alike.
    let explain = |from, to| ExplainChangeRequest {
        account_id: "cement-buyer".into(),
        from: Some(from),
        to: Some(to),
    };
    let by_time = client
        .explain_change(explain(
            explain_change_request::From::FromTime(on_day(-10)),
            explain_change_request::To::ToTime(on_day(0)),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (by_time.from_as_of, by_time.to_as_of),
        (Some(on_day(-10)), Some(on_day(0)))
    );
    let org = by_time.organizational.as_ref().unwrap();
    assert_eq!(org.added[0].event_id, typhoon_id);
    assert!(org.arrivals_delta > 0.0);
    assert!((org.decay_delta + org.arrivals_delta - org.delta).abs() < 1e-12);
    let by_position = client
        .explain_change(explain(
            explain_change_request::From::FromPosition(before_p),
            explain_change_request::To::ToPosition(typhoon_p),
        ))
        .await
        .unwrap()
        .into_inner();
    let org = by_position.organizational.as_ref().unwrap();
    assert_eq!(org.added[0].event_id, typhoon_id);
    let owner = by_position
        .personal
        .iter()
        .find(|c| c.contact_id == "owner")
        .unwrap();
    assert_eq!(owner.change.as_ref().unwrap().added[0].event_id, typhoon_id);
    server.stop().await;
}

/// docs/scoring.md §1.2 and §1.3 (determinism, and time travel): the answer as of position p is
/// the one given when the log ended at p, judged at the moment p was recorded; `known_at_time`
/// hides what the ledger learned later.
#[tokio::test]
async fn as_of_a_position_is_what_the_ledger_said_then() {
    let (_dir, mut server, mut client) = start().await;
    let mut first = opening("Harbour");
    first.push(event(10, visit(&["c1"])));
    first.push(event(20, promise_made("p1", "c1")));
    let p = server.append("harbour", first).await.unwrap().last_position;
    let recorded = recorded_at(&mut server, p).await;
    // The answer given right after the append that ended the log at p.
    let then = get(&mut client, "harbour", Some(AsOf::AsOfTime(recorded)), None)
        .await
        .unwrap();
    assert_eq!(then.events_counted, 4);
    assert_eq!(then.last_revision, Some(3));

    // Later the ledger learns of a call that happened before p was recorded, and of another
    // account.
    server
        .append("harbour", vec![event(30, call("c1"))])
        .await
        .unwrap();
    server.append("other", opening("Other")).await.unwrap();

    // As of position p: exactly what was said then.
    let at_p = get(&mut client, "harbour", Some(AsOf::AsOfPosition(p)), None)
        .await
        .unwrap();
    assert_eq!(at_p, then);
    assert_eq!(at_p.as_of, Some(recorded));
    // The same business time with everything known now counts the late call...
    let now_known = get(&mut client, "harbour", Some(AsOf::AsOfTime(recorded)), None)
        .await
        .unwrap();
    assert_eq!(now_known.events_counted, 5);
    assert_ne!(now_known.personal_trust, then.personal_trust);
    // ...and known_at_time hides it again: what we knew then about the relationship then.
    let known_then = get(
        &mut client,
        "harbour",
        Some(AsOf::AsOfTime(recorded)),
        Some(recorded),
    )
    .await
    .unwrap();
    assert_eq!(known_then.known_at_time, Some(recorded));
    assert_eq!(
        Relationship {
            known_at_time: None,
            ..known_then
        },
        then
    );
    // Without an as_of, known_at_time is also the instant judged at.
    let known_only = get(&mut client, "harbour", None, Some(recorded))
        .await
        .unwrap();
    assert_eq!(known_only.as_of, Some(recorded));
    assert_eq!(known_only.events_counted, 4);
    // Before the first append the ledger knew nothing of the account.
    let before_anything = Timestamp {
        seconds: recorded.seconds - 3_600,
        nanos: 0,
    };
    let unknown = get(&mut client, "harbour", None, Some(before_anything)).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn unknown_accounts_are_not_found_and_bad_questions_name_their_field() {
    let (_dir, mut server, mut client) = start().await;
    server.append("harbour", opening("Harbour")).await.unwrap();

    let unknown = get(&mut client, "nobody", None, None).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert!(unknown.message().contains("nobody"));
    let explain = |account: &str, from, to| ExplainChangeRequest {
        account_id: account.into(),
        from,
        to,
    };
    let from = Some(explain_change_request::From::FromTime(on_day(-1)));
    let to = Some(explain_change_request::To::ToTime(on_day(0)));
    let status = client
        .explain_change(explain("nobody", from, to))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    assert_refused(
        get(&mut client, "not an id!", None, None)
            .await
            .unwrap_err(),
        "account_id",
    );
    let beyond = Some(AsOf::AsOfPosition(1_000));
    assert_refused(
        get(&mut client, "harbour", beyond, None).await.unwrap_err(),
        "as_of_position",
    );
    let bad_time = Timestamp {
        seconds: 0,
        nanos: -1,
    };
    assert_refused(
        get(&mut client, "harbour", None, Some(bad_time))
            .await
            .unwrap_err(),
        "known_at_time",
    );
    assert_refused(
        client
            .explain_change(explain("harbour", None, to))
            .await
            .unwrap_err(),
        "from",
    );
    assert_refused(
        client
            .explain_change(explain("harbour", from, None))
            .await
            .unwrap_err(),
        "to",
    );

    let list = |request: ListRelationshipsRequest| {
        let mut client = client.clone();
        async move { client.list_relationships(request).await.unwrap_err() }
    };
    let refusals = [
        (
            ListRelationshipsRequest {
                quadrants: vec![9],
                ..Default::default()
            },
            "quadrants[0]",
        ),
        (
            ListRelationshipsRequest {
                levels: vec![Level::Price as i32, Level::Unspecified as i32],
                ..Default::default()
            },
            "levels[1]",
        ),
        (
            ListRelationshipsRequest {
                grades: vec![42],
                ..Default::default()
            },
            "grades[0]",
        ),
        (
            ListRelationshipsRequest {
                alert_codes: vec!["PROMISE_OVERDUE".into(), "TOO_MANY_DINNERS".into()],
                ..Default::default()
            },
            "alert_codes[1]",
        ),
        (
            ListRelationshipsRequest {
                order_by: 7,
                ..Default::default()
            },
            "order_by",
        ),
        (
            ListRelationshipsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            ListRelationshipsRequest {
                page_size: 501,
                ..Default::default()
            },
            "page_size",
        ),
        (
            ListRelationshipsRequest {
                page_token: "page-two-please".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (request, field) in refusals {
        assert_refused(list(request).await, field);
    }

    let gifts = |request: GiftRegisterRequest| {
        let mut client = client.clone();
        async move { client.gift_register(request).await.unwrap_err() }
    };
    let inverted = GiftRegisterRequest {
        from_time: Some(on_day(0)),
        to_time: Some(on_day(-1)),
        ..Default::default()
    };
    assert_refused(gifts(inverted).await, "to_time");
    let bad_account = GiftRegisterRequest {
        account_id: "no spaces please".into(),
        ..Default::default()
    };
    assert_refused(gifts(bad_account).await, "account_id");
    server.stop().await;
}

/// The minute (for `event`) `minutes_ago` minutes before the real clock: business that is
/// recent whenever the tests run, for questions the API judges at "now".
fn minutes_ago(minutes_ago: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now - at(0).seconds) / 60 - minutes_ago
}

/// Asks for one page of relationships.
async fn list(
    client: &mut Client,
    request: ListRelationshipsRequest,
) -> proto::ListRelationshipsResponse {
    client
        .list_relationships(request)
        .await
        .unwrap()
        .into_inner()
}

fn ids(page: &proto::ListRelationshipsResponse) -> Vec<&str> {
    page.relationships
        .iter()
        .map(|r| r.account_id.as_str())
        .collect()
}

#[tokio::test]
async fn lists_filter_order_and_page_through_every_account_once() {
    let (_dir, mut server, mut client) = start().await;
    // Given seven suppliers' accounts, appended out of order: two owners, revenue rising with
    // the number, and one overdue invoice.
    for i in [3, 0, 6, 1, 5, 2, 4] {
        let owner = if i % 2 == 0 { "li.wei" } else { "wang.fang" };
        let account = format!("acct-{i}");
        let mut events = vec![
            event(
                minutes_ago(120),
                account_opened_by(&account, owner, AccountSegment::Standard),
            ),
            event(
                minutes_ago(60),
                order_won("o1", (i + 1) * 100_000, (i + 1) * 10_000),
            ),
        ];
        if i == 4 {
            events.push(event_on(-60, invoice("inv-1", 50_000, on_day(-30))));
        }
        server.append(&account, events).await.unwrap();
    }

    // By account id, three at a time: every account exactly once, in order, at one instant.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut instants = std::collections::BTreeSet::new();
    let mut pages = 0;
    let mut first_token = None;
    loop {
        let page = list(
            &mut client,
            ListRelationshipsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await;
        pages += 1;
        seen.extend(ids(&page).into_iter().map(String::from));
        if pages == 1 {
            // An account that sorts before the cursor arrives between pages: the next page
            // still starts right after the last account shown, repeating none.
            let opened = account_opened_by("acct-10", "li.wei", AccountSegment::Standard);
            server
                .append("acct-10", vec![event(minutes_ago(5), opened)])
                .await
                .unwrap();
        }
        instants.insert(format!("{:?}", page.as_of));
        assert!(page.relationships.iter().all(|r| r.as_of == page.as_of));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        first_token.get_or_insert_with(|| token.clone());
    }
    let listed_then: Vec<String> = (0..7).map(|i| format!("acct-{i}")).collect();
    assert_eq!(seen, listed_then);
    assert_eq!(pages, 3);
    assert_eq!(
        instants.len(),
        1,
        "every page is judged at the first page's instant"
    );

    // A token only continues the order it was issued for.
    let wrong_order = client
        .list_relationships(ListRelationshipsRequest {
            page_size: 3,
            order_by: ListOrder::Revenue as i32,
            page_token: first_token.clone().expect("a second page"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(wrong_order.code(), tonic::Code::InvalidArgument);
    assert!(
        wrong_order.message().contains("page_token"),
        "{}",
        wrong_order.message()
    );
    let all: Vec<String> = [
        "acct-0", "acct-1", "acct-10", "acct-2", "acct-3", "acct-4", "acct-5", "acct-6",
    ]
    .map(String::from)
    .to_vec();

    // By revenue, highest first; by trust, ties broken by account id.
    let by = |order: ListOrder| ListRelationshipsRequest {
        order_by: order as i32,
        ..Default::default()
    };
    let page = list(&mut client, by(ListOrder::Revenue)).await;
    assert_eq!(
        ids(&page),
        ["acct-6", "acct-5", "acct-4", "acct-3", "acct-2", "acct-1", "acct-0", "acct-10"]
    );
    assert_eq!(page.relationships[0].revenue_minor_units, 700_000);
    assert!(page.next_page_token.is_empty());
    let page = list(&mut client, by(ListOrder::Trust)).await;
    assert_eq!(ids(&page), all);

    // Filters: OR within a field, AND across fields.
    let owners = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let page = list(
        &mut client,
        ListRelationshipsRequest {
            owners: owners(&["wang.fang"]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&page), ["acct-1", "acct-3", "acct-5"]);
    let page = list(
        &mut client,
        ListRelationshipsRequest {
            alert_codes: owners(&["MARGIN_EROSION", "RECEIVABLES_OVERDUE"]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&page), ["acct-4"]);
    assert_eq!(
        codes(&page.relationships[0].alerts),
        ["RECEIVABLES_OVERDUE"]
    );
    let page = list(
        &mut client,
        ListRelationshipsRequest {
            alert_codes: owners(&["RECEIVABLES_OVERDUE"]),
            owners: owners(&["wang.fang"]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&page), Vec::<&str>::new());
    let page = list(
        &mut client,
        ListRelationshipsRequest {
            quadrants: vec![Quadrant::Friend as i32, Quadrant::Supplier as i32],
            levels: vec![Level::Price as i32],
            grades: vec![proto::Grade::NotEnoughInfo as i32],
            owners: owners(&["li.wei"]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&page), ["acct-0", "acct-2", "acct-4", "acct-6"]);
    let page = list(
        &mut client,
        ListRelationshipsRequest {
            quadrants: vec![Quadrant::Partner as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&page), Vec::<&str>::new());
    server.stop().await;
}

/// docs/domain.md §2 (lever 6) and §8, docs/scoring.md §12: every favor is in the register an
/// auditor reads, with the compliance alerts it raised.
#[tokio::test]
async fn the_gift_register_lists_every_favor_with_its_alerts() {
    let (_dir, mut server, mut client) = start().await;
    // Given two accounts' hospitality, one guest a public official.
    let opened = |name: &str| {
        vec![
            event_on(-60, account_opened_by(name, "li.wei", AccountSegment::Key)),
            event_on(-60, contact_added("c1", ContactRole::DecisionMaker)),
        ]
    };
    let mut harbour = opened("Harbour");
    harbour.push(event_on(-40, official_added("official")));
    let favors = [
        (-30, "c1", FavorKind::Meal, 5_000, ""),
        (-20, "official", FavorKind::Meal, 8_000, ""),
        (-10, "official", FavorKind::Meal, 8_000, "COMP-2026-17"),
        (-5, "c1", FavorKind::Gift, 15_000, ""),
    ];
    let mut harbour_ids = Vec::new();
    for (d, contact, kind, value, approval) in favors {
        let favor = event_on(d, favor_with(contact, kind, value, false, approval));
        harbour_ids.push(id_of(&favor));
        harbour.push(favor);
    }
    server.append("harbour", harbour).await.unwrap();
    let mut plant = opened("Plant");
    let plant_favor = event_on(-15, favor_with("c1", FavorKind::Drinks, 2_000, false, ""));
    let plant_id = id_of(&plant_favor);
    plant.push(plant_favor);
    server.append("plant", plant).await.unwrap();

    let register = |request: GiftRegisterRequest| {
        let mut client = client.clone();
        async move {
            let entries: Vec<GiftRegisterEntry> = client
                .gift_register(request)
                .await
                .unwrap()
                .into_inner()
                .try_collect()
                .await
                .unwrap();
            entries
        }
    };
    let event_ids = |entries: &[GiftRegisterEntry]| {
        entries
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    };

    // Every favor, by account then in log order, each with what it raised.
    let all = register(GiftRegisterRequest::default()).await;
    let mut expected = harbour_ids.clone();
    expected.push(plant_id.clone());
    assert_eq!(event_ids(&all), expected);
    let raised: Vec<Vec<&str>> = all
        .iter()
        .map(|e| e.alert_codes.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        raised,
        [
            vec![],
            vec!["GIFT_TO_PUBLIC_OFFICIAL"],
            vec![],
            vec!["GIFT_OVER_LIMIT"],
            vec![],
        ]
    );
    let official = &all[1];
    assert_eq!(
        (official.account_id.as_str(), official.contact_id.as_str()),
        ("harbour", "official")
    );
    assert_eq!(official.occurred_at, Some(on_day(-20)));
    assert_eq!(official.value.as_ref().unwrap().minor_units, 8_000);
    assert_eq!(official.kind, FavorKind::Meal as i32);
    assert_eq!(official.purpose, "project kick-off");
    assert!(official.public_official && official.approval_reference.is_empty());
    assert_eq!(all[2].approval_reference, "COMP-2026-17");
    assert_eq!(all[2].contact_year_total_minor_units, 16_000);
    assert_eq!(all[3].kind, FavorKind::Gift as i32);

    // Filtered by account and contact, by contact across accounts, and by period (from
    // inclusive, to exclusive).
    let official_only = register(GiftRegisterRequest {
        account_id: "harbour".into(),
        contact_id: "official".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(event_ids(&official_only), harbour_ids[1..3]);
    let c1 = register(GiftRegisterRequest {
        contact_id: "c1".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        event_ids(&c1),
        [
            harbour_ids[0].clone(),
            harbour_ids[3].clone(),
            plant_id.clone()
        ]
    );
    let period = register(GiftRegisterRequest {
        from_time: Some(on_day(-20)),
        to_time: Some(on_day(-5)),
        ..Default::default()
    })
    .await;
    assert_eq!(
        event_ids(&period),
        [harbour_ids[1].clone(), harbour_ids[2].clone(), plant_id]
    );
    let nothing = register(GiftRegisterRequest {
        account_id: "nobody".into(),
        ..Default::default()
    })
    .await;
    assert!(nothing.is_empty());

    // The account's own alerts carry the same findings.
    let r = get_on_day(&mut client, "harbour", 0).await;
    assert_eq!(
        alert(&r.alerts, "GIFT_TO_PUBLIC_OFFICIAL").event_ids,
        [harbour_ids[1].clone()]
    );
    assert_eq!(
        alert(&r.alerts, "GIFT_OVER_LIMIT").event_ids,
        [harbour_ids[3].clone()]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_service_reports_serving_to_health_checks() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    let (_dir, server, _client) = start().await;
    let health = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: "relledger.v1.Relationships".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    server.stop().await;
}

/// The live answer, and the same question asked again at the instant it says it used.
/// The live answer is judged when it is asked: no earlier than the moment before asking.
async fn live_then_replayed(client: &mut Client, account: &str) -> (Relationship, Relationship) {
    let asked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let live = get(client, account, None, None).await.unwrap();
    let as_of = live.as_of.expect("a live answer names its as_of");
    let judged = std::time::Duration::new(as_of.seconds as u64, as_of.nanos as u32);
    assert!(judged >= asked, "judged at {judged:?}, asked at {asked:?}");
    let replayed = get(client, account, Some(AsOf::AsOfTime(as_of)), None)
        .await
        .unwrap();
    (live, replayed)
}

#[tokio::test]
async fn live_answers_are_fresh_folds_at_their_as_of_even_when_kept() {
    let (_dir, mut server, mut client) = start().await;
    server
        .append("cement-buyer", typhoon_service_history())
        .await
        .unwrap();

    // The first live question folds; the next ones may be answered by the kept answer,
    // re-dated: each must be exactly what a fold at its own as_of says.
    let mut as_ofs = Vec::new();
    for _ in 0..3 {
        let (live, replayed) = live_then_replayed(&mut client, "cement-buyer").await;
        assert_eq!(live, replayed);
        as_ofs.push(live.as_of.unwrap());
    }
    let nanos = |t: &Timestamp| (t.seconds, t.nanos);
    assert!(
        as_ofs.windows(2).all(|w| nanos(&w[0]) <= nanos(&w[1])),
        "every answer is judged when it is asked: {as_ofs:?}"
    );

    // An append is seen by the next live question (read your writes), never a kept answer.
    let before = get(&mut client, "cement-buyer", None, None).await.unwrap();
    let appended = server
        .append(
            "cement-buyer",
            vec![event_on(-1, critical_assistance(&["owner"]))],
        )
        .await
        .unwrap();
    let (after, replayed) = live_then_replayed(&mut client, "cement-buyer").await;
    assert_eq!(after, replayed);
    assert_eq!(after.last_revision, Some(appended.last_revision));
    assert_ne!(
        before.organizational_trust, after.organizational_trust,
        "the critical assistance counts at once"
    );
}

#[tokio::test]
async fn max_contributions_lists_the_biggest_and_counts_them_all() {
    let (_dir, mut server, mut client) = start().await;
    server
        .append("cement-buyer", typhoon_service_history())
        .await
        .unwrap();
    let as_of = Some(AsOf::AsOfTime(on_day(0)));
    let all = get(&mut client, "cement-buyer", as_of, None).await.unwrap();
    let top = client
        .get_relationship(GetRelationshipRequest {
            account_id: "cement-buyer".to_string(),
            as_of,
            known_at_time: None,
            max_contributions: Some(2),
        })
        .await
        .unwrap()
        .into_inner()
        .relationship
        .unwrap();

    let org_all = all.organizational_trust.as_ref().unwrap();
    let org_top = top.organizational_trust.as_ref().unwrap();
    assert!(
        org_all.contributions.len() > 2,
        "the story has more than two"
    );
    assert_eq!(
        org_all.contributions_total,
        org_all.contributions.len() as u64
    );
    assert_eq!(org_top.contributions_total, org_all.contributions_total);
    assert_eq!(org_top.contributions[..], org_all.contributions[..2]);
    assert_eq!(org_top.trust, org_all.trust, "the score is the same");
    for (listed, full) in top.personal_trust.iter().zip(&all.personal_trust) {
        let shown = full.contributions.len().min(2);
        assert_eq!(listed.contributions[..], full.contributions[..shown]);
        assert_eq!(listed.contributions_total, full.contributions.len() as u64);
    }
}

/// A live answer asked with a few contributions is kept listing only those: a later question
/// for all of them gets all of them, and one for a few gets the same first few.
#[tokio::test]
async fn a_live_answer_listing_a_few_contributions_is_not_reused_for_all_of_them() {
    let (_dir, mut server, client) = start().await;
    server
        .append("cement-buyer", typhoon_service_history())
        .await
        .unwrap();
    let live = |max_contributions| {
        let mut client = client.clone();
        async move {
            client
                .get_relationship(GetRelationshipRequest {
                    account_id: "cement-buyer".to_string(),
                    as_of: None,
                    known_at_time: None,
                    max_contributions,
                })
                .await
                .unwrap()
                .into_inner()
                .relationship
                .unwrap()
                .organizational_trust
                .unwrap()
        }
    };
    let few = live(Some(2)).await;
    let all = live(None).await;
    let few_again = live(Some(2)).await;
    assert_eq!(few.contributions.len(), 2);
    assert!(all.contributions.len() > 2, "the story has more than two");
    assert_eq!(all.contributions.len() as u64, all.contributions_total);
    assert_eq!(few.contributions_total, all.contributions_total);
    assert_eq!(few.contributions[..], all.contributions[..2]);
    assert_eq!(few_again.contributions, few.contributions);
}
