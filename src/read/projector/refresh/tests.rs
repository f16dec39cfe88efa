use std::sync::Arc;

use super::*;
use crate::clock::now;
use crate::domain::event::ContactRole;
use crate::domain::projection::testkit::{day, Log as History};
use crate::domain::projection::Params;
use crate::domain::{AccountSegment, ProposedEvent, Timestamp};
use crate::store::{ExpectedRevision, MemoryLog, SnapshotStore};

fn account() -> AccountId {
    AccountId::parse("acct-b").unwrap()
}

fn events() -> Vec<ProposedEvent> {
    let mut h = History::opened(AccountSegment::Standard);
    h.contact(1, "dm", ContactRole::DecisionMaker);
    h.visit(2, &["dm"]);
    h.events.into_iter().map(|r| r.event).collect()
}

/// A log holding the account's events, and a projector that projected them.
async fn projected() -> (Arc<dyn Log>, Projector) {
    let log: Arc<dyn Log> = Arc::new(MemoryLog::new());
    log.append(&account(), ExpectedRevision::NoStream, events())
        .await
        .unwrap();
    let projector = Projector::in_memory(&log).await;
    projector.catch_up().await.unwrap();
    (log, projector)
}

/// A row whose instant has passed is folded again as of now, over the same events; one that
/// holds is left alone.
#[tokio::test]
async fn the_refresher_folds_a_row_again_once_its_instant_passes() {
    let (log, projector) = projected().await;
    let rows = projector.live_rows().rows;
    let answering = |rows: &crate::read::rows::Rows, t: Timestamp| {
        rows.at(|table| table.accounts().find_map(|(_, kept)| kept.at(t).cloned()))
            .1
    };

    let history: Vec<RecordedEvent> = log
        .read_stream(&account(), None, Direction::Forwards, None)
        .try_collect()
        .await
        .unwrap();
    let params = Params::default();
    let state = StateAt::of(history, &params);
    let old = Row::judge(&state, day(5), &params).unwrap();
    rows.refreshed(vec![(account(), old.clone())]);
    assert!(old.until <= now());

    let before = now();
    assert_eq!(projector.refresh_due().await.unwrap(), 1);
    let at = now();
    let refreshed = answering(&rows, at).expect("a row answers for now");
    assert!(refreshed.summary.as_of >= before);
    assert_eq!(refreshed.position(), old.position());
    assert_eq!(
        refreshed,
        Row::judge_in_full(&state, refreshed.summary.as_of, &params).unwrap()
    );
    assert!(
        refreshed.brief.is_some(),
        "a refreshed row carries its brief"
    );
    // The next one, for when that one ends, is folded ahead of its end.
    let ahead = refreshed
        .until
        .plus_nanos(-(crate::read::rows::AHEAD.as_nanos() as i64));
    let due = rows.due(ahead.max(at), 10);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].at, Some(refreshed.until.plus_nanos(1)));
}

/// A row at the position the account's kept state is at is judged from the state, without a
/// read; one at another position reads the history.
#[tokio::test]
async fn a_row_at_the_kept_states_position_is_judged_from_the_state() {
    let (log, projector) = projected().await;
    let last = log.head().next_position - 1;
    let asked = vec![(account(), last, None), (account(), last - 1, None)];
    let read = events_up_to(&*log, &projector.histories, &projector.states, asked)
        .await
        .unwrap();
    match &read[..] {
        [(_, UpTo::Kept(kept), _), (_, UpTo::Read(history), _)] => {
            assert_eq!(kept.position, Some(last));
            assert_eq!(history.last().map(|r| r.position), Some(last - 1));
        }
        _ => panic!(
            "the kept state at {last}, then a history read up to {}",
            last - 1
        ),
    }
    // Either way the row is the same as from the history read whole.
    let params = Params::default();
    let rows = judge_each(read, &params);
    let whole = events_up_to(
        &*log,
        &projector.histories,
        &States::new(Arc::clone(&log), params.clone(), 0),
        vec![(account(), last, rows[0].1.summary.as_of.into())],
    )
    .await
    .unwrap();
    assert_eq!(judge_each(whole, &params)[0].1, rows[0].1);
}

/// A restarted projector answers from the rows its store kept, refreshed ones and their briefs
/// included: they are complete at once, without a build. A store whose rows are not complete
/// (written before rows were kept) has them built, and kept.
#[tokio::test]
async fn a_restarted_projector_loads_the_rows_its_store_kept() {
    let log: Arc<dyn Log> = Arc::new(MemoryLog::new());
    log.append(&account(), ExpectedRevision::NoStream, events())
        .await
        .unwrap();
    let params = Params::default();
    let store = Arc::new(crate::store::MemorySnapshots::new());
    let first = Projector::open(Arc::clone(&log), store.clone(), params.clone())
        .await
        .unwrap();
    first.catch_up().await.unwrap();
    let rows = first.live_rows().rows;
    // A row whose instant has passed, folded again by the refresher as of now.
    let history: Vec<RecordedEvent> = log
        .read_stream(&account(), None, Direction::Forwards, None)
        .try_collect()
        .await
        .unwrap();
    let old = Row::judge(&StateAt::of(history, &params), day(5), &params).unwrap();
    rows.refreshed(vec![(account(), old)]);
    assert_eq!(first.refresh_due().await.unwrap(), 1);
    let at = now();
    let answering = |rows: &crate::read::rows::Rows| {
        rows.at(|table| table.accounts().find_map(|(_, kept)| kept.at(at).cloned()))
            .1
    };
    let refreshed = answering(&rows).expect("the refreshed row answers for now");
    drop(first);

    let second = Projector::open(Arc::clone(&log), store.clone(), params.clone())
        .await
        .unwrap();
    let rows = second.live_rows().rows;
    assert!(rows.is_built(), "loaded, not built");
    let loaded = answering(&rows).expect("the stored row answers for now");
    assert!(refreshed.brief.is_some());
    assert_eq!(loaded, refreshed, "the refreshed row, its brief to the bit");

    // The same checkpoint without complete rows: built, then kept.
    let older = Arc::new(crate::store::MemorySnapshots::new());
    let position = store.position().await.unwrap().unwrap();
    older
        .commit(vec![], vec![], vec![], position.clone())
        .await
        .unwrap();
    let third = Projector::open(Arc::clone(&log), older.clone(), params)
        .await
        .unwrap();
    assert!(!third.live_rows().rows.is_built());
    assert!(older.rows().await.unwrap().is_none());
    third.build_rows().await.unwrap();
    assert!(third.live_rows().rows.is_built());
    let kept = older.rows().await.unwrap().expect("complete once built");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].position, position.position);
}
