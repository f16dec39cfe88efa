//! The subscriptions connected now, as the server serves them: how far each has read the log,
//! what it has handed to its connection, and what it holds.
//!
//! This is how an operator (and a test) sees the backpressure promise kept from the outside:
//! a consumer that reads slowly shows a growing lag and a feed that reads no further ahead of
//! it, never a growing buffer. Each [`Feed`](super::Feed) owns a [`Gauge`] registered here and
//! updates it as it reads and delivers; dropping the feed (the client hung up, the server
//! stopped) unregisters it. The relationship change feeds keep a registry of their own
//! ([`ChangeFeeds`](crate::read::change_feed::ChangeFeeds)), whose positions are those of the
//! projector's change log, listed beside these.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::domain::SubscriptionName;

/// What one open subscription has done so far; see [`OpenSubscription`] for the fields.
#[derive(Debug, Default)]
struct Counters {
    next_position: AtomicU64,
    delivered_events: AtomicU64,
    buffered_events: AtomicU64,
    max_buffered_events: AtomicU64,
}

/// One open subscription as `ListSubscriptions` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSubscription {
    /// The durable subscription it resumed, if it named one.
    pub name: Option<SubscriptionName>,
    /// The first position it has not read from the log.
    pub next_position: u64,
    /// How many events it has handed to its connection.
    pub delivered_events: u64,
    /// How many events it has read from the log and not yet handed on: at most one page.
    pub buffered_events: u64,
    /// The most it ever held at once.
    pub max_buffered_events: u64,
}

/// Each open feed's name and counters, by registration number.
type Registered = BTreeMap<u64, (Option<SubscriptionName>, Arc<Counters>)>;

/// The registry of open subscriptions, shared by the service and every feed it started.
#[derive(Debug, Default)]
pub struct OpenFeeds {
    /// Each open feed by a number given at registration, so the list comes in opening order.
    /// A std mutex: held only to insert, remove or copy the map, never across an await.
    feeds: Mutex<Registered>,
    /// The number the next registration takes.
    next_id: AtomicU64,
}

impl OpenFeeds {
    /// Registers a feed that starts reading at `next_position`.
    pub(crate) fn register(
        self: &Arc<Self>,
        name: Option<SubscriptionName>,
        next_position: u64,
    ) -> Gauge {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let counters = Arc::new(Counters::default());
        counters
            .next_position
            .store(next_position, Ordering::Relaxed);
        self.lock().insert(id, (name, Arc::clone(&counters)));
        Gauge {
            id,
            counters,
            registry: Arc::downgrade(self),
        }
    }

    /// Every open subscription, in the order they were opened.
    pub fn list(&self) -> Vec<OpenSubscription> {
        self.lock()
            .values()
            .map(|(name, c)| OpenSubscription {
                name: name.clone(),
                next_position: c.next_position.load(Ordering::Relaxed),
                delivered_events: c.delivered_events.load(Ordering::Relaxed),
                buffered_events: c.buffered_events.load(Ordering::Relaxed),
                max_buffered_events: c.max_buffered_events.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registered> {
        // A panic elsewhere while the map was held leaves it whole (every change is one
        // insert or remove), so the poison is ignored.
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A feed's entry in [`OpenFeeds`]; unregisters it when dropped.
#[derive(Debug)]
pub(crate) struct Gauge {
    id: u64,
    counters: Arc<Counters>,
    /// Weak: a feed outliving the service (a stream still draining at shutdown) must not keep
    /// the registry alive, and has nothing to unregister from then.
    registry: Weak<OpenFeeds>,
}

impl Gauge {
    /// The feed has scanned up to `next_position` and holds `buffered` events.
    pub(crate) fn scanned(&self, next_position: u64, buffered: usize) {
        self.counters
            .next_position
            .store(next_position, Ordering::Relaxed);
        self.held(buffered);
    }

    /// The feed handed `events` events on (one, or a batch) and holds `buffered` more.
    pub(crate) fn delivered(&self, events: usize, buffered: usize) {
        self.counters
            .delivered_events
            .fetch_add(events as u64, Ordering::Relaxed);
        self.held(buffered);
    }

    fn held(&self, buffered: usize) {
        let buffered = buffered as u64;
        self.counters
            .buffered_events
            .store(buffered, Ordering::Relaxed);
        self.counters
            .max_buffered_events
            .fetch_max(buffered, Ordering::Relaxed);
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.lock().remove(&self.id);
        }
    }
}
