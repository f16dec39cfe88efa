//! Helpers shared by the log tests: events, accounts, and reading a stream to the end.
#![allow(dead_code)]

use std::collections::BTreeMap;

use futures::stream::{BoxStream, StreamExt};
use relledger::domain::{
    AccountId, Call, EventId, EventPayload, PromiseKept, ProposedEvent, RecordedEvent, Timestamp,
    Visit,
};
use relledger::store::StoreError;

/// An account id from a name the test knows is valid.
pub fn account(name: &str) -> AccountId {
    AccountId::parse(name).expect("a valid account id")
}

/// A call event with a fresh id. The log does no domain validation, so any payload does.
pub fn call(summary: &str) -> ProposedEvent {
    event(EventPayload::Call(Call {
        contact_id: "c1".into(),
        summary: summary.into(),
    }))
}

/// A visit event with a fresh id.
pub fn visit(summary: &str) -> ProposedEvent {
    event(EventPayload::Visit(Visit {
        contact_ids: vec!["c1".into()],
        purpose: "check in".into(),
        summary: summary.into(),
        next_visit_on: None,
        next_visit_pretext: String::new(),
    }))
}

/// A promise-kept event with a fresh id.
pub fn promise_kept(note: &str) -> ProposedEvent {
    event(EventPayload::PromiseKept(PromiseKept {
        promise_id: "p1".into(),
        note: note.into(),
    }))
}

/// An event with `payload` and a fresh id.
pub fn event(payload: EventPayload) -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
        actor: "tester".into(),
        metadata: BTreeMap::from([("correlation_id".into(), "t".into())]),
        payload,
    }
}

/// `n` call events with fresh ids.
pub fn calls(n: usize) -> Vec<ProposedEvent> {
    (0..n).map(|i| call(&format!("call {i}"))).collect()
}

/// Reads a stream to its end, failing the test on an error.
pub async fn collect(
    stream: BoxStream<'static, Result<RecordedEvent, StoreError>>,
) -> Vec<RecordedEvent> {
    stream
        .map(|r| r.expect("a read that succeeds"))
        .collect()
        .await
}

/// Reads a stream to its end, keeping errors.
pub async fn collect_results(
    stream: BoxStream<'static, Result<RecordedEvent, StoreError>>,
) -> Vec<Result<RecordedEvent, StoreError>> {
    stream.collect().await
}

/// What a record says apart from when it was recorded and the hashes that depend on it: what
/// two backends, whose clocks differ, must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub position: u64,
    pub account_id: AccountId,
    pub revision: u64,
    pub event: ProposedEvent,
}

/// The clock-independent part of `record`.
pub fn placed(record: &RecordedEvent) -> Placed {
    Placed {
        position: record.position,
        account_id: record.account_id.clone(),
        revision: record.revision,
        event: record.event.clone(),
    }
}
