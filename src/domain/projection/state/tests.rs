use proptest::prelude::*;

use super::*;
use crate::domain::event::{AccountSegment, ContactRole, EventPayload, ProofKind};
use crate::domain::personal::PersonalText;
use crate::domain::projection::testkit::{self, day};
use crate::domain::projection::{
    project, project_listing, project_unexplained, stable_until, summarize, AlertCode,
};
use crate::domain::time::NANOS_PER_DAY;

const CONTACTS: [&str; 3] = ["boss", "qa", "buyer"];

/// A history from `ops`: each event on its own day (not in order, so that some are recorded
/// late) at its own time of day, naming one of three contacts, some of which leave (also
/// late) and one of which is never added. Promise ids repeat, so outcomes come before their
/// promise, twice, or for none.
fn history(ops: &[(u8, i64, i64, u8)]) -> Vec<RecordedEvent> {
    let mut log = testkit::Log::opened(AccountSegment::Key);
    log.contact(0, "boss", ContactRole::DecisionMaker);
    log.contact(0, "qa", ContactRole::TechnicalEvaluator);
    let mut shifts = vec![0, 0, 0];
    for &(op, d, shift, pick) in ops {
        let contact = CONTACTS[usize::from(pick) % CONTACTS.len()];
        let promise = format!("p{}", pick % 4);
        match op % 20 {
            0 | 1 => drop(log.visit(d, &[contact])),
            2 => drop(log.visit_planned(d, &["boss", contact], Some(d + 20))),
            3 | 4 => drop(log.call(d, contact)),
            5 => drop(log.promise(d, &promise, Some(contact), d + 10)),
            6 => drop(log.promise(d, &promise, None, d + 3)),
            7 => drop(log.kept(d, &promise)),
            8 => drop(log.broken(d, &promise)),
            9 => drop(log.solution(d, &[contact])),
            10 => drop(log.critical(d, &[contact, "boss"])),
            11 => drop(log.intro(d, contact)),
            12 => {
                // Some to a public official, with or without an approval reference.
                let approval = ["", "approved"][usize::from(pick / 3 % 2)];
                let official = pick % 2 == 0;
                log.favor_full(d, contact, 20_000 * i64::from(pick), official, approval);
            }
            13 => drop(log.proof(
                d,
                [ProofKind::CustomerReference, ProofKind::Award][usize::from(pick % 2)],
            )),
            14 => drop(log.left(d, contact)),
            15 => drop(log.contact(d, contact, ContactRole::Procurement)),
            16 => drop(log.order(d, 1_000_000, Some(150_000 * i64::from(pick % 3)))),
            17 => drop(log.concession(d, 300)),
            18 => drop(log.invoice(d, &promise, 500_000, d + 30)),
            _ => drop(log.payment(d, &promise, 200_000)),
        }
        shifts.push(shift);
    }
    testkit::spread(&mut log.events, &shifts);
    for (i, record) in log.events.iter_mut().enumerate() {
        wordy(record, &format!("text {i}"));
    }
    log.events
}

/// Gives every free-text field of `record` some text, so that a projection that read one the
/// state leaves out would differ from the fold of the whole events.
fn wordy(record: &mut RecordedEvent, text: &str) {
    let t = || text.to_string();
    let sealed = || PersonalText::Plain(text.to_string());
    let event = &mut record.event;
    event.actor = t();
    event.metadata.insert("k".into(), t());
    record.recorded_by = Some(t());
    match &mut event.payload {
        EventPayload::ContactAdded(c) => {
            (c.name, c.phone, c.email, c.notes) = (sealed(), sealed(), sealed(), sealed());
            c.title = t();
        }
        EventPayload::ContactLeft(c) => c.reason = sealed(),
        EventPayload::IntroductionMade(i) => {
            (i.introduced_by, i.relationship, i.notes) = (t(), sealed(), sealed())
        }
        EventPayload::Visit(v) => (v.purpose, v.summary, v.next_visit_pretext) = (t(), t(), t()),
        EventPayload::Call(c) => c.summary = t(),
        EventPayload::PromiseMade(p) => p.description = t(),
        EventPayload::PromiseKept(k) => k.note = t(),
        EventPayload::PromiseBroken(b) => b.reason = t(),
        EventPayload::SolutionDelivered(s) => s.description = t(),
        EventPayload::ThirdPartyProofShared(p) => (p.issuer, p.description) = (t(), t()),
        EventPayload::FavorGiven(f) => (f.purpose, f.description) = (t(), t()),
        EventPayload::CriticalAssistance(c) => c.description = t(),
        _ => {}
    }
}

