//! Lists and the portfolio from the kept rows are the walk's, byte for byte: over one state of
//! the log and one instant, with rows that still hold, rows whose instant has passed (folded by
//! the question), every order, filters, a scope and an event dated ahead.

use std::sync::Arc;

use super::*;
use crate::domain::event::{AccountSegment, ContactRole, ProofKind};
use crate::domain::projection::testkit::Log as History;
use crate::domain::projection::{
    project_unexplained, AlertCode, Grade, Params, Quadrant, RelationshipBrief,
};
use crate::domain::time::NANOS_PER_DAY;
use crate::domain::{ProposedEvent, RecordedEvent};
use crate::read::projector::Projector;
use crate::read::relationships::{ListFilter, ListOrder};
use crate::read::states::StateAt;
use crate::store::{ExpectedRevision, Log, MemoryLog, MemorySnapshots, SnapshotStore};
use futures::TryStreamExt;

const ACCOUNTS: usize = 120;

fn account(i: usize) -> AccountId {
    AccountId::parse(format!("{}:acct-{i:03}", ["east", "west"][i % 2])).unwrap()
}

/// Account `i`'s events over the last year and a half, each shifted by a time of day of its
/// own so that the rows' instants differ: contacts (one leaves on some), visits, promises
/// (some left open past their due date), orders, invoices, favors and help.
fn events(i: usize, today: i64) -> Vec<ProposedEvent> {
    let d = |back: i64| today - back;
    let mut h = History::opened(if i.is_multiple_of(4) {
        AccountSegment::Key
    } else {
        AccountSegment::Standard
    });
    h.contact(d(500), "dm", ContactRole::DecisionMaker);
    h.contact(d(490), "eng", ContactRole::TechnicalEvaluator);
    for k in 0..(i % 7) as i64 {
        h.visit(d(400 - 45 * k), &["dm", "eng"]);
        h.call(d(390 - 40 * k), "eng");
    }
    if i.is_multiple_of(3) {
        h.promise(d(60), &format!("p{i}"), Some("dm"), d(50));
        h.kept(d(45), &format!("p{i}"));
    }
    if i % 5 == 1 {
        // Due within days: overdue at one of the instants the test asks about, not at another.
        h.promise(d(20), &format!("q{i}"), Some("eng"), d(5));
    }
    for k in 0..(i % 4) as i64 {
        h.order(
            d(300 - 80 * k),
            10_000 * (1 + (i as i64 * 7) % 13),
            Some(2_000),
        );
    }
    if i % 6 == 2 {
        h.invoice(d(40), &format!("inv{i}"), 5_000, d(10));
    }
    if i % 8 == 3 {
        h.favor(d(30), "dm", 20_000);
        h.solution(d(200), &["eng"]);
        h.proof(d(150), ProofKind::TestReport);
    }
    if i % 9 == 4 {
        h.critical(d(100), &["dm"]);
        h.left(d(3), "dm");
    }
    let shift = (i as i64 * 2_437) % 86_400 * 1_000_000_000;
    h.events
        .into_iter()
        .map(|record| {
            let mut event = record.event;
            event.event_id = crate::domain::EventId::new_random();
            event.occurred_at = Timestamp::from_unix_nanos(
                event.occurred_at.unix_nanos() - 10 * 3_600_000_000_000 + shift,
            );
            event
        })
        .collect()
}

/// A log of [`ACCOUNTS`] accounts and the same service twice over it: one answering from the
/// rows of a projector that has caught up, one walking.
async fn setup() -> (Arc<dyn Log>, Relationships, Relationships, Arc<Projector>) {
    let log: Arc<dyn Log> = Arc::new(MemoryLog::new());
    let today = crate::clock::now().day_number();
    for n in 0..ACCOUNTS {
        let i = (n * 7) % ACCOUNTS;
        log.append(&account(i), ExpectedRevision::NoStream, events(i, today))
            .await
            .unwrap();
    }
    let projector = Arc::new(
        Projector::open(
            Arc::clone(&log),
            Arc::new(MemorySnapshots::new()),
            Params::default(),
        )
        .await
        .unwrap(),
    );
    projector.catch_up().await.unwrap();
    let rows =
        Relationships::new(Arc::clone(&log), Params::default()).with_rows(projector.live_rows());
    let walks = Relationships::new(Arc::clone(&log), Params::default());
    (log, rows, walks, projector)
}

