//! Projection performance, as the projections issue asks for it (a plain binary,
//! `harness = false`; run with `cargo bench --bench projections`):
//!
//! 1. rebuild: the live projector folding a log from position 0 (log reads included), and the
//!    same fold over histories already in memory (fold only); events per second; then account
//!    states advanced and summarized, and a compact state's checkpoint read back;
//! 2. `GetRelationship` for one account with `BENCH_BIG_ACCOUNT` events (default 10,000): the
//!    live answer and the answer as of a past position, p50 / p99 over `BENCH_QUERIES` calls
//!    (default 50), through the application layer (no gRPC).
//!
//!    The same over gRPC on loopback (a server in this process on 127.0.0.1:0): the whole
//!    answer (every contribution: megabytes), and with `max_contributions` = 10.
//! 3. memory per account, when `BENCH_MEMORY_ACCOUNTS` is set (the issue asks for 100,000
//!    accounts of `BENCH_MEMORY_EVENTS` events, default 200): the process's resident memory
//!    after appending that many accounts through the ledger and projecting them with a
//!    projector checkpointed in sled (as a server runs), twice: the average over the first
//!    half and the marginal cost of the second half, once the bounded caches (sled's page
//!    cache, the account histories) are full and no longer grow. `BENCH_MEMORY_CACHE_MB` sets
//!    sled's page cache limit (default 1024, sled's own default; a server's `--cache-mb`).
//!    Then the same log is projected again from position 0 (the rebuild at that size), and
//!    reopened as after a restart, with lists and the portfolio asked over gRPC.
//!
//! The log (a temp dir, sled, fsync per append as in production) holds `BENCH_ACCOUNTS`
//! accounts (default 200) of `BENCH_EVENTS_PER_ACCOUNT` events (default 200) plus the big
//! account. Results: docs/BENCHMARKS-PROJECTIONS.md. `cargo test` runs it too, with small
//! knobs of its own (`common/mode.rs`), the memory phase included with enough accounts for two
//! pages of a list.

#[path = "common/mode.rs"]
mod mode;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use relledger::domain::projection::{project_unexplained, summarize, AccountState, Params};
use relledger::domain::time::NANOS_PER_DAY;
use relledger::domain::*;
use relledger::ledger::Ledger;
use relledger::read::projector::Projector;
use relledger::read::relationships::{AsOf, RelationshipQuery, Relationships};
use relledger::store::{Direction, ExpectedRevision, FileLog, Log, MemorySnapshots, ReadAllFilter};

/// The server's allocator (src/main.rs), so that the memory phase measures what the server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the run under `cargo test` may take before it fails.
const TEST_LIMIT: Duration = Duration::from_secs(180);

fn cny(minor_units: i64) -> Money {
    Money {
        currency: "CNY".into(),
        minor_units,
    }
}

/// The `i`-th event of a busy account's history (after its opening), spread over two years
/// that end a day ago: visits, calls, promises made and kept, solutions, orders.
fn activity(i: u64, count: u64, now: i64) -> EventPayload {
    let _ = (count, now);
    match i % 8 {
        0 | 4 => EventPayload::Visit(Visit {
            contact_ids: vec![if i.is_multiple_of(3) {
                "boss".into()
            } else {
                "qa".into()
            }],
            purpose: "site meeting".into(),
            summary: String::new(),
            next_visit_on: None,
            next_visit_pretext: String::new(),
        }),
        1 | 5 => EventPayload::Call(Call {
            contact_id: "qa".into(),
            summary: String::new(),
        }),
        2 => EventPayload::PromiseMade(PromiseMade {
            promise_id: format!("p{i}"),
            contact_id: Some("boss".into()),
            description: "deliver on time".into(),
            due_at: Timestamp::from_unix_nanos(now),
        }),
        3 => EventPayload::PromiseKept(PromiseKept {
            promise_id: format!("p{}", i - 1),
            note: String::new(),
        }),
        6 => EventPayload::SolutionDelivered(SolutionDelivered {
            kind: SolutionKind::TechnicalService,
            contact_ids: vec!["qa".into()],
            description: String::new(),
        }),
        _ => EventPayload::OrderWon(OrderWon {
            order_id: format!("o{i}"),
            revenue: cny(1_000_000),
            margin: Some(cny(80_000)),
            product: String::new(),
            description: String::new(),
        }),
    }
}