fn newest(events: &[RecordedEvent]) -> Timestamp {
    events
        .iter()
        .map(|e| e.event.occurred_at)
        .max()
        .unwrap_or(Timestamp::EPOCH)
}

/// `state` written and read back in the encoding of the states cache's checkpoints.
fn written_and_read_back(state: &AccountState) -> AccountState {
    let written = postcard::to_allocvec(state).unwrap();
    postcard::from_bytes(&written).unwrap()
}

/// The state of `events`, advanced event by event and restored from a checkpoint (written
/// and read back) after the first `checkpoint` of them.
fn advanced(events: &[RecordedEvent], checkpoint: usize) -> AccountState {
    let params = Params::default();
    let mut state = AccountState::default();
    for record in &events[..checkpoint] {
        state.apply(record, &params);
    }
    let mut state = written_and_read_back(&state);
    for record in &events[checkpoint..] {
        state.apply(record, &params);
    }
    state
}

/// The state of `events` made compact after the first `at` of them and restored from a
/// checkpoint (written and read back) half-way through the rest, as the states cache keeps
/// it: built again from the history, and made compact, whenever it needs the history.
fn compacted(events: &[RecordedEvent], at: usize) -> AccountState {
    let params = Params::default();
    let mut state = AccountState::of(&events[..at], &params);
    state.compact(&params);
    // Asked of all the rest at once, as the cache asks of a page's events.
    let mut probe = state.clone();
    for record in &events[at..] {
        probe.apply(record, &params);
    }
    assert_eq!(
        state.takes_all(&events[at..], &params),
        !probe.needs_history()
    );
    let checkpoint = at + (events.len() - at) / 2;
    for (i, record) in events.iter().enumerate().skip(at) {
        if i == checkpoint {
            state = written_and_read_back(&state);
        }
        let takes = state.takes_all(std::slice::from_ref(record), &params);
        state.apply(record, &params);
        assert_eq!(
            takes,
            !state.needs_history(),
            "asked before, as it turned out"
        );
        if state.needs_history() {
            state = AccountState::of(&events[..=i], &params);
            state.compact(&params);
        }
    }
    state
}

/// `projection` with each score's contributions cut to the first `shown`.
fn first_few(projection: &AccountProjection, shown: usize) -> AccountProjection {
    let mut few = projection.clone();
    let first = |list: &std::sync::Arc<[crate::domain::projection::Contribution]>| {
        list[..shown.min(list.len())].to_vec().into()
    };
    few.organizational_trust.contributions = first(&projection.organizational_trust.contributions);
    for personal in few.personal_trust.values_mut() {
        personal.contributions = first(&personal.contributions);
    }
    few
}

/// Byte for byte: every float's bits, not just their values.
fn bytes(projection: &AccountProjection) -> String {
    serde_json::to_string(projection).unwrap()
}

#[test]
fn a_departure_recorded_late_takes_back_the_evidence_dated_after_it() {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(1, "qa", ContactRole::TechnicalEvaluator);
    // Two visits in one touch window: the second counts what is left of the cap...
    log.visit(31, &["qa"]);
    log.visit(32, &["qa"]);
    log.call(33, "qa");
    // ...until the contact is recorded as having left on day 31.5, after both were counted.
    let left = log.left(31, "qa");
    let record = log
        .events
        .iter_mut()
        .find(|e| e.event.event_id == left)
        .unwrap();
    record.event.occurred_at = Timestamp::from_unix_nanos(day(31).unix_nanos() + 3_600_000_000_000);
    let params = Params::default();
    let state = AccountState::of(&log.events, &params);
    let as_of = day(40);
    let from_state = state.project(as_of, &params, None).unwrap();
    assert_eq!(
        bytes(&from_state),
        bytes(&project(&log.events, as_of, &params))
    );
    let qa = &from_state.personal_trust["qa"];
    assert!(qa.frozen);
    // Only the first visit reaches the contact's frozen score.
    assert_eq!(qa.contributions.len(), 1);
}