/// The instants asked about: now, when every row still holds; an hour, three days and a year
/// and a half on, when some or all have passed their instant.
fn moments() -> Vec<Timestamp> {
    let now = crate::clock::now();
    [0, 3_600_000_000_000, 3 * NANOS_PER_DAY, 550 * NANOS_PER_DAY]
        .into_iter()
        .map(|ahead| Timestamp::from_unix_nanos(now.unix_nanos() + ahead))
        .collect()
}

fn queries() -> Vec<ListQuery> {
    let east = AccountScope::of_prefixes(vec!["east:".to_string()]);
    let filters = [
        ListFilter::default(),
        ListFilter {
            grades: vec![Grade::Good, Grade::Fair],
            ..ListFilter::default()
        },
        ListFilter {
            quadrants: vec![Quadrant::Supplier, Quadrant::Partner],
            ..ListFilter::default()
        },
        ListFilter {
            alert_codes: vec![AlertCode::PromiseOverdue, AlertCode::ReceivablesOverdue],
            ..ListFilter::default()
        },
        ListFilter {
            owners: vec!["li".to_string()],
            scope: east,
            ..ListFilter::default()
        },
    ];
    let mut queries = Vec::new();
    for filter in filters {
        for order in [ListOrder::AccountId, ListOrder::Trust, ListOrder::Revenue] {
            queries.push(ListQuery {
                filter: filter.clone(),
                order,
                ..ListQuery::default()
            });
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_from_the_rows_is_the_walks_at_every_instant() {
    let (log, rows, walks, _projector) = setup().await;
    let head = log.head().next_position - 1;
    for moment in moments() {
        for query in queries() {
            let (listing, cut, as_of) = rows
                .listing_from_rows(&query, moment)
                .await
                .unwrap()
                .expect("the rows answer once the projector has caught up");
            assert_eq!(cut.max_position, Some(head));
            let walked = Cut {
                max_position: Some(head),
                known_at: None,
                judged: Judged::NoEarlierThan(moment),
            };
            let (expected, walked_as_of) = walks
                .listing(walked, Judged::NoEarlierThan(moment), &query)
                .await
                .unwrap();
            assert_eq!(as_of, walked_as_of, "{query:?} at {moment:?}");
            assert_eq!(listing, expected, "{query:?} at {moment:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portfolio_from_the_rows_is_the_walks_at_every_instant() {
    let (log, rows, walks, _projector) = setup().await;
    let head = log.head().next_position - 1;
    let scopes = [
        AccountScope::default(),
        AccountScope::of_prefixes(vec!["west:".to_string()]),
    ];
    for moment in moments() {
        for scope in &scopes {
            let answer = rows.portfolio_from_rows(scope, moment).await.unwrap();
            let walked = Cut {
                max_position: Some(head),
                known_at: None,
                judged: Judged::NoEarlierThan(moment),
            };
            let expected = walks.portfolio_walk(walked, scope).await.unwrap();
            assert_eq!(answer, Some(expected), "{scope:?} at {moment:?}");
        }
    }
}

/// The rows a question folds because their instant had passed are kept: the next question at
/// that instant finds every row holding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_a_question_folds_again_are_kept() {
    let (_log, rows, _walks, projector) = setup().await;
    let later = moments()[3];
    let holding = |at: Timestamp| {
        let live = projector.live_rows();
        live.rows
            .at(|rows| {
                rows.accounts()
                    .filter(|(_, kept)| kept.at(at).is_some())
                    .count()
            })
            .1
    };
    assert_eq!(holding(later), 0, "no row holds a year and a half on");
    let (_, _, as_of) = rows
        .listing_from_rows(&ListQuery::default(), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holding(as_of), ACCOUNTS);
}

/// A projector resumed from a checkpoint answers from the rows its store kept at once. One
/// whose store's rows are not complete (written before rows were kept) has rows only for what
/// its tail touches: lists walk until the rows of every other account are built, and answer
/// from the rows after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_used_only_once_every_account_has_one() {
    let (log, _rows, walks, projector) = setup().await;
    let store = Arc::clone(projector.store());
    let query = ListQuery::default();
    let moment = crate::clock::now();
    let reopened = Projector::open(Arc::clone(&log), Arc::clone(&store), Params::default())
        .await
        .unwrap();
    let service =
        Relationships::new(Arc::clone(&log), Params::default()).with_rows(reopened.live_rows());
    let (listing, cut, _) = service
        .listing_from_rows(&query, moment)
        .await
        .unwrap()
        .expect("the stored rows answer at once");
    let (expected, _) = walks.listing(cut, cut.judged, &query).await.unwrap();
    assert_eq!(listing, expected);

    let incomplete: Arc<dyn SnapshotStore> = Arc::new(MemorySnapshots::new());
    let position = store.position().await.unwrap().unwrap();
    incomplete
        .commit(vec![], vec![], vec![], position)
        .await
        .unwrap();
    let resumed = Arc::new(
        Projector::open(Arc::clone(&log), incomplete, Params::default())
            .await
            .unwrap(),
    );
    let service =
        Relationships::new(Arc::clone(&log), Params::default()).with_rows(resumed.live_rows());
    assert!(
        service
            .gather_rows(moment, &AccountScope::default(), |_, _| Some(()))
            .await
            .unwrap()
            .is_none(),
        "rows not yet built must not answer"
    );
    resumed.build_rows().await.unwrap();
    assert_eq!(resumed.live_rows().rows.len(), ACCOUNTS);
    let (listing, cut, _) = service
        .listing_from_rows(&query, moment)
        .await
        .unwrap()
        .expect("built rows answer");
    let (expected, _) = walks.listing(cut, cut.judged, &query).await.unwrap();
    assert_eq!(listing, expected);
}

/// Account `n`'s events, in stream order.
async fn history_of(log: &dyn Log, n: usize) -> Vec<RecordedEvent> {
    log.read_stream(&account(n), None, crate::store::Direction::Forwards, None)
        .try_collect()
        .await
        .unwrap()
}

/// Every account's row folded in full (with its brief) as of `at`, as the refresher leaves it.
async fn rows_in_full(log: &Arc<dyn Log>, projector: &Projector, at: Timestamp) {
    let mut rows = Vec::new();
    for n in 0..ACCOUNTS {
        let history = history_of(log.as_ref(), n).await;
        let as_of = Judged::NoEarlierThan(at).instant(history.iter().map(|r| r.event.occurred_at));
        let params = Params::default();
        let row = Row::judge_in_full(&StateAt::of(history, &params), as_of, &params).unwrap();
        rows.push((account(n), row));
    }
    projector.live_rows().rows.refreshed(rows);
}

/// A kept brief, re-dated to any instant its row holds at, is what a fold at that instant
/// gives; past the row's end, or for a state of the log before the row's events, there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_brief_is_the_fold_at_every_instant_its_row_holds() {
    let (log, _rows, _walks, projector) = setup().await;
    let at = crate::clock::now();
    rows_in_full(&log, &projector, at).await;
    let live = projector.live_rows();
    let head = log.head().next_position - 1;
    for n in 0..ACCOUNTS {
        let history = history_of(log.as_ref(), n).await;
        // The instant the row was judged at, where it holds whatever the clock says by now.
        let judged = Judged::NoEarlierThan(at).instant(history.iter().map(|r| r.event.occurred_at));
        let row = live
            .rows
            .at(|rows| {
                rows.accounts()
                    .find(|(a, _)| **a == account(n))
                    .and_then(|(_, kept)| kept.at(judged).cloned())
            })
            .1
            .unwrap();
        assert_eq!(row.summary.as_of, judged);
        let (from, until) = (row.summary.as_of, row.until);
        let last = until.plus_nanos(-1);
        let middle = Timestamp::from_unix_nanos(from.unix_nanos() / 2 + last.unix_nanos() / 2);
        for t in [from, middle, last] {
            let expected =
                RelationshipBrief::of(&project_unexplained(&history, t, &Params::default()));
            assert_eq!(live.rows.brief_at(&account(n), t, head), Some(expected));
        }
        assert_eq!(live.rows.brief_at(&account(n), until, head), None);
        let before_its_last = history.last().unwrap().position - 1;
        assert_eq!(live.rows.brief_at(&account(n), from, before_its_last), None);
    }
}

/// The pages of a list answered from rows with briefs are the pages a walking server gives for
/// the same tokens, and its first page is the walk's first page at that instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_from_the_rows_are_the_walks() {
    let (log, rows, walks, projector) = setup().await;
    rows_in_full(&log, &projector, crate::clock::now()).await;
    let query = ListQuery {
        order: ListOrder::Revenue,
        page_size: 25,
        ..ListQuery::default()
    };
    let first = rows.list(query.clone()).await.unwrap();
    assert_eq!(first.relationships.len(), 25);
    // The first page at that instant, walked: the walk's listing, its first 25 folded.
    let head = log.head().next_position - 1;
    let cut = Cut {
        max_position: Some(head),
        known_at: None,
        judged: Judged::At(first.as_of),
    };
    let (listing, _) = walks
        .listing(cut, Judged::At(first.as_of), &query)
        .await
        .unwrap();
    let mut expected = Vec::new();
    for key in listing.iter().take(25) {
        let events = read_account(&*log, &key.account, &cut).await.unwrap();
        expected.push(RelationshipBrief::of(&project_unexplained(
            &events,
            first.as_of,
            &Params::default(),
        )));
    }
    assert_eq!(first.relationships, expected);
    let mut token = first.next_page_token;
    let mut pages = 1;
    while let Some(next) = token {
        let query = ListQuery {
            page_token: Some(next),
            ..query.clone()
        };
        let page = rows.list(query.clone()).await.unwrap();
        assert_eq!(walks.list(query).await.unwrap(), page);
        token = page.next_page_token;
        pages += 1;
    }
    assert_eq!(pages, ACCOUNTS.div_ceil(25));
}

/// A list page folds the briefs its rows lack (a page's rows have none) and leaves them on the
/// rows, so that the next list takes them without a fold, and answers the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_leaves_the_briefs_it_folded_on_the_rows() {
    let (_log, rows, _walks, projector) = setup().await;
    let live = projector.live_rows().rows;
    let briefed = |t: Timestamp| {
        live.at(|table| {
            table
                .accounts()
                .filter(|(_, kept)| kept.at(t).is_some_and(|row| row.brief.is_some()))
                .count()
        })
        .1
    };
    let query = ListQuery {
        page_size: 3,
        ..ListQuery::default()
    };
    let first = rows.list(query.clone()).await.unwrap();
    assert_eq!(first.relationships.len(), 3);
    assert_eq!(
        briefed(first.as_of),
        3,
        "the page's three rows took their briefs"
    );
    let second = rows.list(query).await.unwrap();
    let redated: Vec<RelationshipBrief> = first
        .relationships
        .into_iter()
        .map(|mut brief| {
            brief.as_of = second.as_of;
            brief
        })
        .collect();
    assert_eq!(second.relationships, redated);
}
