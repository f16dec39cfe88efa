use std::time::Duration;

use super::*;

#[test]
fn a_full_page_is_paced_while_live_and_hurried_when_starting_or_far_behind() {
    assert_eq!(next_step(0, true, 0), Step::AwaitHead);
    assert_eq!(
        next_step(PAGE - 1, false, 0),
        Step::AwaitHead,
        "at the head"
    );
    assert_eq!(next_step(PAGE, true, 10), Step::PaceThenNext, "keeping up");
    assert_eq!(next_step(PAGE, true, PACED_BACKLOG), Step::PaceThenNext);
    assert_eq!(
        next_step(PAGE, true, PACED_BACKLOG + 1),
        Step::Next,
        "fell behind"
    );
    assert_eq!(
        next_step(PAGE, false, 10),
        Step::Next,
        "catching up since the start"
    );
}

#[test]
fn an_idle_spell_counts_toward_the_pace() {
    let pace = Duration::from_millis(600);
    assert_eq!(
        pace_left(pace, Duration::ZERO),
        pace,
        "appended to all along"
    );
    assert_eq!(
        pace_left(pace, Duration::from_millis(200)),
        Duration::from_millis(400)
    );
    assert_eq!(
        pace_left(pace, Duration::from_secs(5)),
        Duration::ZERO,
        "quiet for longer than the pace: at once"
    );
}

#[test]
fn the_pace_is_a_multiple_of_the_last_page_within_its_bounds() {
    assert_eq!(pace_after(Duration::ZERO, 1.0), PACE_LEAST);
    assert_eq!(
        pace_after(Duration::from_millis(3), 1.0),
        Duration::from_millis(3) * PACE_DUTY
    );
    assert_eq!(pace_after(Duration::from_secs(10), 1.0), PACE_MOST);
    assert_eq!(pace_after(Duration::MAX, 1.0), PACE_MOST, "no overflow");
    assert_eq!(pace_after(Duration::MAX, 0.0), PACE_MOST, "no overflow");
}

#[test]
fn the_pace_grows_with_the_share_of_accounts_folded_again() {
    let page = Duration::from_millis(4);
    assert_eq!(
        pace_after(page, 0.0),
        page,
        "every account new: wait once the page"
    );
    assert_eq!(pace_after(page, 0.5), page * (1 + PACE_DUTY) / 2);
    assert_eq!(
        pace_after(page, 1.0),
        page * PACE_DUTY,
        "the same accounts again"
    );
    assert_eq!(
        pace_after(page, f64::NAN),
        page * PACE_DUTY,
        "unknown: as if all"
    );
    assert_eq!(pace_after(page, 7.0), page * PACE_DUTY);
}

#[test]
fn a_page_s_time_in_the_store_counts_as_far_as_its_accounts_were_folded_again() {
    let (page, store) = (Duration::from_millis(70), Duration::from_millis(60));
    assert_eq!(
        page_work(page, store, 1.0),
        page,
        "merging folds: the whole page"
    );
    assert_eq!(page_work(page, store, 0.0), Duration::from_millis(10));
    assert_eq!(page_work(page, store, 0.5), Duration::from_millis(40));
    assert_eq!(page_work(page, store, f64::NAN), page);
    assert_eq!(
        page_work(store, page, 0.0),
        Duration::ZERO,
        "no less than nothing"
    );
}

/// The share the pace is set by: a page folding the accounts the last one folded is all
/// repeats; one folding others none.
#[tokio::test]
async fn a_page_reports_the_share_of_its_accounts_the_last_page_folded() {
    use crate::domain::event::AccountSegment;
    use crate::domain::projection::testkit::Log as History;
    use crate::domain::AccountId;
    use crate::store::{ExpectedRevision, MemoryLog};

    let log: Arc<dyn Log> = Arc::new(MemoryLog::new());
    let projector = Projector::in_memory(&log).await;
    let append = |accounts: &'static [&'static str]| {
        let log = Arc::clone(&log);
        async move {
            for account in accounts {
                let mut history = History::opened(AccountSegment::Standard);
                history.visit(1, &["c1"]);
                let mut event = history.events.pop().unwrap().event;
                event.event_id = crate::domain::EventId::new_random();
                let id = AccountId::parse(*account).unwrap();
                log.append(&id, ExpectedRevision::Any, vec![event])
                    .await
                    .unwrap();
            }
        }
    };
    append(&["a", "b"]).await;
    let page = projector.project_page_folded().await.unwrap();
    assert_eq!((page.records, page.repeated), (2, 0.0));
    append(&["a", "b"]).await;
    let page = projector.project_page_folded().await.unwrap();
    assert_eq!((page.records, page.repeated), (2, 1.0));
    append(&["b", "c", "d", "e"]).await;
    let page = projector.project_page_folded().await.unwrap();
    assert_eq!((page.records, page.repeated), (4, 0.25));
    append(&["f"]).await;
    let page = projector.project_page_folded().await.unwrap();
    assert_eq!((page.records, page.repeated), (1, 0.0));
}

