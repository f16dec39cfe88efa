//! Account histories in memory: each recently used account's events, decoded once and shared
//! by the live projector and the relationships service.
//!
//! Every projection folds an account's whole history, and reading it from the log decodes and
//! checks every record again: for an account of 10,000 events that was most of the cost of a
//! `GetRelationship`. Records never change once committed, so a history read once stays true
//! for ever, and a later question needs only the records appended since (one read of the
//! stream from the next revision, usually empty).
//!
//! The cache is bounded by the number of events it holds ([`DEFAULT_BUDGET`]), least recently
//! used account first out, so memory does not grow with the number of accounts; an account that
//! fell out is simply read again. Nothing here is needed for correctness: a cold cache answers
//! the same, only slower.
//!
//! One exception to least recently used first: an account not cached is not let in at the cost
//! of a history used in the last [`HOT_FOR`]. The projector touches the accounts of each page in
//! the same order, page after page; when their histories hold more events than the budget,
//! plain LRU evicts exactly the account needed next, and every account of every page was read
//! from the log again (the classic failure of LRU under a cyclic pattern). With the admission
//! rule the histories in the cache stay there while they are in use, and only the accounts
//! beyond the budget are read again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use lru::LruCache;

use crate::domain::{AccountId, RecordedEvent};
use crate::store::{Direction, Log, StoreError};

/// The most events the cache holds by default, in all accounts: a few hundred MB at most.
pub const DEFAULT_BUDGET: usize = 200_000;

/// How recently a cached history must have been used for an account not cached to be refused
/// room at its cost (see the module docs). Long beside the projector's pacing (a page at least
/// every second while appends come), so that what a live projector keeps using stays.
pub const HOT_FOR: Duration = Duration::from_secs(10);

/// One account's events in stream order: revision `i` at index `i`.
pub type History = Arc<Vec<RecordedEvent>>;

/// The events of `history` at global positions up to `position`: a prefix, since positions
/// grow along a stream.
pub fn up_to(history: &[RecordedEvent], position: u64) -> &[RecordedEvent] {
    &history[..history.partition_point(|r| r.position <= position)]
}

/// Recently used account histories over a log (see the module docs).
pub struct Histories {
    log: Arc<dyn Log>,
    cache: Mutex<Cached>,
    /// [`HOT_FOR`], shorter in tests.
    hot_for: Duration,
}

/// A cached history and when it was last used.
struct Kept {
    history: History,
    used: Instant,
}

struct Cached {
    /// Each account's history, most recently used first out of the way of eviction.
    accounts: LruCache<AccountId, Kept>,
    /// How many events `accounts` holds.
    events: usize,
    /// The most it may hold.
    budget: usize,
}

impl Histories {
    /// A cache over `log` holding at most `budget` events.
    pub fn new(log: Arc<dyn Log>, budget: usize) -> Self {
        Histories {
            log,
            cache: Mutex::new(Cached {
                accounts: LruCache::unbounded(),
                events: 0,
                budget,
            }),
            hot_for: HOT_FOR,
        }
    }

    /// The same cache with another [`HOT_FOR`]: zero makes it plain least recently used.
    #[cfg(test)]
    fn hot_for(self, hot_for: Duration) -> Self {
        Histories { hot_for, ..self }
    }

