//! Lists, the portfolio and the gift register walk every account of the log a page of accounts
//! at a time, never holding the log in memory. These check each walk against a reference that
//! folds every account's whole history at once (what the service did before), over more
//! accounts than two pages of the walk hold, and that an event dated ahead of the clock moves
//! the instant every account is judged at, as it does for a single account.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use relledger::domain::projection::{
    gift_register, portfolio, project, project_unexplained, AccountProjection, Params, Portfolio,
    Quadrant, RelationshipBrief,
};
use relledger::domain::*;
use relledger::read::relationships::{
    AsOf, GiftFilter, ListFilter, ListOrder, ListQuery, RelationshipQuery, Relationships,
};
use relledger::store::{Direction, ExpectedRevision, Log, MemoryLog};

/// More than two pages of the walk's 256 accounts.
const ACCOUNTS: usize = 600;

fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Timestamp::from_unix_nanos(i64::try_from(nanos).unwrap())
}

fn proposed(at: Timestamp, payload: EventPayload) -> ProposedEvent {
    ProposedEvent {
        event_id: EventId::new_random(),
        occurred_at: at,
        actor: "walks".into(),
        metadata: BTreeMap::new(),
        payload,
    }
}

fn cny(minor_units: i64) -> Money {
    Money {
        currency: "CNY".into(),
        minor_units,
    }
}

/// Account `i`: opened by one of three owners, a contact, an order whose revenue varies with
/// `i` (some equal, so ties are ordered by id), and a dinner for the contact on every fifth.
fn history(i: usize, start: Timestamp) -> Vec<ProposedEvent> {
    let at =
        |minutes: i64| Timestamp::from_unix_nanos(start.unix_nanos() + minutes * 60_000_000_000);
    let mut events = vec![
        proposed(
            at(0),
            EventPayload::AccountOpened(AccountOpened {
                name: format!("Account {i}"),
                segment: AccountSegment::Standard,
                owner: format!("owner-{}", i % 3),
                industry: String::new(),
                region: String::new(),
            }),
        ),
        proposed(
            at(1),
            EventPayload::ContactAdded(ContactAdded {
                contact_id: "c1".into(),
                name: "n".into(),
                role: ContactRole::DecisionMaker,
                title: String::new(),
                phone: Default::default(),
                email: Default::default(),
                public_official: i.is_multiple_of(10),
                notes: Default::default(),
            }),
        ),
        proposed(
            at(2),
            EventPayload::OrderWon(OrderWon {
                order_id: format!("o{i}"),
                revenue: cny(1_000 + (i as i64 * 7_919) % 50 * 1_000),
                margin: Some(cny(100)),
                product: String::new(),
                description: String::new(),
            }),
        ),
    ];
    if i.is_multiple_of(5) {
        events.push(proposed(
            at(3),
            EventPayload::FavorGiven(FavorGiven {
                contact_id: "c1".into(),
                kind: FavorKind::Meal,
                value: cny(50_000 + i as i64),
                purpose: "dinner".into(),
                recipient_is_public_official: i.is_multiple_of(10),
                approval_reference: String::new(),
                description: String::new(),
            }),
        ));
    }
    events
}

fn account(i: usize) -> AccountId {
    AccountId::parse(format!("acct-{i:04}")).unwrap()
}

/// A log of [`ACCOUNTS`] accounts, appended in an order unlike their ids' so that the walk's
/// id order is not the log's.
async fn ledger() -> Arc<MemoryLog> {
    let log = Arc::new(MemoryLog::new());
    let start = now().plus_days(-30);
    for n in 0..ACCOUNTS {
        let i = (n * 7) % ACCOUNTS;
        log.append(&account(i), ExpectedRevision::NoStream, history(i, start))
            .await
            .unwrap();
    }
    log
}

/// Every account's whole history, read at once: the reference.
async fn histories(log: &MemoryLog) -> BTreeMap<AccountId, Vec<RecordedEvent>> {
    let mut all = BTreeMap::new();
    for i in 0..ACCOUNTS {
        let events: Vec<RecordedEvent> = log
            .read_stream(&account(i), None, Direction::Forwards, None)
            .try_collect()
            .await
            .unwrap();
        all.insert(account(i), events);
    }
    all
}

