//! The live projector on the durable backend: it resumes from its checkpoint after a restart
//! and projects only the tail, starts over when the scoring rules change, and reports the
//! events that change a relationship.

use std::collections::BTreeMap;
use std::sync::Arc;

use relledger::domain::projection::{Level, Params, Quadrant};
use relledger::domain::projection::{RelationshipChange, RelationshipSummary};
use relledger::domain::time::NANOS_PER_DAY;
use relledger::domain::*;
use relledger::ledger::Ledger;
use relledger::read::projector::Projector;
use relledger::store::{
    ExpectedRevision, FileLog, Log, MemoryLog, MemorySnapshots, SnapshotPosition, SnapshotStore,
    StoreError, StoredRow,
};

/// `days` after a start 60 days before now. The projector judges each event when it is
/// recorded (now), so the history must be recent for orders to count as trailing revenue.
fn day(days: i64) -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let start = now.as_nanos() as i64 - 60 * NANOS_PER_DAY;
    Timestamp::from_unix_nanos(start + days * NANOS_PER_DAY)
}

fn event(days: i64, payload: EventPayload) -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: day(days),
        actor: "li.wei".into(),
        metadata: BTreeMap::new(),
        payload,
    }
}

fn opening(name: &str) -> Vec<ProposedEvent> {
    vec![
        event(
            0,
            EventPayload::AccountOpened(AccountOpened {
                name: name.into(),
                segment: AccountSegment::Standard,
                owner: "li.wei".into(),
                industry: String::new(),
                region: String::new(),
            }),
        ),
        event(
            0,
            EventPayload::ContactAdded(ContactAdded {
                contact_id: "c1".into(),
                name: "Zhang".into(),
                role: ContactRole::DecisionMaker,
                title: String::new(),
                phone: Default::default(),
                email: Default::default(),
                public_official: false,
                notes: Default::default(),
            }),
        ),
    ]
}

fn visit(days: i64) -> ProposedEvent {
    event(
        days,
        EventPayload::Visit(Visit {
            contact_ids: vec!["c1".into()],
            purpose: "report".into(),
            summary: String::new(),
            next_visit_on: None,
            next_visit_pretext: String::new(),
        }),
    )
}

fn order(days: i64, id: &str) -> ProposedEvent {
    let cny = |minor_units| Money {
        currency: "CNY".into(),
        minor_units,
    };
    event(
        days,
        EventPayload::OrderWon(OrderWon {
            order_id: id.into(),
            revenue: cny(1_000_000),
            margin: Some(cny(100_000)),
            product: String::new(),
            description: String::new(),
        }),
    )
}

async fn append<L: Log + 'static>(log: &Arc<L>, account: &str, events: Vec<ProposedEvent>) -> u64 {
    let ledger = Ledger::new(log.clone(), Policy::default());
    let account = AccountId::parse(account).unwrap();
    ledger
        .append(&account, ExpectedRevision::Any, events)
        .await
        .unwrap()
        .last_position
}

async fn projector(log: &Arc<FileLog>, params: Params) -> Projector {
    Projector::open(log.clone(), Arc::new(log.snapshots().unwrap()), params)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_restarted_projector_projects_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    append(&log, "a", opening("A")).await;
    append(&log, "b", opening("B")).await;
    let last = append(&log, "a", vec![visit(3), visit(40)]).await;
    let first = projector(&log, Params::default()).await;
    assert_eq!(first.catch_up().await.unwrap(), 6);
    assert_eq!(*first.progress().borrow(), Some(last));
    drop(first);
    drop(Arc::try_unwrap(log).unwrap());

    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    let resumed = projector(&log, Params::default()).await;
    assert_eq!(
        *resumed.progress().borrow(),
        Some(last),
        "the checkpoint survived the restart"
    );
    append(&log, "b", vec![visit(5), order(6, "o1"), visit(50)]).await;
    assert_eq!(
        resumed.catch_up().await.unwrap(),
        3,
        "only the tail is projected"
    );

    let fresh = Projector::open(
        log.clone(),
        Arc::new(MemorySnapshots::new()),
        Params::default(),
    )
    .await
    .unwrap();
    assert_eq!(fresh.catch_up().await.unwrap(), 9);
    assert_eq!(
        resumed.store().summaries().await.unwrap(),
        fresh.store().summaries().await.unwrap(),
        "resuming from the checkpoint gives what folding the whole log gives"
    );
}

