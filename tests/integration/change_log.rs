//! The projector checkpoint's change log (`SnapshotStore::changes_after`) on both backends:
//! changes are kept by the position of the last event each covers, read back in position
//! order after an exclusive position and bounded by a limit, committed with the summaries and
//! the position, kept across a reopen of the sled database, and cleared with the rest; and the
//! account states' checkpoints and the accounts' rows beside them.

use std::sync::Arc;

use relledger::domain::projection::{
    AlertCode, Grade, Level, Quadrant, RelationshipChange, RelationshipSummary,
};
use relledger::domain::{AccountId, EventId, Timestamp};
use relledger::store::{FileLog, MemorySnapshots, SnapshotPosition, SnapshotStore, StoredRow};

fn summary(account: &str, position: u64, level: Level) -> RelationshipSummary {
    RelationshipSummary {
        account_id: AccountId::parse(account).unwrap(),
        position,
        event_id: EventId::new_random(),
        as_of: Timestamp::from_parts(1_790_841_600, 0).unwrap(),
        params_version: "test".to_string(),
        quadrant: Quadrant::Supplier,
        level,
        grade: Grade::Fair,
        score: 40,
        alert_codes: vec![AlertCode::CadenceLapsed],
        revenue_minor: 1_000,
    }
}

fn change(account: &str, first_position: u64, position: u64) -> RelationshipChange {
    RelationshipChange {
        before: (first_position > 0).then(|| summary(account, first_position - 1, Level::Price)),
        after: summary(account, position, Level::Service),
        first_position,
    }
}

fn row(account: &str, position: u64, bytes: &str) -> StoredRow {
    StoredRow {
        account: AccountId::parse(account).unwrap(),
        position,
        bytes: bytes.as_bytes().to_vec(),
    }
}

/// The rows the store keeps: `a` from the second page, `b` refreshed.
fn rows_kept() -> Vec<StoredRow> {
    vec![row("a", 300, "again"), row("b", 260, "refreshed")]
}

fn at(position: u64) -> SnapshotPosition {
    SnapshotPosition {
        position,
        params_version: "test".to_string(),
    }
}

fn positions(changes: &[RelationshipChange]) -> Vec<u64> {
    changes.iter().map(|c| c.after.position).collect()
}

/// Two pages of changes, committed out of position order within a page, read back in order.
async fn the_change_log_pages_in_position_order(store: &dyn SnapshotStore) {
    assert!(store.changes_after(None, 10).await.unwrap().is_empty());
    let first = vec![change("b", 3, 5), change("a", 0, 0), change("c", 2, 2)];
    let summaries = first.iter().map(|c| c.after.clone()).collect();
    store
        .commit(summaries, first.clone(), vec![], at(9))
        .await
        .unwrap();
    assert_eq!(store.rows().await.unwrap(), None, "not complete yet");
    store
        .commit(
            vec![],
            vec![change("a", 300, 300), change("b", 256, 260)],
            vec![row("a", 300, "page")],
            at(511),
        )
        .await
        .unwrap();
    // A refreshed row replaces one of the same or an earlier position, never a later one.
    let refreshed = vec![row("a", 299, "older"), row("b", 260, "refreshed")];
    store.keep_rows(refreshed).await.unwrap();
    store.keep_rows(vec![row("a", 300, "again")]).await.unwrap();
    store.rows_complete().await.unwrap();
    assert_eq!(store.rows().await.unwrap(), Some(rows_kept()));

    let all = store.changes_after(None, 100).await.unwrap();
    assert_eq!(positions(&all), [0, 2, 5, 260, 300]);
    assert_eq!(all[2], first[0], "a change comes back as stored");
    assert_eq!(
        positions(&store.changes_after(Some(0), 100).await.unwrap()),
        [2, 5, 260, 300]
    );
    assert_eq!(
        positions(&store.changes_after(Some(2), 2).await.unwrap()),
        [5, 260]
    );
    assert_eq!(
        positions(&store.changes_after(Some(5), 100).await.unwrap()),
        [260, 300]
    );
    assert_eq!(
        positions(&store.changes_after(Some(259), 1).await.unwrap()),
        [260]
    );
    assert!(store
        .changes_after(Some(300), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .changes_after(Some(u64::MAX), 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store.changes_after(None, 0).await.unwrap().is_empty());
    assert_eq!(store.position().await.unwrap(), Some(at(511)));
    // Account states' checkpoints, beside the rest and replaced whole.
    let id = |s: &str| AccountId::parse(s).unwrap();
    let kept = vec![(id("a"), b"one".to_vec()), (id("b"), b"two".to_vec())];
    store.keep_account_states(kept).await.unwrap();
    let again = vec![(id("a"), b"three".to_vec())];
    store.keep_account_states(again).await.unwrap();
    assert_eq!(
        store.account_state(&id("a")).await.unwrap(),
        Some(b"three".to_vec())
    );
    assert_eq!(
        store.account_state(&id("b")).await.unwrap(),
        Some(b"two".to_vec())
    );
    assert_eq!(store.account_state(&id("c")).await.unwrap(), None);
    // The summaries of several accounts in one read, in the order asked.
    let got = store
        .summaries_of(vec![id("c"), id("zz"), id("a")])
        .await
        .unwrap();
    let accounts: Vec<Option<&str>> = got
        .iter()
        .map(|s| s.as_ref().map(|s| s.account_id.as_str()))
        .collect();
    assert_eq!(accounts, [Some("c"), None, Some("a")]);
}

#[tokio::test]
async fn the_memory_change_log_pages_in_position_order_and_clears() {
    let store = MemorySnapshots::new();
    the_change_log_pages_in_position_order(&store).await;
    store.clear().await.unwrap();
    assert!(store.changes_after(None, 100).await.unwrap().is_empty());
    assert_eq!(store.position().await.unwrap(), None);
    assert_eq!(store.rows().await.unwrap(), None);
    let a = AccountId::parse("a").unwrap();
    assert_eq!(store.account_state(&a).await.unwrap(), None);
}

#[tokio::test]
async fn the_sled_change_log_pages_in_position_order_survives_a_reopen_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Arc::new(FileLog::open(dir.path()).unwrap());
        let store = log.snapshots().unwrap();
        the_change_log_pages_in_position_order(&store).await;
        drop(store);
        Arc::try_unwrap(log).ok().unwrap().close();
    }
    let log = FileLog::open(dir.path()).unwrap();
    let store = log.snapshots().unwrap();
    let kept = store.changes_after(None, 100).await.unwrap();
    assert_eq!(positions(&kept), [0, 2, 5, 260, 300]);
    // The summaries and the accounts' keys do not leak into the change log, nor it into them.
    assert_eq!(store.summaries().await.unwrap().len(), 3);
    assert_eq!(store.rows().await.unwrap(), Some(rows_kept()));
    let a = AccountId::parse("a").unwrap();
    assert_eq!(
        store.account_state(&a).await.unwrap(),
        Some(b"three".to_vec())
    );
    store.clear().await.unwrap();
    assert!(store.changes_after(None, 100).await.unwrap().is_empty());
    assert!(store.summaries().await.unwrap().is_empty());
    assert_eq!(store.rows().await.unwrap(), None);
    assert_eq!(store.account_state(&a).await.unwrap(), None);
}
