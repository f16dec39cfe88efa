//! `Relationships.SubscribeRelationshipChanges` end to end: a real server on 127.0.0.1:0, events
//! appended through the Ledger client one append at a time (each change or checkpoint awaited
//! before the next append, so the projector keeps up and every change names the one event
//! that made it), and the change feed read through a real Relationships client.

use crate::common;
use crate::common::changes as change_helpers;

use std::collections::BTreeMap;

use change_helpers::*;
use common::events::*;
use common::stories::{concrete_producer, typhoon_service_history};
use common::TestServer;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::subscribe_relationship_changes_request::Start;
use relledger::api::proto::{
    self, Level, Quadrant, RelationshipChange, SubscribeRelationshipChangesRequest,
};
use tonic::Code;

/// A server on a fresh data dir, a change-feed client, and a feed from the start caught up
/// with the empty log.
async fn start() -> (tempfile::TempDir, TestServer, Client, Feed, Seen) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = RelationshipsClient::new(server.channel().await);
    let mut feed = open(&mut client, request(from_start())).await;
    let mut seen = Seen::default();
    seen.until_caught_up(&mut feed).await;
    (dir, server, client, feed, seen)
}

/// Appends each event on its own and waits until the feed has told its position; returns the
/// event ids by position.
async fn append_one_by_one(
    server: &mut TestServer,
    feed: &mut Feed,
    seen: &mut Seen,
    account: &str,
    events: Vec<proto::ProposedEvent>,
) -> BTreeMap<u64, proto::ProposedEvent> {
    let mut by_position = BTreeMap::new();
    for event in events {
        let position = server
            .append(account, vec![event.clone()])
            .await
            .unwrap()
            .last_position;
        seen.until_told(feed, position).await;
        by_position.insert(position, event);
    }
    by_position
}

/// Every change names one event (the projector kept up): its own position's, of its account.
fn assert_each_change_names_its_event(
    seen: &Seen,
    account: &str,
    events: &BTreeMap<u64, proto::ProposedEvent>,
) {
    for change in &seen.changes {
        assert_eq!(change.account_id, account);
        assert_eq!(change.first_position, change.position, "{change:?}");
        assert_eq!(change.event_id, events[&change.position].event_id);
        let after = change.after.as_ref().unwrap();
        assert_eq!(
            (after.position, &after.event_id),
            (change.position, &change.event_id)
        );
    }
}

/// docs/domain.md §5: the typhoon lifts a service account to interdependence, and the feed
/// says so with the position and id of the critical assistance.
#[tokio::test]
async fn the_feed_reports_the_typhoon_lifting_service_to_interdependence() {
    let (_dir, mut server, _client, mut feed, mut seen) = start().await;
    let mut events = typhoon_service_history();
    let typhoon = event_on(-5, critical_assistance(&["owner"]));
    events.push(typhoon.clone());
    let by_position =
        append_one_by_one(&mut server, &mut feed, &mut seen, "cement-buyer", events).await;
    assert_each_change_names_its_event(&seen, "cement-buyer", &by_position);

    let (&typhoon_p, _) = by_position
        .iter()
        .find(|(_, e)| e.event_id == typhoon.event_id)
        .unwrap();
    let lifted: Vec<&RelationshipChange> = seen
        .changes
        .iter()
        .filter(|c| c.after.as_ref().unwrap().level == Level::Interdependence as i32)
        .collect();
    let lift = lifted.first().expect("a change to interdependence");
    assert_eq!(lift.before.as_ref().unwrap().level, Level::Service as i32);
    assert_eq!((lift.position, lift.first_position), (typhoon_p, typhoon_p));
    assert_eq!(lift.event_id, typhoon.event_id);
    // The account's first event is a change from nothing.
    assert!(seen.changes[0].before.is_none());
    assert_eq!(seen.changes[0].position, 0);
    server.stop().await;
}

