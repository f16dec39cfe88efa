//! A principal limited to account prefixes sees only its accounts, in every RPC.

use futures::{StreamExt, TryStreamExt};
use relledger::api::proto::subscribe_relationship_changes_response::Kind as ChangeKind;
use relledger::api::proto::subscribe_response::Kind;
use relledger::api::proto::{self, AppendRequest, ReadAllRequest, ReadStreamRequest};
use relledger::auth::Role;
use tonic::Code;

use super::harness::Secured;
use crate::common::events::{event, favor, opening, order_won};
use crate::common::read_all;
use crate::common::subscribe::from_start;

const NORTH: &[&str] = &["north-"];

/// Two accounts, one in each region, each with an order and a favor.
async fn two_regions() -> Secured {
    let secured = Secured::start(&[
        ("hq", &[Role::Admin], &[]),
        (
            "north-sales",
            &[Role::Writer, Role::Reader, Role::Subscriber, Role::Auditor],
            NORTH,
        ),
    ])
    .await;
    let mut hq = secured.ledger("hq").await;
    for (account, revenue) in [("north-1", 300_000), ("south-1", 700_000)] {
        let mut events = opening(account);
        events.push(event(
            2,
            order_won(&format!("{account}-o1"), revenue, revenue / 5),
        ));
        events.push(event(3, favor("c1", proto::FavorKind::Meal, 20_000)));
        hq.append(AppendRequest {
            account_id: account.into(),
            expected_revision: None,
            events,
        })
        .await
        .unwrap();
    }
    secured
}

fn outside(result: Result<impl Sized, tonic::Status>) {
    let status = result.map(|_| ()).unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status
            .message()
            .contains(r#"its scope is accounts starting with "north-""#),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn appends_and_reads_outside_the_scope_are_refused_and_write_nothing() {
    let secured = two_regions().await;
    let mut north = secured.ledger("north-sales").await;
    let stream = |account: &str| ReadStreamRequest {
        account_id: account.into(),
        ..Default::default()
    };
    outside(north.read_stream(stream("south-1")).await);
    outside(
        north
            .append(AppendRequest {
                account_id: "south-2".into(),
                expected_revision: None,
                events: opening("Bolt"),
            })
            .await,
    );
    let unwritten = secured
        .ledger("hq")
        .await
        .read_stream(stream("south-2"))
        .await;
    assert_eq!(unwritten.map(|_| ()).unwrap_err().code(), Code::NotFound);
    outside(
        north
            .read_all(ReadAllRequest {
                account_ids: vec!["south-1".into()],
                ..Default::default()
            })
            .await,
    );
    let mut relationships = secured.relationships("north-sales").await;
    outside(
        relationships
            .get_relationship(proto::GetRelationshipRequest {
                account_id: "south-1".into(),
                ..Default::default()
            })
            .await,
    );
    assert!(relationships
        .get_relationship(proto::GetRelationshipRequest {
            account_id: "north-1".into(),
            ..Default::default()
        })
        .await
        .is_ok());
    secured.stop().await;
}

#[tokio::test]
async fn lists_feeds_and_totals_hold_only_the_accounts_in_scope() {
    let secured = two_regions().await;
    let mut north = secured.ledger("north-sales").await;

    let log = read_all(&mut north, ReadAllRequest::default())
        .await
        .unwrap();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|r| r.account_id == "north-1"));

    let mut relationships = secured.relationships("north-sales").await;
    let listed = relationships
        .list_relationships(proto::ListRelationshipsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = listed
        .relationships
        .iter()
        .map(|r| r.account_id.as_str())
        .collect();
    assert_eq!(ids, ["north-1"]);

    let portfolio = relationships
        .get_portfolio(proto::GetPortfolioRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(portfolio.account_prefixes, ["north-"]);
    assert_eq!(portfolio.total_revenue_minor_units, 300_000);
    assert_eq!(portfolio.accounts.len(), 1);
    assert_eq!(portfolio.accounts[0].share, 1.0);
    let everything = secured
        .relationships("hq")
        .await
        .get_portfolio(proto::GetPortfolioRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(everything.account_prefixes.is_empty());
    assert_eq!(everything.total_revenue_minor_units, 1_000_000);

    let gifts: Vec<proto::GiftRegisterEntry> = relationships
        .gift_register(proto::GiftRegisterRequest::default())
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(gifts.len(), 1);
    assert_eq!(gifts[0].account_id, "north-1");

    // A subscription delivers only the scope's events, and still learns where the log ends,
    // so that it can resume from there.
    let mut subscription = north
        .subscribe(proto::SubscribeRequest {
            start: from_start(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (mut accounts, mut resumable_from) = (Vec::new(), 0);
    while let Some(message) = subscription.next().await {
        match message.unwrap().kind.unwrap() {
            Kind::Event(record) => accounts.push(record.account_id),
            Kind::Checkpoint(checkpoint) => resumable_from = checkpoint.position + 1,
            Kind::CaughtUp(caught_up) => {
                resumable_from = resumable_from.max(caught_up.next_position);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(accounts, ["north-1"; 4]);
    assert_eq!(
        resumable_from, 8,
        "the filtered subscriber knows the log's end"
    );

    let mut changes = relationships
        .subscribe_relationship_changes(proto::SubscribeRelationshipChangesRequest {
            start: Some(
                proto::subscribe_relationship_changes_request::Start::FromStart(
                    pbjson_types::Empty {},
                ),
            ),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut changed = Vec::new();
    while let Some(message) = changes.next().await {
        match message.unwrap().kind.unwrap() {
            ChangeKind::Change(change) => changed.push(change.account_id),
            ChangeKind::CaughtUp(_) => break,
            _ => {}
        }
    }
    assert!(!changed.is_empty());
    assert!(changed.iter().all(|a| a == "north-1"), "{changed:?}");
    secured.stop().await;
}

#[tokio::test]
async fn a_scoped_principal_may_not_call_what_is_about_the_whole_log() {
    let secured = two_regions().await;
    let status = secured
        .audit("north-sales")
        .await
        .verify_chain(proto::VerifyChainRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("about every account"),
        "{}",
        status.message()
    );
    secured.stop().await;
}