#[tokio::test]
async fn a_checkpoint_made_with_other_scoring_rules_is_rebuilt_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    append(&log, "a", opening("A")).await;
    let first = projector(&log, Params::default()).await;
    first.catch_up().await.unwrap();
    drop(first);

    let other = Params {
        params_version: "test-other-rules",
        ..Params::default()
    };
    let rebuilt = projector(&log, other).await;
    assert_eq!(*rebuilt.progress().borrow(), None);
    assert_eq!(rebuilt.catch_up().await.unwrap(), 2);
    let summaries = rebuilt.store().summaries().await.unwrap();
    assert!(summaries
        .iter()
        .all(|s| s.params_version == "test-other-rules"));
}

#[tokio::test]
async fn the_projector_reports_the_event_that_made_an_outsider_a_supplier() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    let live = projector(&log, Params::default()).await;
    let mut changes = live.changes();
    // Keeping up: the projector catches up after every append, as it does when the head moves.
    append(&log, "a", opening("A")).await;
    live.catch_up().await.unwrap();
    append(&log, "a", vec![visit(2)]).await;
    live.catch_up().await.unwrap();
    let won = order(3, "o1");
    let won_id = won.event_id;
    let position = append(&log, "a", vec![won]).await;
    live.catch_up().await.unwrap();

    let mut reported = Vec::new();
    while let Ok(change) = changes.try_recv() {
        reported.push(change);
    }
    assert!(
        reported[0].before.is_none(),
        "an account's first event is news"
    );
    let last = reported.last().unwrap();
    assert_eq!(
        (last.after.position, last.after.event_id),
        (position, won_id)
    );
    assert_eq!(last.first_position, position, "one event made this change");
    let before = last.before.as_ref().unwrap();
    assert_eq!(
        (before.quadrant, last.after.quadrant),
        (Quadrant::Outsider, Quadrant::Supplier)
    );
    assert_eq!(
        (before.level, last.after.level),
        (Level::None, Level::Price)
    );
}

#[tokio::test]
async fn catching_up_judges_an_accounts_events_in_a_page_together() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    append(&log, "a", opening("A")).await;
    append(&log, "a", vec![visit(2)]).await;
    let position = append(&log, "a", vec![order(3, "o1")]).await;
    let late = projector(&log, Params::default()).await;
    let mut changes = late.changes();
    late.catch_up().await.unwrap();

    let change = changes.try_recv().expect("one change for the page");
    assert!(
        changes.try_recv().is_err(),
        "the account's events were judged once"
    );
    assert_eq!(
        (change.first_position, change.after.position),
        (0, position)
    );
    assert!(change.before.is_none());
    assert_eq!(change.after.quadrant, Quadrant::Supplier);
}