/// docs/domain.md §7: contractor B becomes a Partner, and the warnings appear, each on the
/// event that raised it.
#[tokio::test]
async fn the_feed_reports_the_concrete_producer_becoming_a_partner_and_its_alerts() {
    let (_dir, mut server, _client, mut feed, mut seen) = start().await;
    let story = concrete_producer();
    let (b, demands) = (story.events, story.demands);
    let by_position = append_one_by_one(&mut server, &mut feed, &mut seen, "contractor-b", b).await;
    assert_each_change_names_its_event(&seen, "contractor-b", &by_position);

    let partner = seen
        .changes
        .iter()
        .find(|c| c.after.as_ref().unwrap().quadrant == Quadrant::Partner as i32)
        .expect("a change to Partner");
    assert_ne!(
        partner.before.as_ref().unwrap().quadrant,
        Quadrant::Partner as i32
    );
    let last = seen.changes.last().unwrap().after.as_ref().unwrap();
    assert_eq!(last.quadrant, Quadrant::Partner as i32);
    // Each alert appears on a change whose before lacked it; price pressure on a demand.
    let appeared = |code: &str| {
        seen.changes
            .iter()
            .find(|c| {
                c.after
                    .as_ref()
                    .unwrap()
                    .alert_codes
                    .iter()
                    .any(|a| a == code)
                    && !c
                        .before
                        .as_ref()
                        .is_some_and(|b| b.alert_codes.iter().any(|a| a == code))
            })
            .unwrap_or_else(|| panic!("{code} appears"))
    };
    let pressure = appeared("PRICE_PRESSURE_REPEATED");
    assert!(demands.contains(&pressure.event_id), "{pressure:?}");
    for code in ["MARGIN_EROSION", "RECEIVABLES_OVERDUE", "SINGLE_THREADED"] {
        let change = appeared(code);
        assert_eq!(change.event_id, by_position[&change.position].event_id);
        assert!(last.alert_codes.iter().any(|a| a == code), "{code} stays");
    }
    server.stop().await;
}

/// Resume, from_end, filters, a restart and shutdown, over accounts whose first event is each
/// a change.
#[tokio::test]
async fn the_feed_resumes_filters_starts_at_the_end_and_survives_a_restart() {
    let (dir, mut server, mut client, mut feed, mut seen) = start().await;
    let opening: Vec<_> = (0..10)
        .map(|i| event(i, account_opened(&format!("Account {i}"))))
        .collect();
    for (i, event) in opening.into_iter().enumerate() {
        let account = format!("acct-{i}");
        append_one_by_one(&mut server, &mut feed, &mut seen, &account, vec![event]).await;
    }
    assert_eq!(seen.positions(), (0..10).collect::<Vec<_>>());
    drop(feed);

    // From the start: everything, then caught_up; a resume after a checkpoint or a change
    // gives the rest, with no duplicates.
    let mut first = Seen::default();
    let mut feed = open(&mut client, request(from_start())).await;
    first.until_told(&mut feed, 3).await;
    drop(feed);
    let told = first.told.unwrap();
    let mut rest = Seen::default();
    let mut feed = open(&mut client, request(Some(Start::AfterPosition(told)))).await;
    rest.until_caught_up(&mut feed).await;
    let mut union = first.positions();
    union.extend(rest.positions());
    assert_eq!(union, (0..10).collect::<Vec<_>>());
    drop(feed);

    // Filters: listed accounts or the prefix; a checkpoint says how far it scanned.
    let mut filtered = Seen::default();
    let mut feed = open(
        &mut client,
        SubscribeRelationshipChangesRequest {
            start: from_start(),
            account_ids: vec!["acct-2".to_string()],
            account_id_prefix: "acct-7".to_string(),
            ..Default::default()
        },
    )
    .await;
    filtered.until_caught_up(&mut feed).await;
    assert_eq!(filtered.positions(), [2, 7]);
    assert_eq!(
        filtered.told,
        Some(9),
        "a checkpoint at the last scanned position"
    );
    drop(feed);

    // From the end: only what the projector finds later.
    let mut live = Seen::default();
    let mut feed = open(&mut client, request(from_end())).await;
    live.until_caught_up(&mut feed).await;
    assert!(live.changes.is_empty());
    let p = server
        .append("acct-10", vec![event(10, account_opened("Account 10"))])
        .await
        .unwrap()
        .last_position;
    live.until_told(&mut feed, p).await;
    assert_eq!(live.positions(), [10]);

    // A bad request names its field; an unknown position is OUT_OF_RANGE.
    let bad = client
        .subscribe_relationship_changes(SubscribeRelationshipChangesRequest {
            account_ids: vec!["not valid!".to_string()],
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("account_ids[0]"), "{bad:?}");
    let past = client
        .subscribe_relationship_changes(request(Some(Start::AfterPosition(1_000))))
        .await
        .expect_err("refused");
    assert_eq!(past.code(), Code::OutOfRange, "{past:?}");

    // Stopping ends the open feed with UNAVAILABLE.
    let stop = tokio::spawn(server.stop());
    let ended = loop {
        match feed.message().await {
            Ok(Some(message)) => live.record(message),
            other => break other,
        }
    };
    let status = ended.expect_err("the feed ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    stop.await.unwrap();

    // A restart keeps the change log.
    let server = TestServer::start(dir.path()).await;
    let mut client = RelationshipsClient::new(server.channel().await);
    let mut again = Seen::default();
    let mut feed = open(&mut client, request(from_start())).await;
    again.until_caught_up(&mut feed).await;
    assert_eq!(again.positions(), (0..=10).collect::<Vec<_>>());
    drop(feed);
    server.stop().await;
}