/// Without room for states the projector builds each one from the log every page: slower, but
/// every summary is the same as with every state kept.
#[tokio::test]
async fn the_state_budget_bounds_the_kept_states_and_changes_no_summary() {
    use crate::domain::event::{AccountSegment, ContactRole};
    use crate::domain::projection::testkit::Log as History;
    use crate::domain::AccountId;
    use crate::store::{ExpectedRevision, MemoryLog, MemorySnapshots};

    let log: Arc<dyn Log> = Arc::new(MemoryLog::new());
    let accounts: Vec<AccountId> = ["a", "b", "c"]
        .iter()
        .map(|a| AccountId::parse(*a).unwrap())
        .collect();
    let open = |budget| {
        let log = Arc::clone(&log);
        async move {
            Projector::open(log, Arc::new(MemorySnapshots::new()), Params::default())
                .await
                .unwrap()
                .with_state_budget(budget)
        }
    };
    let (none, all) = (open(0).await, open(1_000_000).await);
    for round in 0..3 {
        for account in &accounts {
            let mut history = History::opened(AccountSegment::Standard);
            history.contact(1, "dm", ContactRole::DecisionMaker);
            history.visit(2 + round, &["dm"]);
            let mut events: Vec<_> = history.events.into_iter().map(|r| r.event).collect();
            if round > 0 {
                // The account is open: only the visit.
                events.drain(..2);
            }
            for event in &mut events {
                event.event_id = crate::domain::EventId::new_random();
            }
            log.append(account, ExpectedRevision::Any, events)
                .await
                .unwrap();
        }
        none.catch_up().await.unwrap();
        all.catch_up().await.unwrap();
        for account in &accounts {
            let kept = all.store().summary(account).await.unwrap();
            assert!(kept.is_some());
            assert_eq!(none.store().summary(account).await.unwrap(), kept);
        }
    }
    assert_eq!(none.states().weight(), 0, "no state kept");
    assert!(all.states().weight() > 0);
}

/// A long history's compact state is checkpointed as the projector goes, and a projector
/// reopened over the same store with no room for states in memory summarizes from it alike.
#[tokio::test]
async fn a_long_historys_state_is_checkpointed_and_summarizes_alike_after_a_restart() {
    use crate::domain::event::{AccountSegment, ContactRole};
    use crate::domain::projection::testkit::Log as History;
    use crate::domain::AccountId;
    use crate::store::{ExpectedRevision, MemoryLog, MemorySnapshots, SnapshotStore};

    let log: Arc<dyn Log> = Arc::new(MemoryLog::new());
    let account = AccountId::parse("long").unwrap();
    let mut history = History::opened(AccountSegment::Standard);
    history.contact(1, "qa", ContactRole::TechnicalEvaluator);
    for d in 2..2_600 {
        history.visit(d, &["qa"]);
    }
    let mut events: Vec<_> = history.events.into_iter().map(|r| r.event).collect();
    let later = events.split_off(2_500);
    log.append(&account, ExpectedRevision::Any, events)
        .await
        .unwrap();
    let store = Arc::new(MemorySnapshots::new());
    let projector = Projector::open(Arc::clone(&log), store.clone(), Params::default())
        .await
        .unwrap();
    projector.catch_up().await.unwrap();
    assert!(store.account_state(&account).await.unwrap().is_some());
    log.append(&account, ExpectedRevision::Any, later)
        .await
        .unwrap();
    let restarted = Projector::open(Arc::clone(&log), store.clone(), Params::default())
        .await
        .unwrap()
        .with_state_budget(0);
    restarted.catch_up().await.unwrap();
    let fresh = Projector::open(log, Arc::new(MemorySnapshots::new()), Params::default())
        .await
        .unwrap();
    fresh.catch_up().await.unwrap();
    let summary = restarted.store().summary(&account).await.unwrap();
    assert_eq!(summary.as_ref().map(|s| s.position), Some(2_599));
    assert_eq!(summary, fresh.store().summary(&account).await.unwrap());
}
