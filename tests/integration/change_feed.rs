//! The relationship change feed's delivery rules end to end: which events one change covers
//! (all of one append; all of an account's events in a page the projector judged together),
//! and resuming from the last change or checkpoint after hanging up, while writers append,
//! with no gap and no duplicate.

use crate::common;
use crate::common::changes as change_helpers;

use std::collections::BTreeSet;

use change_helpers::*;
use common::events::*;
use common::stories::typhoon_service_history;
use common::TestServer;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::{
    ContactRole, Level, ListSubscriptionsRequest, Quadrant, RelationshipChange, RelationshipState,
    SubscribeRelationshipChangesRequest,
};
use relledger::cli::rebuild::{rebuild, RebuildArgs};
use tokio::sync::watch;

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

fn state(change: &RelationshipChange) -> &RelationshipState {
    change.after.as_ref().expect("a change has an after")
}

/// What a change says of the relationship, without the score and the instant.
fn standing(state: &RelationshipState) -> (i32, i32, i32, &[String]) {
    (state.quadrant, state.level, state.grade, &state.alert_codes)
}

#[tokio::test]
async fn an_append_of_several_events_is_one_change_from_its_first_event_to_its_last() {
    let (_dir, mut server, _client, mut feed, mut seen) = start().await;

    // One append opens the account, adds its decision maker and wins an order: one change,
    // from nothing to Supplier, covering the three events and naming the last.
    let opening = vec![
        event_on(-30, account_opened("Batch Co")),
        event_on(-30, contact_added("boss", ContactRole::DecisionMaker)),
        event_on(-20, order_won("o-1", 1_000_000, 100_000)),
    ];
    let last = server
        .append("batch-co", opening.clone())
        .await
        .unwrap()
        .last_position;
    seen.until_told(&mut feed, last).await;
    let [supplier] = &seen.changes[..] else {
        panic!("one change for one append: {:?}", seen.changes)
    };
    assert_eq!(
        (supplier.first_position, supplier.position),
        (last - 2, last)
    );
    assert_eq!(supplier.event_id, opening[2].event_id);
    assert!(supplier.before.is_none(), "the account's first change");
    let after = state(supplier).clone();
    assert_eq!(
        (after.position, &after.event_id),
        (last, &opening[2].event_id)
    );
    assert_eq!(after.quadrant, Quadrant::Supplier as i32);

    // The next append builds the personal bond: one change, Supplier to Partner, whose
    // before is exactly the state the previous change ended in.
    let bond = vec![
        event_on(0, introduction("boss")),
        event_on(0, visit(&["boss"])),
        event_on(1, visit(&["boss"])),
        event_on(1, promise_due("p-1", "boss", on_day(5))),
        event_on(2, promise_kept("p-1")),
        event_on(2, promise_due("p-2", "boss", on_day(6))),
        event_on(3, promise_kept("p-2")),
    ];
    let last = server
        .append("batch-co", bond.clone())
        .await
        .unwrap()
        .last_position;
    seen.until_told(&mut feed, last).await;
    let [_, partner] = &seen.changes[..] else {
        panic!("one change for the second append: {:?}", seen.changes)
    };
    assert_eq!((partner.first_position, partner.position), (last - 6, last));
    assert_eq!(partner.event_id, bond[6].event_id);
    assert_eq!(
        partner.before.as_ref(),
        Some(&after),
        "before is the last after"
    );
    assert_eq!(state(partner).quadrant, Quadrant::Partner as i32);

    // An append that changes none of quadrant, level, grade or alerts is no change: the feed
    // tells its position with a checkpoint.
    let quiet = server
        .append("batch-co", vec![event_on(3, call("boss"))])
        .await
        .unwrap()
        .last_position;
    seen.until_told(&mut feed, quiet).await;
    assert_eq!(seen.changes.len(), 2);
    assert_eq!(seen.checkpoints.last(), Some(&quiet));
    server.stop().await;
}

