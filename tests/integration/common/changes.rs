//! Helpers for the change-feed tests: requests, and a consumer that records what it got.
#![allow(dead_code)]

use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::subscribe_relationship_changes_request::Start;
use relledger::api::proto::subscribe_relationship_changes_response::Kind;
use relledger::api::proto::{
    self, Heartbeat, RelationshipChange, SubscribeRelationshipChangesRequest,
    SubscribeRelationshipChangesResponse,
};
use tonic::transport::Channel;

use crate::common::events::{account_opened, event, relationship_cost};
use crate::common::TestServer;
use tonic::Streaming;

/// A Relationships client.
pub type Client = RelationshipsClient<Channel>;
/// One open change feed.
pub type Feed = Streaming<SubscribeRelationshipChangesResponse>;

/// Start from the first change.
pub fn from_start() -> Option<Start> {
    Some(Start::FromStart(pbjson_types::Empty {}))
}

/// Start where the projector stands.
pub fn from_end() -> Option<Start> {
    Some(Start::FromEnd(pbjson_types::Empty {}))
}

/// Start after `position`.
pub fn after(position: u64) -> Option<Start> {
    Some(Start::AfterPosition(position))
}

/// A request starting at `start`, every account.
pub fn request(start: Option<Start>) -> SubscribeRelationshipChangesRequest {
    SubscribeRelationshipChangesRequest {
        start,
        ..Default::default()
    }
}

/// Opens a change feed, failing the test if the server refuses it.
pub async fn open(client: &mut Client, request: SubscribeRelationshipChangesRequest) -> Feed {
    client
        .subscribe_relationship_changes(request)
        .await
        .expect("the change feed starts")
        .into_inner()
}

/// What one consumer of the change feed has received, checked as it arrives.
#[derive(Debug, Default)]
pub struct Seen {
    /// The changes, in the order received.
    pub changes: Vec<RelationshipChange>,
    /// The checkpoint positions, in the order received.
    pub checkpoints: Vec<u64>,
    /// How many `caught_up` markers arrived.
    pub caught_up: usize,
    /// Each heartbeat with the last position told before it.
    pub beats: Vec<(Heartbeat, Option<u64>)>,
    /// The last position a change or checkpoint told: where a resume starts after.
    pub told: Option<u64>,
}

impl Seen {
    /// Records one message, asserting that the positions it tells only ever increase.
    pub fn record(&mut self, message: SubscribeRelationshipChangesResponse) {
        match message.kind.expect("every message has a kind") {
            Kind::Change(change) => {
                self.tell(change.position);
                self.changes.push(change);
            }
            Kind::Checkpoint(checkpoint) => {
                self.tell(checkpoint.position);
                self.checkpoints.push(checkpoint.position);
            }
            Kind::CaughtUp(_) => self.caught_up += 1,
            Kind::Heartbeat(heartbeat) => self.beats.push((heartbeat, self.told)),
        }
    }

    fn tell(&mut self, position: u64) {
        if let Some(told) = self.told {
            assert!(
                position > told,
                "positions increase: {position} after {told}"
            );
        }
        self.told = Some(position);
    }

    /// The positions of the changes received.
    pub fn positions(&self) -> Vec<u64> {
        self.changes.iter().map(|c| c.position).collect()
    }

    /// Whether a change or checkpoint has told a position at or past `position`.
    pub fn reached(&self, position: u64) -> bool {
        self.told.is_some_and(|told| told >= position)
    }

    /// Reads until the feed has told a position at or past `position`.
    pub async fn until_told(&mut self, feed: &mut Feed, position: u64) {
        while !self.reached(position) {
            self.next(feed).await;
        }
    }

    /// Reads until the feed says it has caught up.
    pub async fn until_caught_up(&mut self, feed: &mut Feed) {
        let before = self.caught_up;
        while self.caught_up == before {
            self.next(feed).await;
        }
        assert_eq!(self.caught_up, 1, "caught_up comes once");
    }

    /// Reads one message.
    pub async fn next(&mut self, feed: &mut Feed) {
        let message = feed
            .message()
            .await
            .expect("the feed does not fail")
            .expect("the feed does not end");
        self.record(message);
    }
}

/// Opens `accounts` new accounts from each of `writers` concurrent tasks, as
/// `{tag}-{writer}-{i}` (each opening is news: a change), and charges every third a cost in a
/// second append. Returns each account with the position of its opening, and the last position
/// written.
pub async fn open_accounts(
    server: &TestServer,
    tag: &str,
    writers: usize,
    accounts: usize,
) -> (Vec<(String, u64)>, u64) {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let client = LedgerClient::new(server.channel().await);
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut opened = Vec::new();
            let mut last = 0;
            let append = |account: String, event| {
                let mut client = client.clone();
                async move {
                    client
                        .append(proto::AppendRequest {
                            account_id: account,
                            expected_revision: None,
                            events: vec![event],
                        })
                        .await
                        .expect("append")
                        .into_inner()
                        .last_position
                }
            };
            for i in 0..accounts {
                let account = format!("{tag}-{writer}-{i}");
                let p = append(account.clone(), event(i as i64, account_opened(&account))).await;
                opened.push((account.clone(), p));
                last = p;
                if i % 3 == 0 {
                    last = append(account, event(i as i64, relationship_cost(100))).await;
                }
            }
            (opened, last)
        }));
    }
    let (mut opened, mut last) = (Vec::new(), 0);
    for task in tasks {
        let (mine, mine_last) = task.await.unwrap();
        opened.extend(mine);
        last = last.max(mine_last);
    }
    (opened, last)
}
