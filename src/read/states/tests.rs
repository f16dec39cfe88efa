use super::*;
use crate::domain::event::{AccountSegment, ContactRole};
use crate::domain::projection::testkit::{self, day};
use crate::domain::ProposedEvent;
use crate::store::{Direction, ExpectedRevision, MemoryLog, SnapshotStore};
use futures::TryStreamExt;

fn id(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

/// An opened account with a contact, then `visits` visits to it: the events to append.
fn events(visits: usize) -> Vec<ProposedEvent> {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(1, "qa", ContactRole::TechnicalEvaluator);
    for d in 0..visits {
        log.visit(2 + d as i64, &["qa"]);
    }
    log.events.into_iter().map(|r| r.event).collect()
}

async fn append(log: &MemoryLog, account: &str, events: Vec<ProposedEvent>) {
    log.append(&id(account), ExpectedRevision::Any, events)
        .await
        .unwrap();
}

async fn stream(log: &MemoryLog, account: &str) -> Vec<RecordedEvent> {
    log.read_stream(&id(account), None, Direction::Forwards, None)
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_state_follows_later_appends_and_is_the_state_of_the_stream() {
    let log = Arc::new(MemoryLog::new());
    let mut all = events(6);
    let later = all.split_off(4);
    append(&log, "a", all).await;
    let params = Params::default();
    let states = States::new(log.clone(), params.clone(), 1_000);
    let first = states.state(&id("a"), None).await.unwrap();
    assert_eq!(
        first.state,
        AccountState::of(&stream(&log, "a").await, &params)
    );
    assert_eq!(first.position, Some(3));
    append(&log, "a", later).await;
    let second = states.state(&id("a"), None).await.unwrap();
    let history = stream(&log, "a").await;
    assert_eq!(second.state, AccountState::of(&history, &params));
    assert_eq!(second.position, Some(7));
    assert_eq!(states.weight(), second.state.weight());
    // Its projection is the history's.
    let as_of = day(30);
    assert_eq!(
        second.state.project(as_of, &params, None),
        Some(crate::domain::projection::project(&history, as_of, &params))
    );
}

#[tokio::test]
async fn records_the_caller_holds_advance_the_state_without_a_read() {
    let log = Arc::new(MemoryLog::new());
    append(&log, "a", events(2)).await;
    let params = Params::default();
    let states = States::new(log.clone(), params.clone(), 1_000);
    let history = stream(&log, "a").await;
    states.state(&id("a"), Some(2)).await.unwrap();
    // A record the log never held proves the state was advanced from `known`.
    let mut invented = history[3].clone();
    invented.revision = 4;
    invented.position = 99;
    let known = vec![history[3].clone(), invented.clone()];
    let advance = states.advance(&id("a"), known, Some(99)).await.unwrap();
    let advanced = states.keep(advance.run(&params));
    assert_eq!(advanced.position, Some(99));
    assert_eq!(advanced.state.events(), 5);
    let mut expected = history;
    expected.push(invented);
    assert_eq!(advanced.state, AccountState::of(&expected, &params));
}

#[tokio::test]
async fn a_state_asked_for_up_to_an_earlier_position_is_built_and_the_further_one_kept() {
    let log = Arc::new(MemoryLog::new());
    append(&log, "a", events(4)).await;
    let params = Params::default();
    let states = States::new(log.clone(), params.clone(), 1_000);
    let head = states.state(&id("a"), None).await.unwrap();
    let earlier = states.state(&id("a"), Some(2)).await.unwrap();
    let history = stream(&log, "a").await;
    assert_eq!(earlier.position, Some(2));
    assert_eq!(earlier.state, AccountState::of(&history[..3], &params));
    let again = states.state(&id("a"), None).await.unwrap();
    assert!(
        Arc::ptr_eq(&again, &head),
        "the state at the head stays kept"
    );
}

#[tokio::test]
async fn an_unknown_account_has_an_empty_state_and_is_not_kept() {
    let log = Arc::new(MemoryLog::new());
    append(&log, "a", events(1)).await;
    let states = States::new(log, Params::default(), 1_000);
    let at = states.state(&id("z"), None).await.unwrap();
    assert_eq!(at.state.events(), 0);
    assert_eq!(at.position, None);
    assert_eq!(states.weight(), 0);
}

#[tokio::test]
async fn a_long_history_is_kept_compact_and_built_again_when_it_needs_the_history() {
    let log = Arc::new(MemoryLog::new());
    append(&log, "a", events(2_500)).await;
    let params = Params::default();
    let states = States::new(log.clone(), params.clone(), 1_000_000);
    let summary_of = |at: &StateAt, history: &[RecordedEvent]| {
        let last = history.last().unwrap();
        let (position, event) = (last.position, last.event.event_id);
        let as_of = day(3_000);
        let kept = at.state.summarize(position, event, as_of, &params);
        let folded = crate::domain::projection::summarize(
            &last.account_id,
            position,
            event,
            history,
            as_of,
            &params,
        );
        assert_eq!(kept, Some(folded));
    };
    let first = states.state(&id("a"), None).await.unwrap();
    assert!(first.state.is_compact());
    assert!(
        first.state.weight() < COMPACT_FROM,
        "{}",
        first.state.weight()
    );
    summary_of(&first, &stream(&log, "a").await);
    // The contact leaves, recorded long after the day it left: a compact state cannot tell
    // what the contact held then, and is built again from the history.
    let mut late = testkit::Log::opened(AccountSegment::Standard);
    late.left(2_450, "qa");
    let mut departure = late.events.pop().unwrap().event;
    departure.event_id = crate::domain::EventId::new_random();
    append(&log, "a", vec![departure]).await;
    let second = states.state(&id("a"), None).await.unwrap();
    assert!(second.state.is_compact() && !second.state.needs_history());
    assert_eq!(second.position, Some(2_502));
    summary_of(&second, &stream(&log, "a").await);
}

#[tokio::test]
async fn a_compact_state_is_read_back_from_its_checkpoint_and_the_tail() {
    let log = Arc::new(MemoryLog::new());
    let mut all = events(2_510);
    let tail = all.split_off(2_502);
    append(&log, "a", all).await;
    let params = Params::default();
    let store: Arc<dyn SnapshotStore> = Arc::new(crate::store::MemorySnapshots::new());
    let states =
        States::new(log.clone(), params.clone(), 1_000_000).with_checkpoints(Arc::clone(&store));
    let mut advanced = states
        .advance(&id("a"), [], None)
        .await
        .unwrap()
        .run(&params);
    let (account, bytes) = advanced.take_checkpoint().expect("a compact state's first");
    store
        .keep_account_states(vec![(account, bytes)])
        .await
        .unwrap();
    append(&log, "a", tail).await;
    // A restarted server: nothing in memory, the checkpoint in the store.
    let restarted =
        States::new(log.clone(), params.clone(), 1_000_000).with_checkpoints(Arc::clone(&store));
    let advance = restarted.advance(&id("a"), [], None).await.unwrap();
    assert_eq!(advance.base.as_ref().unwrap().position, Some(2_501));
    assert_eq!(advance.events.len(), 10, "only the tail is read");
    let at = advance.run(&params).at;
    let history = stream(&log, "a").await;
    let last = history.last().unwrap();
    let (position, event, as_of) = (last.position, last.event.event_id, day(3_000));
    assert_eq!(
        at.state.summarize(position, event, as_of, &params),
        Some(crate::domain::projection::summarize(
            &last.account_id,
            position,
            event,
            &history,
            as_of,
            &params
        ))
    );
}

#[tokio::test]
async fn a_checkpoint_of_other_rules_or_that_does_not_decode_is_not_used() {
    let log = Arc::new(MemoryLog::new());
    append(&log, "a", events(2_500)).await;
    let params = Params::default();
    let store: Arc<dyn SnapshotStore> = Arc::new(crate::store::MemorySnapshots::new());
    let states = States::new(log.clone(), params.clone(), 0).with_checkpoints(Arc::clone(&store));
    let mut advanced = states
        .advance(&id("a"), [], None)
        .await
        .unwrap()
        .run(&params);
    let (account, bytes) = advanced.take_checkpoint().unwrap();
    let mut other = Checkpoint::decode(&bytes).unwrap().unwrap();
    other.params_version = "an older set".into();
    let cut = bytes[..bytes.len() / 2].to_vec();
    for stored in [other.encode().unwrap(), cut] {
        store
            .keep_account_states(vec![(account.clone(), stored)])
            .await
            .unwrap();
        let advance = states.advance(&id("a"), [], None).await.unwrap();
        assert!(advance.base.is_none());
        assert_eq!(advance.events.len(), 2_502, "built from the log");
    }
    // A checkpoint of an older format is passed over, not reported as undecodable: formats 1
    // to 4 were JSON.
    let older = br#"{"format":4,"params_version":"v","position":1,"state":{}}"#;
    assert!(StateAt::restored(older, &params).unwrap().is_none());
    assert!(StateAt::restored(&bytes[..bytes.len() / 2], &params).is_err());
    assert!(StateAt::restored(&bytes, &params).unwrap().is_some());
}
