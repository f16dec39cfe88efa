use std::time::Duration;

use super::*;
use crate::domain::projection::testkit;
use crate::domain::ProposedEvent;
use crate::store::{ExpectedRevision, MemoryLog};

/// A call, with a fresh event id.
fn any_event() -> ProposedEvent {
    let mut log = testkit::Log::opened(crate::domain::AccountSegment::Standard);
    log.call(1, "qa");
    let mut event = log.events.pop().unwrap().event;
    event.event_id = crate::domain::EventId::new_random();
    event
}

async fn log_with(accounts: &[(&str, usize)]) -> Arc<MemoryLog> {
    let log = Arc::new(MemoryLog::new());
    for (account, events) in accounts {
        let account = AccountId::parse(*account).unwrap();
        let proposed = (0..*events).map(|_| any_event()).collect();
        log.append(&account, ExpectedRevision::Any, proposed)
            .await
            .unwrap();
    }
    log
}

fn id(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

#[tokio::test]
async fn a_history_is_the_stream_and_follows_later_appends() {
    let log = log_with(&[("a", 3), ("b", 2)]).await;
    let histories = Histories::new(log.clone(), 100);
    let first = histories.history(&id("a"), None).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    log.append(&id("a"), ExpectedRevision::Any, vec![any_event()])
        .await
        .unwrap();
    let second = histories.history(&id("a"), None).await.unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(&second[..3], &first[..], "the cached prefix is kept");
    assert_eq!(second[3].position, 5);
    assert_eq!(histories.cached_events(), 4);
}

#[tokio::test]
async fn a_history_no_one_else_holds_is_extended_in_place_and_one_still_read_is_not_changed() {
    let log = log_with(&[("a", 3)]).await;
    let histories = Histories::new(log.clone(), 100);
    let first = histories.history(&id("a"), None).await.unwrap();
    let first_at = Arc::as_ptr(&first);
    drop(first);
    log.append(&id("a"), ExpectedRevision::Any, vec![any_event()])
        .await
        .unwrap();
    let second = histories.history(&id("a"), None).await.unwrap();
    assert_eq!(second.len(), 4);
    assert_eq!(Arc::as_ptr(&second), first_at, "extended, not copied");
    assert_eq!(histories.cached_events(), 4);

    // A reader still folding the history keeps exactly what it was given.
    log.append(&id("a"), ExpectedRevision::Any, vec![any_event()])
        .await
        .unwrap();
    let third = histories.history(&id("a"), None).await.unwrap();
    assert_eq!((second.len(), third.len()), (4, 5));
    assert_eq!(&third[..4], &second[..]);
    assert_eq!(histories.cached_events(), 5);
}

#[tokio::test]
async fn the_budget_evicts_the_least_recently_used_account() {
    let log = log_with(&[("a", 3), ("b", 3), ("c", 3)]).await;
    let histories = Histories::new(log.clone(), 7).hot_for(Duration::ZERO);
    histories.history(&id("a"), None).await.unwrap();
    histories.history(&id("b"), None).await.unwrap();
    histories.history(&id("a"), None).await.unwrap();
    histories.history(&id("c"), None).await.unwrap();
    assert_eq!(histories.cached_events(), 6);
    let cache = &histories.cache;
    assert!(cache.contains(&id("a")) && cache.contains(&id("c")));
    assert!(!cache.contains(&id("b")), "b was used least recently");
}

/// The projector's pattern: the same accounts, in the same order, again and again, holding
/// more events than the budget. Plain LRU would read every one from the log every time.
#[tokio::test]
async fn accounts_used_in_a_cycle_larger_than_the_budget_do_not_evict_each_other() {
    let log = log_with(&[("a", 3), ("b", 3), ("c", 3)]).await;
    let histories = Histories::new(log.clone(), 7);
    let mut first = Vec::new();
    for account in ["a", "b", "c"] {
        first.push(histories.history(&id(account), None).await.unwrap());
    }
    assert_eq!(histories.cached_events(), 6, "a and b; c was left out");
    for _ in 0..3 {
        for (account, before) in ["a", "b", "c"].into_iter().zip(&first) {
            let again = histories.history(&id(account), None).await.unwrap();
            assert_eq!(again, *before);
            if account == "c" {
                assert!(
                    !Arc::ptr_eq(&again, before),
                    "c is read from the log each time"
                );
            } else {
                assert!(Arc::ptr_eq(&again, before), "{account} stays cached");
            }
        }
    }
    // A cached account that grows stays in, whatever it evicts.
    log.append(
        &id("b"),
        ExpectedRevision::Any,
        vec![any_event(), any_event()],
    )
    .await
    .unwrap();
    let grown = histories.history(&id("b"), None).await.unwrap();
    assert_eq!(grown.len(), 5);
    let cache = &histories.cache;
    assert!(cache.contains(&id("b")) && !cache.contains(&id("a")));
    assert_eq!(histories.cached_events(), 5);
}

#[tokio::test]
async fn an_unknown_account_has_an_empty_history_and_is_not_cached() {
    let log = log_with(&[("a", 1)]).await;
    let histories = Histories::new(log, 100);
    assert!(histories.history(&id("z"), None).await.unwrap().is_empty());
    assert_eq!(histories.cached_events(), 0);
}