#[test]
fn the_state_does_not_answer_before_its_newest_event() {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(1, "qa", ContactRole::TechnicalEvaluator);
    log.visit(30, &["qa"]);
    let params = Params::default();
    let state = AccountState::of(&log.events, &params);
    assert_eq!(state.newest(), Some(day(30)));
    assert!(state.project(day(29), &params, None).is_none());
    assert!(state.project(day(30), &params, None).is_some());
    assert_eq!(state.events(), 3);
}

#[test]
fn a_state_weighs_its_promises_invoices_and_orders_too() {
    // None of these is evidence kept or tallied, yet each is memory the budget must see.
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    let bare = AccountState::of(&log.events, &Params::default()).weight();
    for d in 1..=800 {
        log.invoice(d, &format!("i{d}"), 1_000, d + 30);
        log.order(d, 1_000_000, None);
    }
    let state = AccountState::of(&log.events, &Params::default());
    // 800 invoices at a quarter (every one is kept), and the orders the windows still reach
    // at an eighth.
    assert!(state.weight() > bare + 200, "{}", state.weight());
}

#[test]
fn a_compact_state_keeps_what_the_windows_look_back_over() {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(1, "qa", ContactRole::TechnicalEvaluator);
    for d in 2..3652 {
        log.visit(d, &["qa"]);
    }
    // Each visit at its own time of day (10:00 to 23:00).
    let hours_13 = 13 * 3_600_000_000_000_i64;
    let shifts: Vec<i64> = (0..log.events.len() as i64)
        .map(|i| (i * 7_919_000_000_000) % hours_13)
        .collect();
    testkit::spread(&mut log.events, &shifts);
    let params = Params::default();
    let full = AccountState::of(&log.events, &params);
    let mut compact = AccountState::of(&log.events[..10], &params);
    compact.compact(&params);
    for record in &log.events[10..] {
        compact.apply(record, &params);
    }
    // Ten years of daily visits: the full state keeps each visit and its item; the compact
    // one no visit but the instants of the last year's days of visits and, of the days whose
    // evidence counted (two visits fill a window's cap), the last quarter's sums, and no more
    // than twice as much in all between two prunings.
    assert!(full.weight() > 7000, "{}", full.weight());
    assert!(compact.trust_events.is_empty());
    let visit_days = compact.compact.as_ref().unwrap().visit_days();
    assert!(visit_days <= 2 * 365 + 64, "{visit_days} days of visits");
    assert!(compact.weight() < 250, "{}", compact.weight());
    let (kept, all) = (compact.tally.sums().len(), full.tally.sums().len());
    assert!(
        kept <= (90 + 445) / 30 * 2 + 4 && all > 200,
        "{kept} of {all} day sums"
    );
    // Of the caps' memory, the touch windows that hold a day of the last quarter, and those
    // begun since the last pruning (the rest of the tally is its day sums: no items, no
    // promises); ten years hold 122.
    let windows = compact.tally.len() - compact.tally.sums().len();
    assert!(
        windows <= (90 + 365 + 64) / 30 + 2,
        "{windows} touch windows"
    );
    // The times of day an answer may change at: every visit's two in the full state, those
    // of the visits the rules still reach (and since the last pruning) in the compact one.
    let last_visit = log.events.last().unwrap();
    let reach = params.occurred_reach_days(&last_visit.event.payload) as usize;
    let (kept, all) = (compact.anchors.len(), full.anchors.len());
    assert!(
        all > 7000 && kept <= 4 * (reach + 1) + 64,
        "{kept} of {all} anchors"
    );
    let (last, as_of) = (log.events.last().unwrap(), day(3700));
    let (position, id) = (last.position, last.event.event_id);
    assert_eq!(
        compact.summarize(position, id, as_of, &params),
        full.summarize(position, id, as_of, &params)
    );
    assert_eq!(compact.stable_until(as_of), full.stable_until(as_of));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The state advanced event by event and restored from a checkpoint answers as a fold of
    /// all the events at once, byte for byte, for every cut of a history and every instant
    /// from its newest event on: contributions, leave-one-out deltas, summary and the instant
    /// the answer holds until included.
    #[test]
    fn the_state_answers_as_a_fold_of_the_events(
        ops in prop::collection::vec((0u8..20, 1i64..400, 0i64..NANOS_PER_DAY, 0u8..6), 1..48),
        cut in 0.0f64..=1.0,
        checkpoint in 0.0f64..=1.0,
        later_days in 0i64..800,
        later_time in 0i64..NANOS_PER_DAY,
        shown in 0usize..6,
        compact_at in 0.0f64..=1.0,
    ) {
        let all = history(&ops);
        let events = &all[..((all.len() as f64 * cut).ceil() as usize).max(1)];
        let state = advanced(events, (events.len() as f64 * checkpoint) as usize);
        let compact = compacted(events, (events.len() as f64 * compact_at) as usize);
        prop_assert!(compact.is_compact() && !compact.needs_history());
        prop_assert_eq!(&state, &AccountState::of(events, &Params::default()));
        let params = Params::default();
        let first = newest(events);
        let later = Timestamp::from_unix_nanos(
            first.unix_nanos() + later_days * NANOS_PER_DAY + later_time,
        );
        for as_of in [first, later] {
            let from_state = state.project(as_of, &params, None).unwrap();
            prop_assert_eq!(bytes(&from_state), bytes(&project(events, as_of, &params)));
            // The biggest few are the whole list's first few, and the totals still count all.
            let listing = state.project(as_of, &params, Some(shown)).unwrap();
            prop_assert_eq!(
                bytes(&listing),
                bytes(&project_listing(events, as_of, &params, Some(shown)))
            );
            prop_assert_eq!(bytes(&listing), bytes(&first_few(&from_state, shown)));
            let unexplained = state.project_unexplained(as_of, &params).unwrap();
            prop_assert_eq!(
                bytes(&unexplained),
                bytes(&project_unexplained(events, as_of, &params))
            );
            let last = events.last().unwrap();
            let account = &last.account_id;
            let (position, id) = (last.position, last.event.event_id);
            let fold = summarize(account, position, id, events, as_of, &params);
            prop_assert_eq!(state.summarize(position, id, as_of, &params), Some(fold.clone()));
            prop_assert_eq!(state.stable_until(as_of), stable_until(events, as_of, &params));
            // A compact state summarizes the same, and leaves the rest to a fold.
            prop_assert_eq!(compact.summarize(position, id, as_of, &params), Some(fold));
            prop_assert_eq!(compact.stable_until(as_of), stable_until(events, as_of, &params));
            prop_assert!(compact.project(as_of, &params, None).is_none());
            prop_assert!(compact.project_unexplained(as_of, &params).is_none());
        }
        if first.unix_nanos() > 0 {
            let before = Timestamp::from_unix_nanos(first.unix_nanos() - 1);
            prop_assert!(state.project(before, &params, None).is_none());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A compact state keeps a day's first and last visit and the latest solutions: dense
    /// days, cut at random instants, summarize as the fold of every event does, the cadence's
    /// windows and the structural rule included.
    #[test]
    fn a_compact_state_of_dense_days_summarizes_as_the_fold(
        ops in prop::collection::vec((0u8..4, 0i64..8, 0i64..NANOS_PER_DAY), 60..160),
        compact_at in 0.0f64..=1.0,
        later_days in 0i64..800,
        later_time in 0i64..NANOS_PER_DAY,
    ) {
        let mut log = testkit::Log::opened(AccountSegment::Key);
        log.contact(0, "boss", ContactRole::DecisionMaker);
        // Orders in four 91-day windows, so that the structural rule decides the level.
        for d in [1, 100, 190, 280] {
            log.order(d, 1_000_000, Some(100_000));
        }
        let mut shifts = vec![0; log.events.len()];
        // Few days, many events each, so that a cadence window often holds part of one day.
        for &(op, pick, time) in &ops {
            let d = pick * 37;
            match op {
                0 | 1 => drop(log.visit(d, &["boss"])),
                2 => drop(log.solution(d, &["boss"])),
                _ => drop(log.critical(d, &["boss"])),
            }
            // `day(d)` is 10:00: shift each event to its own time of that day.
            shifts.push(time - 10 * 3_600_000_000_000);
        }
        testkit::spread(&mut log.events, &shifts);
        let events = &log.events;
        let compact = compacted(events, (events.len() as f64 * compact_at) as usize);
        let params = Params::default();
        let first = newest(events);
        let later = Timestamp::from_unix_nanos(
            first.unix_nanos() + later_days * NANOS_PER_DAY + later_time,
        );
        let last = events.last().unwrap();
        let (account, position, id) = (&last.account_id, last.position, last.event.event_id);
        for as_of in [first, later] {
            prop_assert_eq!(
                compact.summarize(position, id, as_of, &params),
                Some(summarize(account, position, id, events, as_of, &params))
            );
            // What the summary reads of the cadence and the level, which its few fields
            // would hide: every window, the last visit, every rule.
            let kept = compact.parts().evaluate(as_of, &params, Detail::Summary);
            let full = project(events, as_of, &params);
            prop_assert_eq!(kept.cadence.windows_with_visit, full.cadence.windows_with_visit);
            prop_assert_eq!(kept.cadence.last_visit, full.cadence.last_visit);
            prop_assert_eq!(kept.cadence.due_by, full.cadence.due_by);
            let met = |p: &AccountProjection| p.level.rules.iter().map(|r| r.met).collect::<Vec<_>>();
            prop_assert_eq!(met(&kept), met(&full));
        }
    }
}

#[test]
fn a_compact_state_remembers_the_caps_of_the_windows_its_horizon_falls_in() {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(1, "qa", ContactRole::TechnicalEvaluator);
    // Touch window 10 holds days 300 to 329 and favor window 3 days 270 to 359: two visits
    // fill the first's cap, one favor the second's.
    log.visit(325, &["qa"]);
    log.visit(326, &["qa"]);
    log.favor(325, "qa", 10_000);
    log.visit(417, &["qa"]);
    let params = Params::default();
    // Made compact at day 417: it keeps what evidence from day 327 on needs, and that falls
    // in both windows, which late entries then find full.
    let mut compact = AccountState::of(&log.events, &params);
    compact.compact(&params);
    log.visit(328, &["qa"]);
    log.favor(330, "qa", 10_000);
    for record in &log.events[log.events.len() - 2..] {
        assert!(compact.takes_all(std::slice::from_ref(record), &params));
        compact.apply(record, &params);
    }
    let as_of = day(418);
    let kept = compact.parts().evaluate(as_of, &params, Detail::Summary);
    let full = project(&log.events, as_of, &params);
    // The evidence, bit for bit (a summary has no trend).
    let evidence = |p: &AccountProjection| {
        let beta = p.personal_trust["qa"].trust.evidence;
        (beta.r.to_bits(), beta.s.to_bits())
    };
    assert_eq!(evidence(&kept), evidence(&full));
}

#[test]
fn a_compact_state_lets_settled_promises_go() {
    let mut log = testkit::Log::opened(AccountSegment::Standard);
    log.contact(1, "qa", ContactRole::TechnicalEvaluator);
    log.contact(1, "buyer", ContactRole::Procurement);
    // Still open, and past due; and kept after its contact left, whose frozen score finds it
    // overdue: both stay.
    log.promise(2, "open", Some("qa"), 3);
    log.promise(3, "late", Some("buyer"), 4);
    log.left(20, "buyer");
    log.kept(25, "late");
    for d in 0..400 {
        let id = format!("p{d}");
        log.promise(30 + 3 * d, &id, Some("qa"), 32 + 3 * d);
        log.kept(31 + 3 * d, &id);
        log.call(32 + 3 * d, "qa");
    }
    let params = Params::default();
    let mut compact = AccountState::of(&log.events[..10], &params);
    compact.compact(&params);
    for record in &log.events[10..] {
        compact.apply(record, &params);
    }
    let open: Vec<&str> = compact.promises.by_id.keys().map(String::as_str).collect();
    assert!(open.contains(&"open") && open.contains(&"late"), "{open:?}");
    assert!(open.len() <= 2 + 64, "{} promises kept", open.len());
    // Only calls and promises came, no event a compact state keeps: its day sums and the
    // caps' windows were pruned all the same.
    assert!(compact.tally.len() < 200, "{}", compact.tally.len());
    // A promise made again under a settled one's id, and an outcome for it, change nothing.
    log.promise(1330, "p5", Some("qa"), 1331);
    log.broken(1335, "p5");
    for record in &log.events[log.events.len() - 2..] {
        compact.apply(record, &params);
    }
    assert!(!compact.needs_history());
    let last = log.events.last().unwrap();
    let (account, position, id) = (&last.account_id, last.position, last.event.event_id);
    for as_of in [day(1336), day(1400)] {
        let fold = summarize(account, position, id, &log.events, as_of, &params);
        assert!(fold.alert_codes.contains(&AlertCode::PromiseOverdue));
        assert_eq!(compact.summarize(position, id, as_of, &params), Some(fold));
    }
}

/// Commercial events over `ops`: orders (some without a margin), costs, favors, concession
/// demands, invoices and payments, each on its own day and time of day, recorded in any order.
fn commercial_history(ops: &[(u8, i64, i64, u8)]) -> Vec<RecordedEvent> {
    let mut log = testkit::Log::opened(AccountSegment::Key);
    log.contact(0, "buyer", ContactRole::Procurement);
    let mut shifts = vec![0, 0];
    for &(op, d, shift, pick) in ops {
        let invoice = format!("i{}", pick % 4);
        match op % 7 {
            0 | 1 => drop(log.order(d, 1_000_000, [None, Some(90_000)][usize::from(pick % 2)])),
            2 => drop(log.cost(d, 40_000 * i64::from(pick))),
            3 => drop(log.favor(d, "buyer", 30_000)),
            4 => drop(log.concession(d, 100 * u32::from(pick))),
            5 => drop(log.invoice(d, &invoice, 500_000, d + 30)),
            _ => drop(log.payment(d, &invoice, 300_000)),
        }
        shifts.push(shift);
    }
    testkit::spread(&mut log.events, &shifts);
    log.events
}

#[test]
fn a_state_keeps_the_commercial_flows_its_windows_reach() {
    let mut log = testkit::Log::opened(AccountSegment::Key);
    for d in 1..3652 {
        log.order(d, 1_000_000, Some(100_000));
        log.concession(d, 200);
        log.cost(d, 10_000);
    }
    let params = Params::default();
    let state = AccountState::of(&log.events, &params);
    // Ten years of daily orders, demands and costs: the orders of the longest window (455
    // days) and the demands and costs of the last year, and at most twice as many between
    // two prunings.
    let commerce = &state.commerce;
    let flows = commerce.orders.len() + commerce.costs.len() + commerce.concessions.len();
    assert!(flows <= 2 * (455 + 365 + 365) + 64, "{flows} flows kept");
    assert!(commerce.orders.len() >= 455, "{}", commerce.orders.len());
    let as_of = day(3700);
    assert_eq!(
        bytes(&state.project(as_of, &params, None).unwrap()),
        bytes(&project(&log.events, as_of, &params))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Commercial events spread over years, so that the state drops those no window reaches
    /// any more: the state, restored from a checkpoint or made compact, answers as the fold of
    /// every event, byte for byte, from its newest event on.
    #[test]
    fn a_state_that_dropped_past_flows_answers_as_the_fold(
        ops in prop::collection::vec((0u8..7, 1i64..2000, 0i64..NANOS_PER_DAY, 0u8..6), 1..400),
        checkpoint in 0.0f64..=1.0,
        compact_at in 0.0f64..=1.0,
        later_days in 0i64..800,
    ) {
        let events = commercial_history(&ops);
        let params = Params::default();
        let state = advanced(&events, (events.len() as f64 * checkpoint) as usize);
        prop_assert_eq!(&state, &AccountState::of(&events, &params));
        let compact = compacted(&events, (events.len() as f64 * compact_at) as usize);
        let first = newest(&events);
        let last = events.last().unwrap();
        let (account, position, id) = (&last.account_id, last.position, last.event.event_id);
        for as_of in [first, first.plus_days(later_days)] {
            prop_assert_eq!(
                bytes(&state.project(as_of, &params, None).unwrap()),
                bytes(&project(&events, as_of, &params))
            );
            let fold = summarize(account, position, id, &events, as_of, &params);
            prop_assert_eq!(compact.summarize(position, id, as_of, &params), Some(fold));
        }
    }
}