    /// `account`'s committed events in stream order, at least up to global position `up_to`
    /// (`None`: up to the log's head when called), possibly further: slice the answer with
    /// [`up_to`]. `known` may hold records of this account the caller already has and gives
    /// up (the projector's page), in stream order: those that continue the cached history are
    /// moved into it instead of being read from the log.
    pub async fn history(
        &self,
        account: &AccountId,
        known: impl IntoIterator<Item = RecordedEvent>,
        up_to: Option<u64>,
    ) -> Result<History, StoreError> {
        let cached = self.cached(account);
        let history: &[RecordedEvent] = cached.as_deref().map_or(&[], |h| &h[..]);
        let held = history.len() as u64;
        let mut next = held;
        let known = known.into_iter();
        let mut extension: Vec<RecordedEvent> = Vec::with_capacity(known.size_hint().0);
        for record in known {
            if record.revision < held {
                continue;
            }
            if record.revision != next {
                break;
            }
            extension.push(record);
            next += 1;
        }
        let reached = |history: &[RecordedEvent], extension: &[RecordedEvent]| {
            let last = extension.last().or(history.last()).map(|r| r.position);
            up_to.is_some_and(|up_to| last.is_some_and(|last| last >= up_to))
        };
        if !reached(history, &extension) {
            let mut tail = self
                .log
                .read_stream(account, Some(next), Direction::Forwards, None);
            while let Some(record) = tail.try_next().await? {
                if record.revision != next {
                    return Err(StoreError::Corrupt(format!(
                        "the stream of {account} gives revision {} where {next} was next",
                        record.revision
                    )));
                }
                let past = up_to.is_some_and(|up_to| record.position >= up_to);
                extension.push(record);
                next += 1;
                if past {
                    break;
                }
            }
        }
        let resident = cached.is_some();
        let history = match (cached, extension.is_empty()) {
            // An account with no events is not worth remembering.
            (None, true) => return Ok(History::default()),
            (Some(history), true) => history,
            (cached, false) => {
                let mut history = cached.unwrap_or_default();
                // The cache's own reference would make `make_mut` copy every event of the
                // account to add one (that copy cost the live projector more than its fold):
                // taken out, the events are copied only when another reader still holds them.
                self.release(account, &history);
                Arc::make_mut(&mut history).extend(extension);
                history
            }
        };
        self.keep(account, &history, resident);
        Ok(history)
    }

    fn cached(&self, account: &AccountId) -> Option<History> {
        let mut cached = self.lock();
        let kept = cached.accounts.get_mut(account)?;
        kept.used = Instant::now();
        Some(Arc::clone(&kept.history))
    }

    /// Takes `history` out of the cache if the cache holds this very one, so that it can be
    /// extended in place; [`Histories::keep`] puts it back.
    fn release(&self, account: &AccountId, history: &History) {
        let mut cached = self.lock();
        if cached
            .accounts
            .peek(account)
            .is_some_and(|held| Arc::ptr_eq(&held.history, history))
        {
            cached.accounts.pop(account);
            cached.events -= history.len();
        }
    }

    /// Keeps `history` unless the cache holds a longer one (a concurrent reader got further),
    /// then evicts the least recently used accounts until the cache is within its budget. An
    /// account that was not `resident` (cached when its history was asked for) is let in only
    /// at the cost of histories not used in the last [`HOT_FOR`]; when the room would take one
    /// used more recently, it is left out instead (see the module docs).
    fn keep(&self, account: &AccountId, history: &History, resident: bool) {
        let mut cached = self.lock();
        if history.len() > cached.budget {
            return;
        }
        let now = Instant::now();
        let held = cached.accounts.peek(account).map_or(0, |k| k.history.len());
        if held > history.len() {
            if let Some(kept) = cached.accounts.get_mut(account) {
                kept.used = now;
            }
            return;
        }
        let kept = Kept {
            history: Arc::clone(history),
            used: now,
        };
        cached.accounts.put(account.clone(), kept);
        cached.events = cached.events - held + history.len();
        let hot = |kept: &Kept| now.saturating_duration_since(kept.used) < self.hot_for;
        while cached.events > cached.budget {
            match cached.accounts.peek_lru() {
                Some((lru, kept)) if !resident && lru != account && hot(kept) => {
                    // Making room would evict a history in use: this one stays out.
                    cached.accounts.pop(account);
                    cached.events -= history.len();
                    break;
                }
                Some(_) => {
                    if let Some((_, evicted)) = cached.accounts.pop_lru() {
                        cached.events -= evicted.history.len();
                    }
                }
                None => break,
            }
        }
    }

