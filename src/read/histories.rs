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

    /// `account`'s history if the cache holds it, leaving its place in the cache as it was: for
    /// a sweep over every account, which must not make them look used.
    pub fn peek(&self, account: &AccountId) -> Option<History> {
        self.lock()
            .accounts
            .peek(account)
            .map(|kept| Arc::clone(&kept.history))
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
mod tests;