/// Every account's whole history folded as of `as_of` (without contributions, as lists show
/// them) that `keep` passes, in the order of a list by revenue: highest first, then by id.
fn by_revenue(
    all: &BTreeMap<AccountId, Vec<RecordedEvent>>,
    as_of: Timestamp,
    keep: impl Fn(&AccountProjection) -> bool,
) -> Vec<RelationshipBrief> {
    let mut folds: Vec<AccountProjection> = all
        .values()
        .map(|events| project_unexplained(events, as_of, &Params::default()))
        .filter(|p| keep(p))
        .collect();
    folds.sort_by_key(|p| {
        (
            -p.commercial.revenue_minor,
            p.account_id.as_ref().unwrap().as_str().to_string(),
        )
    });
    folds.iter().map(RelationshipBrief::of).collect()
}

/// The portfolio of every account's whole history folded as of `as_of`: the reference.
fn portfolio_of(all: &BTreeMap<AccountId, Vec<RecordedEvent>>, as_of: Timestamp) -> Portfolio {
    let folds: Vec<(AccountId, AccountProjection)> = all
        .iter()
        .map(|(id, events)| (id.clone(), project(events, as_of, &Params::default())))
        .collect();
    portfolio(&folds, &Params::default())
}

fn service(log: &Arc<MemoryLog>) -> Relationships {
    Relationships::new(log.clone(), Params::default())
}

