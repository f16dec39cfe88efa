//! The requests and reads of the full-disk tests, each bounded so that a hang fails the test.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use futures::TryStreamExt;
use relledger::api::proto::audit_client::AuditClient;
use relledger::api::proto::expected_revision::Kind;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::proposed_event::Payload;
use relledger::api::proto::subscribe_response;
use relledger::api::proto::{self, AppendRequest, ReadAllRequest, ReadStreamRequest};
use tonic::transport::Channel;
use tonic::Streaming;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::common::binary::{health_becomes, run_on_data_dir, spawn_server};
use crate::common::events::*;
use crate::common::subscribe::{from_start, subscribe_request};

/// The size of the test's filesystem: room for the server's files and a filler.
pub(super) const DISK_BYTES: u64 = 64 * 1024 * 1024;

/// How long a request may take on a full disk before the test calls it hung. Far above any
/// answer's time; only a request that never returns meets it.
pub(super) const HUNG: Duration = Duration::from_secs(60);

/// Awaits `request`, failing the test if it never answers.
pub(super) async fn answered<T>(request: impl Future<Output = T>) -> T {
    tokio::time::timeout(HUNG, request)
        .await
        .expect("a request on a full disk is answered, not left hanging")
}

/// Asserts that `status` refuses a write for want of disk space, and says so.
pub(super) fn refused_for_space(status: &tonic::Status) {
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::ResourceExhausted
        ),
        "{status:?}"
    );
    assert!(
        status.message().contains("No space left on device"),
        "the message names the full disk: {status:?}"
    );
}

pub(super) fn append(expected: Kind, events: Vec<proto::ProposedEvent>) -> AppendRequest {
    AppendRequest {
        account_id: "harbour".into(),
        expected_revision: Some(proto::ExpectedRevision {
            kind: Some(expected),
        }),
        events,
    }
}

/// Sixteen calls of about 48 KB each, with fresh ids: a batch of about 800 KB.
pub(super) fn large_batch() -> AppendRequest {
    let summary = "the pour schedule of the pier foundations, line by line; ".repeat(850);
    let events = (0..16)
        .map(|i| {
            let call = proto::Call {
                contact_id: "c1".into(),
                summary: summary.clone(),
            };
            event(100 + i, Payload::Call(call))
        })
        .collect();
    append(Kind::Any(Default::default()), events)
}

pub(super) fn ids(request: &AppendRequest) -> Vec<String> {
    request.events.iter().map(|e| e.event_id.clone()).collect()
}

/// The event ids of `harbour`'s stream, read through `ReadStream`.
pub(super) async fn stream_ids(client: &mut LedgerClient<Channel>) -> Vec<String> {
    let request = ReadStreamRequest {
        account_id: "harbour".into(),
        ..Default::default()
    };
    let stream = answered(client.read_stream(request)).await.unwrap();
    let records: Vec<_> = answered(stream.into_inner().try_collect()).await.unwrap();
    records
        .into_iter()
        .map(|record: proto::RecordedEvent| record.event.unwrap().event_id)
        .collect()
}

/// The event ids of the whole log, read through `ReadAll`.
pub(super) async fn all_ids(client: &mut LedgerClient<Channel>) -> Vec<String> {
    let stream = answered(client.read_all(ReadAllRequest::default()))
        .await
        .unwrap();
    let records: Vec<proto::RecordedEvent> =
        answered(stream.into_inner().try_collect()).await.unwrap();
    records
        .into_iter()
        .map(|record| record.event.unwrap().event_id)
        .collect()
}

/// A `Subscribe` from the start.
pub(super) async fn subscribe(
    client: &mut LedgerClient<Channel>,
) -> Streaming<proto::SubscribeResponse> {
    answered(client.subscribe(subscribe_request(from_start())))
        .await
        .unwrap()
        .into_inner()
}

/// The ids of the first `count` events `subscription` delivers.
pub(super) async fn delivered(
    subscription: &mut Streaming<proto::SubscribeResponse>,
    count: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < count {
        let message = answered(subscription.message()).await.unwrap().unwrap();
        match message.kind.unwrap() {
            subscribe_response::Kind::Event(event) => ids.push(event.event.unwrap().event_id),
            subscribe_response::Kind::Events(batch) => {
                ids.extend(batch.events.into_iter().map(|e| e.event.unwrap().event_id))
            }
            subscribe_response::Kind::CaughtUp(_)
            | subscribe_response::Kind::Checkpoint(_)
            | subscribe_response::Kind::Heartbeat(_) => {}
        }
    }
    ids
}

/// `Audit.VerifyChain` over the whole log: how many records verified, after asserting that
/// all did.
pub(super) async fn verify_chain(url: &str) -> u64 {
    let mut audit = AuditClient::connect(url.to_string()).await.unwrap();
    let report = answered(audit.verify_chain(proto::VerifyChainRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{report:?}");
    report.records_checked
}

/// `relledger verify` on a stopped server's data dir: its report line.
pub(super) async fn verify_offline(data_dir: &Path) -> String {
    run_on_data_dir("verify", data_dir).await
}

/// Starts a server on a small disk and opens `harbour` (two events, one with personal data).
pub(super) async fn harbour_on(data_dir: &Path) -> (tokio::process::Child, String, Vec<String>) {
    let (child, url) = spawn_server(data_dir).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    let opening = append(Kind::NoStream(Default::default()), opening("Harbour"));
    client.append(opening.clone()).await.unwrap();
    (child, url, ids(&opening))
}

/// A subscription's acknowledged position, through `ListSubscriptions`.
pub(super) async fn acked(client: &mut LedgerClient<Channel>, name: &str) -> Option<u64> {
    let list = answered(client.list_subscriptions(proto::ListSubscriptionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    list.subscriptions
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.acked_position)
}

pub(super) fn ack(name: &str, position: u64) -> proto::AckSubscriptionRequest {
    proto::AckSubscriptionRequest {
        name: name.to_string(),
        position,
    }
}

pub(super) fn sign_at(position: u64) -> proto::SignCheckpointRequest {
    proto::SignCheckpointRequest {
        position: Some(position),
    }
}

/// Waits until `service` ("" for the server as a whole) reports `status`, saying `why` it
/// should if it never does.
pub(super) async fn reports(url: &str, service: &str, status: ServingStatus, why: &str) {
    tokio::time::timeout(HUNG, health_becomes(url, service, status))
        .await
        .unwrap_or_else(|_| panic!("{why}"));
}