#[tokio::test]
async fn after_a_rebuild_an_accounts_events_in_one_page_are_one_change_naming_first_and_last() {
    let (dir, mut server, _client, mut feed, mut seen) = start().await;
    // The typhoon story one event at a time, each judged on its own (the projector keeps up),
    // interleaved with a second account's events.
    let mut appends = vec![("bystander", event_on(-600, account_opened("Bystander")))];
    let mut story = typhoon_service_history();
    story.push(event_on(-5, critical_assistance(&["owner"])));
    for (i, event) in story.into_iter().enumerate() {
        appends.push(("cement-buyer", event));
        if i % 5 == 4 {
            appends.push(("bystander", event_on(-5, relationship_cost(100))));
        }
    }
    let mut positions: Vec<(&str, u64, String)> = Vec::new();
    for (account, event) in appends {
        let p = server
            .append(account, vec![event.clone()])
            .await
            .unwrap()
            .last_position;
        positions.push((account, p, event.event_id));
        seen.until_told(&mut feed, p).await;
    }
    let live = seen.changes.clone();
    let buyer_live: Vec<&RelationshipChange> = live
        .iter()
        .filter(|c| c.account_id == "cement-buyer")
        .collect();
    assert!(buyer_live.len() > 2, "the story changes the account often");
    assert!(buyer_live.iter().all(|c| c.first_position == c.position));
    drop(feed);
    server.stop().await;

    // A rebuild projects the whole log again, a page (1,024 positions) at a time: the story
    // fits in one page, so each account's events are judged together.
    rebuild(RebuildArgs {
        data_dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = RelationshipsClient::new(server.channel().await);
    let mut feed = open(&mut client, request(from_start())).await;
    let mut rebuilt = Seen::default();
    rebuilt.until_caught_up(&mut feed).await;
    assert_eq!(rebuilt.changes.len(), 2, "{:?}", rebuilt.changes);
    for change in &rebuilt.changes {
        let mine: Vec<_> = positions
            .iter()
            .filter(|(account, _, _)| *account == change.account_id)
            .collect();
        let (first, last) = (mine[0].1, mine[mine.len() - 1]);
        assert_eq!((change.first_position, change.position), (first, last.1));
        assert!(change.before.is_none(), "from nothing: {change:?}");
        assert_eq!(change.event_id, last.2, "names the last event");
        // It ends where the account's last live change left it.
        let live_last = live
            .iter()
            .rev()
            .find(|c| c.account_id == change.account_id)
            .unwrap();
        assert_eq!(standing(state(change)), standing(state(live_last)));
    }
    let buyer = &rebuilt
        .changes
        .iter()
        .find(|c| c.account_id == "cement-buyer");
    assert_eq!(
        state(buyer.unwrap()).level,
        Level::Interdependence as i32,
        "the typhoon's outcome"
    );
    drop(feed);
    server.stop().await;
}

/// A deterministic sequence of small numbers: how many messages to take before hanging up.
fn hang_up_points() -> impl Iterator<Item = usize> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Mostly a few messages, sometimes one, sometimes dozens.
        Some(match state % 4 {
            0 => 1,
            1 | 2 => (state % 8) as usize + 1,
            _ => (state % 60) as usize + 1,
        })
    })
}

/// Subscribes again and again, each time after the last position told, hanging up after a
/// few messages, until the target is told. Returns everything received and the number of
/// connections. `Seen` checks across connections that positions only increase: a duplicate
/// fails at once.
async fn resume_repeatedly(
    mut client: Client,
    base: SubscribeRelationshipChangesRequest,
    mut target: watch::Receiver<Option<u64>>,
) -> (Seen, usize) {
    let mut seen = Seen::default();
    let mut connections = 0;
    let mut points = hang_up_points();
    let reached = |seen: &Seen, target: Option<u64>| target.is_some_and(|t| seen.reached(t));
    while !reached(&seen, *target.borrow_and_update()) {
        let start = seen.told.map_or_else(from_start, after);
        let mut feed = open(
            &mut client,
            SubscribeRelationshipChangesRequest {
                start,
                ..base.clone()
            },
        )
        .await;
        connections += 1;
        for _ in 0..points.next().unwrap() {
            tokio::select! {
                message = feed.message() => {
                    seen.record(message.unwrap().expect("the feed does not end"));
                }
                changed = target.changed() => changed.unwrap(),
            }
            if reached(&seen, *target.borrow()) {
                break;
            }
        }
        // Dropping the feed hangs up.
    }
    (seen, connections)
}