    /// How many events the cache holds now.
    pub fn cached_events(&self) -> usize {
        self.lock().events
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // The cache is consistent after every statement that changes it.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
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
        let first = histories.history(&id("a"), [], None).await.unwrap();
        assert_eq!(
            first.iter().map(|r| r.revision).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        log.append(&id("a"), ExpectedRevision::Any, vec![any_event()])
            .await
            .unwrap();
        let second = histories.history(&id("a"), [], None).await.unwrap();
        assert_eq!(second.len(), 4);
        assert_eq!(&second[..3], &first[..], "the cached prefix is kept");
        assert_eq!(second[3].position, 5);
        assert_eq!(histories.cached_events(), 4);
    }

    #[tokio::test]
    async fn a_history_no_one_else_holds_is_extended_in_place_and_one_still_read_is_not_changed() {
        let log = log_with(&[("a", 3)]).await;
        let histories = Histories::new(log.clone(), 100);
        let first = histories.history(&id("a"), [], None).await.unwrap();
        let first_at = Arc::as_ptr(&first);
        drop(first);
        log.append(&id("a"), ExpectedRevision::Any, vec![any_event()])
            .await
            .unwrap();
        let second = histories.history(&id("a"), [], None).await.unwrap();
        assert_eq!(second.len(), 4);
        assert_eq!(Arc::as_ptr(&second), first_at, "extended, not copied");
        assert_eq!(histories.cached_events(), 4);

        // A reader still folding the history keeps exactly what it was given.
        log.append(&id("a"), ExpectedRevision::Any, vec![any_event()])
            .await
            .unwrap();
        let third = histories.history(&id("a"), [], None).await.unwrap();
        assert_eq!((second.len(), third.len()), (4, 5));
        assert_eq!(&third[..4], &second[..]);
        assert_eq!(histories.cached_events(), 5);
    }

    #[tokio::test]
    async fn records_the_caller_holds_extend_the_history_without_a_read() {
        let log = log_with(&[("a", 2)]).await;
        let histories = Histories::new(log.clone(), 100);
        let all = histories.history(&id("a"), [], None).await.unwrap();
        // A record the log never held proves the extension came from `known`.
        let mut invented = all[1].clone();
        invented.revision = 2;
        invented.position = 99;
        let known = vec![all[1].clone(), invented.clone()];
        let extended = histories.history(&id("a"), known, Some(99)).await.unwrap();
        assert_eq!(extended.len(), 3);
        assert_eq!(extended[2], invented);
    }

    #[tokio::test]
    async fn the_budget_evicts_the_least_recently_used_account() {
        let log = log_with(&[("a", 3), ("b", 3), ("c", 3)]).await;
        let histories = Histories::new(log.clone(), 7).hot_for(Duration::ZERO);
        histories.history(&id("a"), [], None).await.unwrap();
        histories.history(&id("b"), [], None).await.unwrap();
        histories.history(&id("a"), [], None).await.unwrap();
        histories.history(&id("c"), [], None).await.unwrap();
        assert_eq!(histories.cached_events(), 6);
        let cache = histories.lock();
        assert!(cache.accounts.contains(&id("a")) && cache.accounts.contains(&id("c")));
        assert!(
            !cache.accounts.contains(&id("b")),
            "b was used least recently"
        );
    }

    /// The projector's pattern: the same accounts, in the same order, again and again, holding
    /// more events than the budget. Plain LRU would read every one from the log every time.
    #[tokio::test]
    async fn accounts_used_in_a_cycle_larger_than_the_budget_do_not_evict_each_other() {
        let log = log_with(&[("a", 3), ("b", 3), ("c", 3)]).await;
        let histories = Histories::new(log.clone(), 7);
        let mut first = Vec::new();
        for account in ["a", "b", "c"] {
            first.push(histories.history(&id(account), [], None).await.unwrap());
        }
        assert_eq!(histories.cached_events(), 6, "a and b; c was left out");
        for _ in 0..3 {
            for (account, before) in ["a", "b", "c"].into_iter().zip(&first) {
                let again = histories.history(&id(account), [], None).await.unwrap();
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
        let grown = histories.history(&id("b"), [], None).await.unwrap();
        assert_eq!(grown.len(), 5);
        let cache = histories.lock();
        assert!(cache.accounts.contains(&id("b")) && !cache.accounts.contains(&id("a")));
        assert_eq!(cache.events, 5);
    }

    #[tokio::test]
    async fn an_unknown_account_has_an_empty_history_and_is_not_cached() {
        let log = log_with(&[("a", 1)]).await;
        let histories = Histories::new(log, 100);
        assert!(histories
            .history(&id("z"), [], None)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(histories.cached_events(), 0);
    }
}