fn opening(name: &str) -> Vec<EventPayload> {
    let contact = |id: &str, role| {
        EventPayload::ContactAdded(ContactAdded {
            contact_id: id.into(),
            name: id.into(),
            role,
            title: String::new(),
            phone: Default::default(),
            email: Default::default(),
            public_official: false,
            notes: Default::default(),
        })
    };
    vec![
        EventPayload::AccountOpened(AccountOpened {
            name: name.into(),
            segment: AccountSegment::Key,
            owner: "li.wei".into(),
            industry: String::new(),
            region: String::new(),
        }),
        contact("boss", ContactRole::DecisionMaker),
        contact("qa", ContactRole::TechnicalEvaluator),
    ]
}

/// Appends an account of `events` events (opening included), dated over the two years before
/// `now`, in batches of 500.
async fn fill(ledger: &Ledger, account: &str, events: u64, now: i64) {
    let id = AccountId::parse(account).unwrap();
    let span = 730 * NANOS_PER_DAY;
    let start = now - span - NANOS_PER_DAY;
    let payloads = opening(account)
        .into_iter()
        .chain((0..events.saturating_sub(3)).map(|i| activity(i, events, now - NANOS_PER_DAY)));
    let mut batch = Vec::new();
    let total = events.max(1) as i64;
    for (i, payload) in payloads.enumerate() {
        batch.push(ProposedEvent {
            event_id: EventId::new_random(),
            occurred_at: Timestamp::from_unix_nanos(start + span / total * i as i64),
            actor: "bench".into(),
            metadata: BTreeMap::new(),
            payload,
        });
        if batch.len() == 500 {
            ledger
                .append(&id, ExpectedRevision::Any, std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        ledger
            .append(&id, ExpectedRevision::Any, batch)
            .await
            .unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    // As `relledger serve` sets it (src/main.rs).
    relledger::allocator::keep_freed_memory();
    mode::measure_or_check(
        run(),
        TEST_LIMIT,
        "projections: the short run projected every event and answered every question",
    )
    .await;
}

async fn run() {
    let accounts = mode::knob("BENCH_ACCOUNTS", 200, 10);
    let per_account = mode::knob("BENCH_EVENTS_PER_ACCOUNT", 200, 20);
    let big = mode::knob("BENCH_BIG_ACCOUNT", 10_000, 300);
    let queries = mode::knob("BENCH_QUERIES", 50, 3).max(1);
    let memory_accounts = mode::knob("BENCH_MEMORY_ACCOUNTS", 0, 120);
    let memory_events = mode::knob("BENCH_MEMORY_EVENTS", 200, 5);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;

    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path()).unwrap());
    let ledger = Ledger::new(log.clone(), Policy::default());
    let started = Instant::now();
    for a in 0..accounts {
        fill(&ledger, &format!("acct-{a}"), per_account, now).await;
    }
    fill(&ledger, "big", big, now).await;
    let total = log.head().next_position;
    println!(
        "filled {total} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 1. Rebuild through the live projector: log reads included.
    let (projector, projected, seconds) = rebuilt(&log).await;
    println!("rebuild (projector, log reads included): {projected} events in {seconds:.2} s = {:.0} events/s", projected as f64 / seconds);

    // The fold alone: every account's history in memory, folded once as of now.
    let mut histories: BTreeMap<AccountId, Vec<RecordedEvent>> = BTreeMap::new();
    let started = Instant::now();
    let mut all = log.read_all(None, Direction::Forwards, None, ReadAllFilter::default());
    while let Some(record) = all.try_next().await.unwrap() {
        histories
            .entry(record.account_id.clone())
            .or_default()
            .push(record);
    }
    let read = started.elapsed().as_secs_f64();
    assert_eq!(
        histories.values().map(Vec::len).sum::<usize>() as u64,
        total,
        "the log read back whole"
    );
    let started = Instant::now();
    let params = Params::default();
    let as_of = Timestamp::from_unix_nanos(now);
    for events in histories.values() {
        std::hint::black_box(project_unexplained(events, as_of, &params));
    }
    let fold = started.elapsed().as_secs_f64();
    println!(
        "read the whole log: {total} events in {read:.2} s = {:.0} events/s",
        total as f64 / read
    );
    println!("fold only (one fold per account, no explanations): {total} events in {fold:.3} s = {:.0} events/s", total as f64 / fold);
    // What the live projector folds: the summary alone, without the trends' second fold.
    let started = Instant::now();
    for (account, events) in &histories {
        let last = events.last().expect("a history holds at least one event");
        std::hint::black_box(summarize(
            account,
            last.position,
            last.event.event_id,
            events,
            as_of,
            &params,
        ));
    }
    let summarized = started.elapsed().as_secs_f64();
    println!("fold only, summaries (what the live projector keeps: no trends): {total} events in {summarized:.3} s = {:.0} events/s", total as f64 / summarized);
    // The same summaries from account states: built event by event, then (what a page of
    // the live projector does for each account it touches) advanced by one more event and
    // summarized.
    let resident_before = resident_bytes();
    let started = Instant::now();
    let mut states: Vec<(AccountState, &RecordedEvent)> = histories
        .values()
        .map(|events| {
            let (last, before) = events.split_last().expect("a history holds an event");
            (AccountState::of(before, &params), last)
        })
        .collect();
    let built = started.elapsed().as_secs_f64();
    // What the states hold beyond the histories they were built from (copied in here).
    let weight: usize = states.iter().map(|(state, _)| state.weight()).sum();
    let grown = resident_bytes().saturating_sub(resident_before);
    println!(
        "account states built event by event: {total} events in {built:.3} s = {:.0} events/s; \
         weight {weight} (events and items kept), resident +{} MB, {} bytes a unit of weight",
        total as f64 / built,
        grown / (1024 * 1024),
        grown / weight.max(1) as u64
    );
    let started = Instant::now();
    for (state, last) in &mut states {
        state.apply(last, &params);
        std::hint::black_box(state.summarize(last.position, last.event.event_id, as_of, &params));
    }
    let advanced = started.elapsed().as_secs_f64();
    println!(
        "a state advanced by one event and summarized: {} accounts in {advanced:.3} s = {:.1} us an account",
        states.len(),
        advanced * 1e6 / states.len() as f64
    );
    // The summary of the big account's state alone, repeated: what a page costs that touches it.
    let big_state = AccountState::of(&histories[&AccountId::parse("big").unwrap()], &params);
    let mut summaries = Vec::new();
    for _ in 0..queries {
        let started = Instant::now();
        std::hint::black_box(big_state.summarize(0, EventId::new_random(), as_of, &params));
        summaries.push(started.elapsed());
    }
    report(
        &format!("summary of the state of an account of {big} events"),
        summaries,
    );
    // Its compact form's checkpoint read back, as the states cache reads a state it dropped:
    // in the checkpoints' encoding (postcard), and in JSON, their encoding before.
    let mut compact = big_state.clone();
    compact.compact(&params);
    type Read = fn(&[u8]) -> AccountState;
    let encodings: [(&str, Vec<u8>, Read); 2] = [
        (
            "postcard",
            postcard::to_allocvec(&compact).unwrap(),
            |bytes| postcard::from_bytes(bytes).unwrap(),
        ),
        ("JSON", serde_json::to_vec(&compact).unwrap(), |bytes| {
            serde_json::from_slice(bytes).unwrap()
        }),
    ];
    for (encoding, bytes, read_back) in encodings {
        let mut reads = Vec::new();
        for _ in 0..queries {
            let started = Instant::now();
            let read = read_back(&bytes);
            reads.push(started.elapsed());
            assert_eq!(read, compact, "a checkpoint reads back as it was written");
        }
        report(
            &format!(
                "a compact state's checkpoint read back, {encoding} of {} bytes ({big} events)",
                bytes.len()
            ),
            reads,
        );
    }

    // 2. GetRelationship for the big account, through the application layer as a server
    // runs it: sharing the projector's account histories (warm after the rebuild).
    let relationships = projector.relationships();
    let account = AccountId::parse("big").unwrap();
    let big_history = &histories[&account];
    let middle = big_history.len() / 2;
    let query = |as_of| RelationshipQuery {
        as_of,
        known_at: None,
    };

    // Cold: a service with empty caches, so the history is read from the log.
    let mut cold = Vec::new();
    for _ in 0..queries.min(5) {
        let fresh = Relationships::new(log.clone(), Params::default());
        let started = Instant::now();
        std::hint::black_box(fresh.get(&account, query(AsOf::Now)).await.unwrap());
        cold.push(started.elapsed());
    }
    report(
        &format!("GetRelationship ({big} events, live, cold: history read from the log)"),
        cold,
    );

    // Live, as a server answers repeated questions: the kept answer while it holds.
    let mut live = Vec::new();
    for _ in 0..queries {
        let started = Instant::now();
        std::hint::black_box(relationships.get(&account, query(AsOf::Now)).await.unwrap());
        live.push(started.elapsed());
    }
    report(&format!("GetRelationship ({big} events, live)"), live);

    // A fresh fold from the in-memory history, explained: what a live answer costs when it
    // must be recomputed (after an append, or when an age ticks over). Each call asks for
    // another instant, so nothing is reused.
    let mut fresh = Vec::new();
    for i in 0..queries {
        let at = Timestamp::from_unix_nanos(now + i as i64 * 1_000_000_000);
        let started = Instant::now();
        std::hint::black_box(
            relationships
                .get(&account, query(AsOf::Time(at)))
                .await
                .unwrap(),
        );
        fresh.push(started.elapsed());
    }
    report(
        &format!("GetRelationship ({big} events, fresh fold from memory)"),
        fresh,
    );

    // As of past positions around the middle of the account's history, each a different one.
    let mut past = Vec::new();
    for i in 0..queries as usize {
        let position = big_history[middle.saturating_sub(i)].position;
        let started = Instant::now();
        std::hint::black_box(
            relationships
                .get(&account, query(AsOf::Position(position)))
                .await
                .unwrap(),
        );
        past.push(started.elapsed());
    }
    report(
        &format!("GetRelationship ({big} events, as of a past position, about {middle} events)"),
        past,
    );

    over_grpc(big, queries, now).await;

    if memory_accounts > 0 {
        memory_per_account(memory_accounts, memory_events, now).await;
    }
}

/// Phase 2 over gRPC: a server on loopback, an account of `events` events appended through
/// the Ledger API, then the live GetRelationship, whole and limited to ten contributions.
async fn over_grpc(events: u64, queries: u64, now: i64) {
    use relledger::api::convert::proposed_event_to_proto;
    use relledger::api::proto::relationships_client::RelationshipsClient;
    use relledger::api::proto::{self, ledger_client::LedgerClient};

    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = relledger::config::Config::new(dir.path());
    let server = tokio::spawn(relledger::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    // The same history as the in-process account, through a scratch ledger for its batches.
    let scratch = tempfile::tempdir().unwrap();
    let scratch_log = Arc::new(FileLog::open(scratch.path()).unwrap());
    fill(
        &Ledger::new(scratch_log.clone(), Policy::default()),
        "big",
        events,
        now,
    )
    .await;
    let history: Vec<RecordedEvent> = scratch_log
        .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .try_collect()
        .await
        .unwrap();
    let mut ledger = LedgerClient::new(channel.clone());
    for batch in history.chunks(500) {
        ledger
            .append(proto::AppendRequest {
                account_id: "big".into(),
                expected_revision: None,
                events: batch
                    .iter()
                    .map(|r| proposed_event_to_proto(&r.event))
                    .collect(),
            })
            .await
            .unwrap();
    }

    let mut relationships =
        RelationshipsClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
    for (label, max_contributions) in [("all contributions", None), ("10 contributions", Some(10))]
    {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..queries {
            let started = Instant::now();
            let answer = relationships
                .get_relationship(proto::GetRelationshipRequest {
                    account_id: "big".into(),
                    max_contributions,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            times.push(started.elapsed());
            bytes = prost::Message::encoded_len(&answer);
        }
        report(
            &format!(
                "GetRelationship over gRPC ({events} events, live, {label}, {} KB)",
                bytes / 1024
            ),
            times,
        );
    }
    // Right after an append to the account: the kept answer no longer holds, and the answer
    // is the account's state advanced by the new event, projected.
    let last = history.last().expect("the account has events");
    let mut after_append = Vec::new();
    for _ in 0..queries {
        let mut event = last.event.clone();
        event.event_id = relledger::domain::EventId::new_random();
        ledger
            .append(proto::AppendRequest {
                account_id: "big".into(),
                expected_revision: None,
                events: vec![proposed_event_to_proto(&event)],
            })
            .await
            .unwrap();
        let started = Instant::now();
        std::hint::black_box(
            relationships
                .get_relationship(proto::GetRelationshipRequest {
                    account_id: "big".into(),
                    max_contributions: Some(10),
                    ..Default::default()
                })
                .await
                .unwrap(),
        );
        after_append.push(started.elapsed());
    }
    report(
        &format!(
            "GetRelationship over gRPC ({events} events, live right after an append, 10 contributions)"
        ),
        after_append,
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Appends `accounts` accounts (numbered from `first`) of `events` events each, 8 at a time.
async fn fill_many(ledger: &Arc<Ledger>, first: u64, accounts: u64, events: u64, now: i64) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let ledger = Arc::clone(ledger);
        tasks.spawn(async move {
            for a in (first + worker..first + accounts).step_by(8) {
                fill(&ledger, &format!("mem-{a}"), events, now).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// A memory figure of this process from `/proc/self/status` (Linux), in bytes: `VmRSS` (resident
/// now) or `VmHWM` (the peak since the last [`reset_peak`]).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The process's resident memory, in bytes.
fn resident_bytes() -> u64 {
    status_bytes("VmRSS")
}

/// Phase 3: resident memory per account (see the module docs).
async fn memory_per_account(accounts: u64, events: u64, now: i64) {
    let dir = tempfile::tempdir().unwrap();
    let cache_mb = mode::knob("BENCH_MEMORY_CACHE_MB", 1024, 64);
    let log = Arc::new(FileLog::open_with_cache(dir.path(), cache_mb * 1024 * 1024).unwrap());
    let ledger = Arc::new(Ledger::new(log.clone(), Policy::default()));
    let projector = Projector::open(
        log.clone(),
        Arc::new(log.snapshots().unwrap()),
        Params::default(),
    )
    .await
    .unwrap();
    let half = accounts / 2;
    let before = resident_bytes();
    let started = Instant::now();
    // Filled in tenths, each one projected, with the resident memory after each: the curve
    // shows whether memory still grows once the bounded caches are full.
    let tenths: Vec<u64> = (0..=10).map(|i| accounts * i / 10).collect();
    let mut middle = before;
    for slice in tenths.windows(2) {
        fill_many(&ledger, slice[0], slice[1] - slice[0], events, now).await;
        projector.catch_up().await.unwrap();
        let resident = resident_bytes();
        println!(
            "memory: {} accounts ({} events) after {:.0} s: resident {:.0} MB",
            slice[1],
            log.head().next_position,
            started.elapsed().as_secs_f64(),
            resident as f64 / 1e6
        );
        if slice[1] == half {
            middle = resident;
        }
    }
    let after = resident_bytes();
    let per = |bytes: u64, n: u64| bytes as f64 / n.max(1) as f64 / 1024.0;
    println!(
        "memory: {accounts} accounts of {events} events ({} events, sled cache {cache_mb} MiB) appended and projected in {:.0} s; resident {:.0} MB before, {:.0} MB at half, {:.0} MB after",
        log.head().next_position,
        started.elapsed().as_secs_f64(),
        before as f64 / 1e6,
        middle as f64 / 1e6,
        after as f64 / 1e6
    );
    println!(
        "memory per account: {:.2} KB over the first {half} (caches filling), {:.2} KB marginal over the last {}",
        per(middle.saturating_sub(before), half),
        per(after.saturating_sub(middle), accounts - half),
        accounts - half
    );
    walks(&log, &projector).await;
    drop((ledger, projector));
    rebuilt_from_zero(&log).await;
    drop(log);
    restarted_over_grpc(dir.path(), accounts, cache_mb).await;
}

/// `log` projected from position 0 by a projector with no checkpoint (a new snapshot store),
/// log reads included: the projector, how many events it projected and in how many seconds.
async fn rebuilt(log: &Arc<FileLog>) -> (Projector, u64, f64) {
    let projector = Projector::open(
        log.clone(),
        Arc::new(MemorySnapshots::new()),
        Params::default(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let projected = projector.catch_up().await.unwrap();
    assert_eq!(
        projected,
        log.head().next_position,
        "the projector projected every event of the log"
    );
    (projector, projected, started.elapsed().as_secs_f64())
}

/// The memory phase's log projected again from position 0: the rebuild rate at its size.
async fn rebuilt_from_zero(log: &Arc<FileLog>) {
    let (_, projected, seconds) = rebuilt(log).await;
    println!(
        "rebuild from position 0 (projector, log reads included): {projected} events in {seconds:.1} s = {:.0} events/s",
        projected as f64 / seconds
    );
}

/// The peak resident memory since the last [`reset_peak`], in bytes.
fn peak_resident_bytes() -> u64 {
    status_bytes("VmHWM")
}

/// Resets the peak resident memory to the current (Linux: `5` to `clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The questions that walk every account (a list page, the portfolio) over the memory phase's
/// log: how long each takes, and how much resident memory it needs above what the process
/// held before it (its peak).
async fn walks(log: &Arc<FileLog>, projector: &Projector) {
    let walking = projector.relationships();
    whole_log_questions(log, &walking, "walking every account").await;
    let from_rows = projector.relationships().with_rows(projector.live_rows());
    whole_log_questions(log, &from_rows, "from the projector's rows").await;
}

/// The first list page, the next and the portfolio through `relationships` (`how` it answers).
async fn whole_log_questions(log: &Arc<FileLog>, relationships: &Relationships, how: &str) {
    let events = log.head().next_position;
    let measure = |label: &'static str| {
        let base = resident_bytes();
        reset_peak();
        let started = Instant::now();
        move || {
            println!(
                "{label}, {how}, over {events} events: {:.3} s, peak resident {:.0} MB above the {:.0} MB before",
                started.elapsed().as_secs_f64(),
                peak_resident_bytes().saturating_sub(base) as f64 / 1e6,
                base as f64 / 1e6
            );
        }
    };
    let by_revenue = |page_token| relledger::read::relationships::ListQuery {
        order: relledger::read::relationships::ListOrder::Revenue,
        page_token,
        ..Default::default()
    };
    let done = measure("ListRelationships (50 by revenue)");
    let page = relationships.list(by_revenue(None)).await.unwrap();
    assert_eq!(page.relationships.len(), 50);
    done();
    let done = measure("ListRelationships, the next page (a kept listing)");
    let next = relationships
        .list(by_revenue(page.next_page_token))
        .await
        .unwrap();
    assert_eq!(next.relationships.len(), 50);
    done();
    let done = measure("GetPortfolio");
    let (folio, _) = relationships
        .portfolio(
            RelationshipQuery::default(),
            &relledger::domain::AccountScope::All,
        )
        .await
        .unwrap();
    assert!(!folio.accounts.is_empty());
    done();
}

/// The memory phase's log reopened, as after a restart: how long the projector, resumed from
/// its checkpoint, takes to have the rows of every account (loaded from its store, or built
/// when the store's are not complete), and how many of them hold now; then, with the projector running
/// (its refresher folding rows ahead of their end), the first page of lists (several filters
/// and orders) and the portfolio over gRPC on loopback, answered from the rows.
async fn restarted_over_grpc(dir: &std::path::Path, accounts: u64, cache_mb: u64) {
    use relledger::api::proto::relationships_server::RelationshipsServer;
    use relledger::api::proto::{self, relationships_client::RelationshipsClient};
    use relledger::api::relationships_service::RelationshipsService;
    use relledger::read::change_feed::ChangeFeeds;

    let log = Arc::new(FileLog::open_with_cache(dir, cache_mb * 1024 * 1024).unwrap());
    let started = Instant::now();
    let projector = Arc::new(
        Projector::open(
            log.clone(),
            Arc::new(log.snapshots().unwrap()),
            Params::default(),
        )
        .await
        .unwrap(),
    );
    let rows = projector.live_rows().rows;
    let how = if rows.is_built() { "loaded" } else { "built" };
    projector.build_rows().await.unwrap();
    let now = relledger::clock::now();
    let holding = rows
        .at(|table| {
            table
                .accounts()
                .filter(|(_, kept)| kept.at(now).is_some())
                .count()
        })
        .1;
    println!(
        "rows of {} accounts {how} after a restart (the projector opened): {:.1} s, {holding} of them holding now",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let (projector, head, mut stopping) =
            (Arc::clone(&projector), log.watch_head(), stopping.clone());
        async move {
            projector
                .run(head, async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                })
                .await
        }
    });
    let relationships = Arc::new(projector.relationships().with_rows(projector.live_rows()));
    let changes = Arc::new(ChangeFeeds::new(
        log.clone(),
        Arc::clone(&projector),
        stopping.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn({
        let mut stopping = stopping.clone();
        tonic::transport::Server::builder()
            .add_service(RelationshipsServer::new(RelationshipsService::new(
                relationships,
                changes,
            )))
            // As `relledger serve` accepts them (src/server.rs): without `TCP_NODELAY` an
            // answer's last segment waits for the client's delayed ACK, about 40 ms.
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                },
            )
    });
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = RelationshipsClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
    let queries = mode::knob("BENCH_QUERIES", 50, 3).max(1);
    let lists = [
        (
            "by revenue",
            proto::ListRelationshipsRequest {
                order_by: proto::ListOrder::Revenue as i32,
                ..Default::default()
            },
        ),
        (
            "by trust, grade GOOD or FAIR",
            proto::ListRelationshipsRequest {
                order_by: proto::ListOrder::Trust as i32,
                grades: vec![proto::Grade::Good as i32, proto::Grade::Fair as i32],
                ..Default::default()
            },
        ),
        (
            "by account id, one owner",
            proto::ListRelationshipsRequest {
                owners: vec!["li.wei".into()],
                ..Default::default()
            },
        ),
    ];
    let lists_all = lists[0].1.clone();
    for (label, request) in lists {
        let mut times = Vec::new();
        for _ in 0..queries {
            let started = Instant::now();
            let page = client
                .list_relationships(request.clone())
                .await
                .unwrap()
                .into_inner();
            times.push(started.elapsed());
            // The filters may pass no account of the short run's tiny histories.
            assert!(page.relationships.len() <= 50);
            assert!(request != lists_all || page.relationships.len() == 50.min(accounts as usize));
        }
        report(
            &format!("ListRelationships over gRPC, first page of 50 {label} ({accounts} accounts)"),
            times,
        );
    }
    let mut times = Vec::new();
    for _ in 0..queries {
        let started = Instant::now();
        let answer = client
            .get_portfolio(proto::GetPortfolioRequest::default())
            .await
            .unwrap()
            .into_inner();
        times.push(started.elapsed());
        assert_eq!(answer.accounts.len() as u64, accounts);
    }
    report(
        &format!("GetPortfolio over gRPC ({accounts} accounts)"),
        times,
    );
    stop.send_replace(true);
    server.await.unwrap().unwrap();
    running.await.unwrap();
}

fn report(label: &str, mut times: Vec<Duration>) {
    // Which calls were the slowest (from 1), to tell a first call's cost from a stray stall.
    let mut slowest: Vec<usize> = (0..times.len()).collect();
    slowest.sort_by_key(|&i| std::cmp::Reverse(times[i]));
    slowest.truncate(3);
    times.sort();
    println!(
        "{label}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} calls (slowest: calls {})",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
        times.len(),
        slowest
            .iter()
            .map(|i| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}