#[tokio::test]
async fn resuming_after_the_last_change_or_checkpoint_misses_and_repeats_no_change() {
    let (_dir, server, client, feed, _) = start().await;
    drop(feed);
    let (mut opened, _) = open_accounts(&server, "early", 2, 30).await;

    let (target_tx, target) = watch::channel(None);
    let bases = [
        request(None),
        SubscribeRelationshipChangesRequest {
            account_id_prefix: "late-1-".into(),
            account_ids: vec!["early-0-3".into()],
            ..Default::default()
        },
    ];
    let mut consumers = Vec::new();
    for base in bases.clone() {
        let client = RelationshipsClient::new(server.channel().await);
        let target = target.clone();
        consumers.push(tokio::spawn(resume_repeatedly(client, base, target)));
    }
    // Writers run while the consumers hang up and resume, so some resumes land in the change
    // log's history and some in its live tail.
    let (late, last) = open_accounts(&server, "late", 3, 30).await;
    opened.extend(late);
    target_tx.send_replace(Some(last));

    for (base, consumer) in bases.into_iter().zip(consumers) {
        let (resumed, connections) = consumer.await.unwrap();
        assert!(connections > 5, "{connections} connections for {base:?}");
        // The reference: one uninterrupted feed with the same filter.
        let mut whole = Seen::default();
        let mut feed = open(&mut client.clone(), base.clone()).await;
        whole.until_told(&mut feed, last).await;
        assert!(!whole.changes.is_empty());
        assert_eq!(
            resumed.changes, whole.changes,
            "exactly the feed for {base:?}"
        );
        let positions: BTreeSet<u64> = resumed.positions().into_iter().collect();
        assert_eq!(positions.len(), resumed.changes.len(), "no duplicates");
    }

    // And the reference is complete: every account's first change starts at its opening,
    // from nothing, whichever page the projector judged it in.
    let mut whole = Seen::default();
    let mut feed = open(&mut client.clone(), request(from_start())).await;
    whole.until_told(&mut feed, last).await;
    for (account, opening) in &opened {
        let first = whole
            .changes
            .iter()
            .find(|c| &c.account_id == account)
            .unwrap_or_else(|| panic!("a change for {account}"));
        assert_eq!(first.first_position, *opening, "{first:?}");
        assert!(first.before.is_none());
    }
    server.stop().await;
}

#[tokio::test]
async fn list_subscriptions_shows_each_open_change_feed_and_how_far_it_has_read() {
    let (_dir, mut server, _client, mut feed, mut seen) = start().await;
    let opening = vec![
        event_on(-30, account_opened("Listed Co")),
        event_on(-30, contact_added("boss", ContactRole::DecisionMaker)),
        event_on(-20, order_won("o-1", 1_000_000, 100_000)),
    ];
    let last = server
        .append("listed-co", opening)
        .await
        .unwrap()
        .last_position;
    seen.until_told(&mut feed, last).await;

    let mut ledger = LedgerClient::new(server.channel().await);
    let listed = ledger
        .list_subscriptions(ListSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(listed.open.is_empty(), "no Subscribe stream is open");
    let [change_feed] = &listed.open_change_feeds[..] else {
        panic!("one change feed: {:?}", listed.open_change_feeds)
    };
    assert_eq!(change_feed.subscription_name, "");
    assert_eq!(
        change_feed.next_position,
        last + 1,
        "scanned up to the append"
    );
    assert_eq!(change_feed.lag_positions, 0);
    assert_eq!(change_feed.delivered_events, seen.changes.len() as u64);
    assert_eq!(seen.changes.len(), 1);
    assert_eq!(change_feed.buffered_events, 0);
    server.stop().await;
}
