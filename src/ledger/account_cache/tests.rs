use super::*;
use crate::domain::projection::testkit;
use crate::domain::{AccountSegment, EventId, Policy, ProposedEvent};
use crate::ledger::LedgerError;
use crate::store::{ExpectedRevision, MemoryLog};

/// The events of a testkit log, with fresh ids, as proposals.
fn proposals(log: testkit::Log) -> Vec<ProposedEvent> {
    log.events
        .into_iter()
        .map(|r| ProposedEvent {
            event_id: EventId::new_random(),
            ..r.event
        })
        .collect()
}

fn id(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

#[tokio::test]
async fn an_account_that_fell_out_of_the_cache_is_validated_against_its_whole_history() {
    let log = Arc::new(MemoryLog::new());
    let mut ledger = Ledger::new(log.clone(), Policy::default());
    ledger.cached_accounts = 2;
    for account in ["a", "b", "c"] {
        let mut history = testkit::Log::opened(AccountSegment::Standard);
        history.contact(1, "boss", crate::domain::ContactRole::DecisionMaker);
        history.promise(2, "p1", Some("boss"), 30);
        ledger
            .append(&id(account), ExpectedRevision::NoStream, proposals(history))
            .await
            .unwrap();
    }
    assert_eq!(ledger.accounts.lock().unwrap().len(), 2, "a fell out");
    assert!(!ledger.accounts.lock().unwrap().contains(&id("a")));

    // a's state is folded again: its promise is known, and making it twice is refused.
    let mut more = testkit::Log::opened(AccountSegment::Standard);
    more.promise(3, "p1", Some("boss"), 40);
    let again = proposals(more).pop().unwrap();
    let refused = ledger
        .append(&id("a"), ExpectedRevision::Any, vec![again])
        .await;
    assert!(
        matches!(refused, Err(LedgerError::Invalid(_))),
        "{refused:?}"
    );
    let mut keep = testkit::Log::opened(AccountSegment::Standard);
    keep.kept(4, "p1");
    let kept = proposals(keep).pop().unwrap();
    let outcome = ledger
        .append(&id("a"), ExpectedRevision::Exact(2), vec![kept])
        .await
        .unwrap();
    assert_eq!(outcome.last_revision, 3);
    assert_eq!(ledger.accounts.lock().unwrap().len(), 2);
}