/// Every page of a listing, and the instant each was judged at.
async fn every_page(
    relationships: &Relationships,
    query: ListQuery,
) -> Vec<(Vec<RelationshipBrief>, Timestamp)> {
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = relationships
            .list(ListQuery {
                page_token: token,
                ..query.clone()
            })
            .await
            .unwrap();
        pages.push((page.relationships, page.as_of));
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_over_many_accounts_pages_through_what_a_fold_of_every_account_gives() {
    let log = ledger().await;
    let relationships = service(&log);
    let all = histories(&log).await;
    let query = ListQuery {
        filter: ListFilter {
            owners: vec!["owner-1".into(), "owner-2".into()],
            ..ListFilter::default()
        },
        order: ListOrder::Revenue,
        page_size: 37,
        page_token: None,
    };
    let pages = every_page(&relationships, query).await;
    let as_of = pages[0].1;
    assert!(
        pages.iter().all(|(_, t)| *t == as_of),
        "one instant for every page"
    );
    assert!(pages.iter().all(|(p, _)| p.len() <= 37));

    // The reference: every account folded whole, filtered and sorted as the list says.
    let expected = by_revenue(&all, as_of, |p| p.profile.owner != "owner-0");
    let listed: Vec<RelationshipBrief> = pages.into_iter().flat_map(|(p, _)| p).collect();
    assert_eq!(listed.len(), 400, "two owners of three");
    assert_eq!(
        listed, expected,
        "the same relationships, explained, in the same order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_nothing_passes_lists_nothing_and_the_last_page_has_no_token() {
    let log = ledger().await;
    let relationships = service(&log);
    let page = relationships
        .list(ListQuery {
            filter: ListFilter {
                quadrants: vec![Quadrant::Partner],
                ..ListFilter::default()
            },
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(page.relationships.is_empty());
    assert_eq!(page.next_page_token, None);
    let empty = service(&Arc::new(MemoryLog::new()));
    let page = empty.list(ListQuery::default()).await.unwrap();
    assert!(page.relationships.is_empty());
    assert_eq!(page.next_page_token, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portfolio_of_many_accounts_is_the_portfolio_of_every_fold() {
    let log = ledger().await;
    let relationships = service(&log);
    let all = histories(&log).await;
    let (folio, as_of) = relationships
        .portfolio(RelationshipQuery::default(), &AccountScope::All)
        .await
        .unwrap();
    assert_eq!(folio, portfolio_of(&all, as_of));
    assert_eq!(folio.accounts.len(), ACCOUNTS);

    // As of a position: only the records up to it, for the accounts that had any.
    let position = log.head().next_position / 2;
    let (then, then_as_of) = relationships
        .portfolio(
            RelationshipQuery {
                as_of: AsOf::Position(position),
                known_at: None,
            },
            &AccountScope::All,
        )
        .await
        .unwrap();
    let folds: Vec<(AccountId, AccountProjection)> = all
        .iter()
        .map(|(id, events)| {
            let counted: Vec<RecordedEvent> = events
                .iter()
                .filter(|r| r.position <= position)
                .cloned()
                .collect();
            (id.clone(), counted)
        })
        .filter(|(_, counted)| !counted.is_empty())
        .map(|(id, counted)| (id, project(&counted, then_as_of, &Params::default())))
        .collect();
    assert!(folds.len() < ACCOUNTS);
    assert_eq!(then, portfolio(&folds, &Params::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gift_register_of_many_accounts_lists_every_favor_by_account() {
    let log = ledger().await;
    let relationships = service(&log);
    let all = histories(&log).await;
    let register: Vec<_> = relationships
        .gift_register(GiftFilter::default())
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<_> = all
        .values()
        .flat_map(|events| gift_register(events, &Params::default()))
        .collect();
    assert_eq!(register.len(), ACCOUNTS / 5);
    assert_eq!(register, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_dated_ahead_of_the_clock_is_the_instant_lists_and_the_portfolio_judge_at() {
    let log = ledger().await;
    let ahead = now().plus_days(1);
    let last = ACCOUNTS - 1;
    log.append(
        &account(last),
        ExpectedRevision::Any,
        vec![proposed(
            ahead,
            EventPayload::OrderWon(OrderWon {
                order_id: "late".into(),
                revenue: cny(5_000_000),
                margin: None,
                product: String::new(),
                description: String::new(),
            }),
        )],
    )
    .await
    .unwrap();
    let relationships = service(&log);
    let page = relationships.list(ListQuery::default()).await.unwrap();
    assert_eq!(page.as_of, ahead);
    assert!(page.relationships.iter().all(|p| p.as_of == ahead));
    let (folio, as_of) = relationships
        .portfolio(RelationshipQuery::default(), &AccountScope::All)
        .await
        .unwrap();
    assert_eq!(as_of, ahead);
    assert_eq!(folio, portfolio_of(&histories(&log).await, ahead));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_pages_through_the_log_as_its_first_page_saw_it_on_any_server() {
    let log = ledger().await;
    let relationships = service(&log);
    let before = histories(&log).await;
    let query = ListQuery {
        order: ListOrder::Revenue,
        page_size: 100,
        ..ListQuery::default()
    };
    let first = relationships.list(query.clone()).await.unwrap();
    let as_of = first.as_of;

    // After the first page, the last account shown on it wins a large order (it would now
    // head the list) and a new account opens: neither shows in the rest of this listing.
    let moved = first.relationships[99].account_id.clone().unwrap();
    log.append(
        &moved,
        ExpectedRevision::Any,
        vec![proposed(now(), big_order())],
    )
    .await
    .unwrap();
    log.append(
        &account(ACCOUNTS),
        ExpectedRevision::NoStream,
        history(ACCOUNTS, now()),
    )
    .await
    .unwrap();

    let mut listed = first.relationships.clone();
    let mut token = first.next_page_token.clone();
    let elsewhere = service(&log);
    while let Some(next) = token {
        let query = ListQuery {
            page_token: Some(next),
            ..query.clone()
        };
        let page = relationships.list(query.clone()).await.unwrap();
        // Another server, which has kept nothing, answers the same token the same way.
        assert_eq!(elsewhere.list(query).await.unwrap(), page);
        assert_eq!(page.as_of, as_of);
        listed.extend(page.relationships);
        token = page.next_page_token;
    }
    let expected = by_revenue(&before, as_of, |_| true);
    assert_eq!(listed.len(), ACCOUNTS);
    assert_eq!(listed, expected);

    // A new listing sees both.
    let fresh = relationships.list(query).await.unwrap();
    assert_eq!(fresh.relationships[0].account_id.as_ref(), Some(&moved));
}

fn big_order() -> EventPayload {
    EventPayload::OrderWon(OrderWon {
        order_id: "big".into(),
        revenue: cny(900_000_000),
        margin: None,
        product: String::new(),
        description: String::new(),
    })
}
