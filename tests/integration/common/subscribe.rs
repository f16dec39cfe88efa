//! Helpers for the subscription tests: requests, and a consumer that records what it got.
#![allow(dead_code)]

use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::subscribe_request::Start;
use relledger::api::proto::subscribe_response::Kind;
use relledger::api::proto::{Heartbeat, RecordedEvent, SubscribeRequest, SubscribeResponse};
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::Streaming;

/// Start from position 0.
pub fn from_start() -> Option<Start> {
    Some(Start::FromStart(pbjson_types::Empty {}))
}

/// Start at the end of the log.
pub fn from_end() -> Option<Start> {
    Some(Start::FromEnd(pbjson_types::Empty {}))
}

/// Start after `position`.
pub fn after(position: u64) -> Option<Start> {
    Some(Start::AfterPosition(position))
}

/// A request starting at `start` with no filter.
pub fn subscribe_request(start: Option<Start>) -> SubscribeRequest {
    SubscribeRequest {
        start,
        ..Default::default()
    }
}

/// Opens a subscription, failing the test if the server refuses it.
pub async fn open(
    client: &mut LedgerClient<Channel>,
    request: SubscribeRequest,
) -> Streaming<SubscribeResponse> {
    client
        .subscribe(request)
        .await
        .expect("the subscription starts")
        .into_inner()
}

/// What one consumer has received, checked as it arrives.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The events, in the order received (those of batches too).
    pub events: Vec<RecordedEvent>,
    /// How many events each `events` batch carried, in the order received.
    pub batches: Vec<usize>,
    /// The checkpoint positions, in the order received.
    pub checkpoints: Vec<u64>,
    /// How many `caught_up` markers arrived.
    pub caught_up: usize,
    /// How many heartbeats arrived.
    pub heartbeats: usize,
    /// Each heartbeat with the last position told before it, to check its lag against.
    pub beats: Vec<(Heartbeat, Option<u64>)>,
    /// The last position an event or checkpoint told: where a resume starts after.
    pub told: Option<u64>,
}

impl Seen {
    /// Records one message, asserting that the positions it tells only ever increase.
    pub fn record(&mut self, message: SubscribeResponse) {
        match message.kind.expect("every message has a kind") {
            Kind::Event(event) => {
                self.tell(event.position);
                self.events.push(event);
            }
            Kind::Events(batch) => {
                assert!(!batch.events.is_empty(), "a batch is never empty");
                self.batches.push(batch.events.len());
                for event in batch.events {
                    self.tell(event.position);
                    self.events.push(event);
                }
            }
            Kind::Checkpoint(checkpoint) => {
                self.tell(checkpoint.position);
                self.checkpoints.push(checkpoint.position);
            }
            Kind::CaughtUp(_) => self.caught_up += 1,
            Kind::Heartbeat(heartbeat) => {
                self.heartbeats += 1;
                self.beats.push((heartbeat, self.told));
            }
        }
    }

    fn tell(&mut self, position: u64) {
        if let Some(told) = self.told {
            assert!(
                position > told,
                "positions strictly increase: {position} after {told}"
            );
        }
        self.told = Some(position);
    }

    /// The positions of the events received.
    pub fn positions(&self) -> Vec<u64> {
        self.events.iter().map(|e| e.position).collect()
    }

    /// Whether an event or checkpoint has told a position at or past `target`.
    pub fn reached(&self, target: Option<u64>) -> bool {
        matches!((self.told, target), (Some(told), Some(target)) if told >= target)
    }
}

/// A heartbeat interval for requests.
pub fn every(millis: u32) -> Option<pbjson_types::Duration> {
    Some(pbjson_types::Duration {
        seconds: 0,
        nanos: (millis * 1_000_000) as i32,
    })
}

/// `recorded_at` of `record` in nanoseconds since the epoch.
pub fn recorded_nanos(record: &RecordedEvent) -> i128 {
    let at = record.recorded_at.as_ref().expect("recorded_at is set");
    i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos)
}

/// The `lag_seconds` a heartbeat must carry when the newest record is `newest` and the last
/// one the consumer was told of is `told`: the server's own arithmetic (whole nanoseconds,
/// then seconds as f64), so the two compare exactly.
pub fn lag_seconds(told: &RecordedEvent, newest: &RecordedEvent) -> f64 {
    let nanos = (recorded_nanos(newest) - recorded_nanos(told)).max(0);
    std::time::Duration::from_nanos(nanos as u64).as_secs_f64()
}

/// Reads `stream` into `seen` until it has told a position at or past the target, which the
/// test publishes on `target` once it knows the last position it will write. Waits on the
/// stream and the target together, never on a clock.
pub async fn follow_until(
    stream: &mut Streaming<SubscribeResponse>,
    seen: &mut Seen,
    target: &mut watch::Receiver<Option<u64>>,
) {
    loop {
        if seen.reached(*target.borrow_and_update()) {
            return;
        }
        tokio::select! {
            message = stream.message() => {
                let message = message.expect("the stream does not fail").expect("the stream does not end");
                seen.record(message);
            }
            changed = target.changed() => changed.expect("the target sender lives"),
        }
    }
}
