//! A bounded cache of one value per account (a history, a projection state), least recently
//! used out first, with one exception that keeps a cyclic pattern from emptying it; and the
//! read of the records that extend a kept value ([`continuation`]).
//!
//! The projector touches the accounts of each page in the same order, page after page; when
//! their values weigh more than the budget, plain LRU evicts exactly the account needed next,
//! and every account of every page was read from the log again (the classic failure of LRU
//! under a cyclic pattern). So an account not cached is not let in at the cost of a value used
//! in the last [`HOT_FOR`]: the values in the cache stay there while they are in use, and only
//! the accounts beyond the budget are read again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use lru::LruCache;

use crate::domain::{AccountId, RecordedEvent};
use crate::store::{Direction, Log, StoreError};

/// How recently a cached value must have been used for an account not cached to be refused
/// room at its cost (see the module docs). Long beside the projector's pacing (a page at least
/// every second while appends come), so that what a live projector keeps using stays.
pub const HOT_FOR: Duration = Duration::from_secs(10);

/// A value the cache can weigh and compare.
pub trait Weighed {
    /// What the value costs of the cache's budget.
    fn weight(&self) -> usize;
    /// How many of its account's events it reflects: of two values for one account, the cache
    /// keeps the one that reaches further.
    fn reach(&self) -> usize;
}

/// Values by account within a budget of weight (see the module docs).
pub struct ByAccount<V> {
    cache: Mutex<Cached<V>>,
    /// [`HOT_FOR`], shorter in tests.
    hot_for: Duration,
}

/// A cached value and when it was last used.
struct Kept<V> {
    value: Arc<V>,
    used: Instant,
}

struct Cached<V> {
    /// Each account's value, most recently used first out of the way of eviction.
    accounts: LruCache<AccountId, Kept<V>>,
    /// What `accounts` weighs.
    weight: usize,
    /// The most it may weigh.
    budget: usize,
}

impl<V: Weighed> ByAccount<V> {
    /// A cache of at most `budget` weight.
    pub fn new(budget: usize) -> Self {
        ByAccount {
            cache: Mutex::new(Cached {
                accounts: LruCache::unbounded(),
                weight: 0,
                budget,
            }),
            hot_for: HOT_FOR,
        }
    }

    /// The same cache with another [`HOT_FOR`]: zero makes it plain least recently used.
    #[cfg(test)]
    pub fn hot_for(self, hot_for: Duration) -> Self {
        ByAccount { hot_for, ..self }
    }

    /// `account`'s value, marked used.
    pub fn get(&self, account: &AccountId) -> Option<Arc<V>> {
        let mut cached = self.lock();
        let kept = cached.accounts.get_mut(account)?;
        kept.used = Instant::now();
        Some(Arc::clone(&kept.value))
    }

    /// `account`'s value if the cache holds it, leaving its place in the cache as it was: for
    /// a sweep over every account, which must not make them look used.
    pub fn peek(&self, account: &AccountId) -> Option<Arc<V>> {
        self.lock()
            .accounts
            .peek(account)
            .map(|kept| Arc::clone(&kept.value))
    }

    /// Takes `value` out of the cache if the cache holds this very one, so that it can be
    /// changed in place (the cache's own reference would make `Arc::make_mut` copy it);
    /// [`ByAccount::keep`] puts it back.
    pub fn release(&self, account: &AccountId, value: &Arc<V>) {
        let mut cached = self.lock();
        if cached
            .accounts
            .peek(account)
            .is_some_and(|held| Arc::ptr_eq(&held.value, value))
        {
            cached.accounts.pop(account);
            cached.weight -= value.weight();
        }
    }

    /// Keeps `value` unless the cache holds one that reaches further (a concurrent reader got
    /// further), then evicts the least recently used accounts until the cache is within its
    /// budget. An account that was not `resident` (cached when its value was asked for) is let
    /// in only at the cost of values not used in the last [`HOT_FOR`]; when the room would take
    /// one used more recently, it is left out instead (see the module docs).
    pub fn keep(&self, account: &AccountId, value: &Arc<V>, resident: bool) {
        let mut cached = self.lock();
        if value.weight() > cached.budget {
            return;
        }
        let now = Instant::now();
        let held = cached
            .accounts
            .peek(account)
            .map(|k| (k.value.reach(), k.value.weight()));
        if held.is_some_and(|(reach, _)| reach > value.reach()) {
            if let Some(kept) = cached.accounts.get_mut(account) {
                kept.used = now;
            }
            return;
        }
        let kept = Kept {
            value: Arc::clone(value),
            used: now,
        };
        cached.accounts.put(account.clone(), kept);
        cached.weight = cached.weight - held.map_or(0, |(_, weight)| weight) + value.weight();
        let hot = |kept: &Kept<V>| now.saturating_duration_since(kept.used) < self.hot_for;
        while cached.weight > cached.budget {
            match cached.accounts.peek_lru() {
                Some((lru, kept)) if !resident && lru != account && hot(kept) => {
                    // Making room would evict a value in use: this one stays out.
                    cached.accounts.pop(account);
                    cached.weight -= value.weight();
                    break;
                }
                Some(_) => {
                    if let Some((_, evicted)) = cached.accounts.pop_lru() {
                        cached.weight -= evicted.value.weight();
                    }
                }
                None => break,
            }
        }
    }

    /// Whether the cache holds a value for `account`.
    #[cfg(test)]
    pub fn contains(&self, account: &AccountId) -> bool {
        self.lock().accounts.contains(account)
    }

    /// What the cache weighs now.
    pub fn weight(&self) -> usize {
        self.lock().weight
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached<V>> {
        // The cache is consistent after every statement that changes it.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The records that continue `account`'s stream past the `held` events a kept value reflects
/// (the last of them at global position `last`): those of `known` (records of the account the
/// caller already has and gives up, in stream order) while they follow on, then the rest read
/// from `log`, none past global position `up_to` (`None`: up to the log's head when read).
pub async fn continuation(
    log: &dyn Log,
    account: &AccountId,
    (held, last): (u64, Option<u64>),
    known: impl IntoIterator<Item = RecordedEvent>,
    up_to: Option<u64>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let past = |record: &RecordedEvent| up_to.is_some_and(|up_to| record.position > up_to);
    let mut next = held;
    let known = known.into_iter();
    let mut events: Vec<RecordedEvent> = Vec::with_capacity(known.size_hint().0);
    for record in known {
        if record.revision < held {
            continue;
        }
        if record.revision != next || past(&record) {
            break;
        }
        events.push(record);
        next += 1;
    }
    let last = events.last().map(|r| r.position).or(last);
    if up_to.is_some_and(|up_to| last.is_some_and(|last| last >= up_to)) {
        return Ok(events);
    }
    let mut tail = log.read_stream(account, Some(next), Direction::Forwards, None);
    while let Some(record) = tail.try_next().await? {
        if past(&record) {
            break;
        }
        if record.revision != next {
            return Err(StoreError::Corrupt(format!(
                "the stream of {account} gives revision {} where {next} was next",
                record.revision
            )));
        }
        let at_end = up_to == Some(record.position);
        events.push(record);
        next += 1;
        if at_end {
            break;
        }
    }
    Ok(events)
}