/// A checkpoint store whose first `commit` fails, as a full disk would, and which then works.
struct FailsFirstCommit {
    inner: MemorySnapshots,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl SnapshotStore for FailsFirstCommit {
    async fn position(&self) -> Result<Option<SnapshotPosition>, StoreError> {
        self.inner.position().await
    }
    async fn summary(
        &self,
        account: &AccountId,
    ) -> Result<Option<RelationshipSummary>, StoreError> {
        self.inner.summary(account).await
    }
    async fn summaries(&self) -> Result<Vec<RelationshipSummary>, StoreError> {
        self.inner.summaries().await
    }
    async fn commit(
        &self,
        summaries: Vec<RelationshipSummary>,
        changes: Vec<RelationshipChange>,
        rows: Vec<StoredRow>,
        position: SnapshotPosition,
    ) -> Result<(), StoreError> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the disk is full".into()));
        }
        self.inner.commit(summaries, changes, rows, position).await
    }
    async fn keep_rows(&self, rows: Vec<StoredRow>) -> Result<(), StoreError> {
        self.inner.keep_rows(rows).await
    }
    async fn rows_complete(&self) -> Result<(), StoreError> {
        self.inner.rows_complete().await
    }
    async fn rows(&self) -> Result<Option<Vec<StoredRow>>, StoreError> {
        self.inner.rows().await
    }
    async fn changes_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RelationshipChange>, StoreError> {
        self.inner.changes_after(after, limit).await
    }
    async fn account_state(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.account_state(account).await
    }
    async fn keep_account_states(
        &self,
        states: Vec<(AccountId, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.inner.keep_account_states(states).await
    }
    async fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear().await
    }
}

#[tokio::test]
async fn a_failed_page_is_projected_again_even_when_the_log_does_not_move() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    let last = append(&log, "quiet", opening("Quiet Co")).await;
    let store = Arc::new(FailsFirstCommit {
        inner: MemorySnapshots::new(),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let projector = Arc::new(
        Projector::open(log.clone(), store.clone(), Params::default())
            .await
            .unwrap(),
    );
    let mut progress = projector.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The head as the projector sees it is already current: no move of the log can wake it.
    let mut head = log.watch_head();
    head.borrow_and_update();
    let running = tokio::spawn({
        let projector = Arc::clone(&projector);
        async move {
            projector
                .run(head, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    // Nothing is appended after the failure: only the retry can move the projector on. The
    // bound only keeps a regression from hanging the suite.
    let reached = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        progress.wait_for(|p| *p == Some(last)),
    )
    .await;
    assert!(reached.is_ok(), "the projector never retried its page");
    assert!(store.failed.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(store.summaries().await.unwrap().len(), 1);
    stop.send(()).unwrap();
    running.await.unwrap();
}

/// The running projector paces itself while it keeps up: after the head moves it waits (at
/// least `PACE_LEAST`) before it reads the log, so appends that arrive in that wait share one
/// page and one fold of the account, and the change they make names the first and the last.
#[tokio::test(start_paused = true)]
async fn appends_that_arrive_while_the_projector_paces_itself_are_judged_together() {
    let log = Arc::new(MemoryLog::new());
    let projector = Arc::new(
        Projector::open(
            log.clone(),
            Arc::new(MemorySnapshots::new()),
            Params::default(),
        )
        .await
        .unwrap(),
    );
    let mut changes = projector.changes();
    let mut progress = projector.progress();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let (projector, head) = (Arc::clone(&projector), log.watch_head());
        async move {
            projector
                .run(head, async {
                    let _ = stopped.await;
                })
                .await
        }
    });

    let opened = append(&log, "a", opening("A")).await;
    progress.wait_for(|p| *p == Some(opened)).await.unwrap();
    let opening_change = changes.recv().await.unwrap();
    assert_eq!(opening_change.after.position, opened);

    // A visit, then half the shortest pace later (the projector has run since, and is
    // waiting), the order that makes the account a supplier.
    let visited = append(&log, "a", vec![visit(2)]).await;
    tokio::time::advance(relledger::read::projector::PACE_LEAST / 2).await;
    let won = append(&log, "a", vec![order(3, "o1")]).await;
    progress.wait_for(|p| *p == Some(won)).await.unwrap();

    let change = changes.recv().await.unwrap();
    assert_eq!(
        (change.first_position, change.after.position),
        (visited, won),
        "the visit and the order were judged in one page"
    );
    assert_eq!(change.before.map(|b| b.quadrant), Some(Quadrant::Outsider));
    assert_eq!(change.after.quadrant, Quadrant::Supplier);
    assert!(changes.try_recv().is_err(), "one fold, one change");
    stop.send(()).unwrap();
    running.await.unwrap();
}
