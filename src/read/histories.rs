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
//! used account first out but for a value in use (see `read::kept`), so memory does not grow
//! with the number of accounts; an account that fell out is simply read again. Nothing here is
//! needed for correctness: a cold cache answers the same, only slower.

use std::sync::Arc;

use crate::domain::{AccountId, RecordedEvent};
use crate::read::kept::{continuation, ByAccount, Weighed};
use crate::store::{Log, StoreError};

/// The most events the cache holds by default, in all accounts: a few hundred MB at most.
pub const DEFAULT_BUDGET: usize = 200_000;

/// One account's events in stream order: revision `i` at index `i`.
pub type History = Arc<Vec<RecordedEvent>>;

/// The events of `history` at global positions up to `position`: a prefix, since positions
/// grow along a stream.
pub fn up_to(history: &[RecordedEvent], position: u64) -> &[RecordedEvent] {
    &history[..history.partition_point(|r| r.position <= position)]
}

impl Weighed for Vec<RecordedEvent> {
    fn weight(&self) -> usize {
        self.len()
    }

    fn reach(&self) -> usize {
        self.len()
    }
}

/// Recently used account histories over a log (see the module docs).
pub struct Histories {
    log: Arc<dyn Log>,
    cache: ByAccount<Vec<RecordedEvent>>,
}

impl Histories {
    /// A cache over `log` holding at most `budget` events.
    pub fn new(log: Arc<dyn Log>, budget: usize) -> Self {
        Histories {
            log,
            cache: ByAccount::new(budget),
        }
    }

    /// The same cache with another `HOT_FOR`: zero makes it plain least recently used.
    #[cfg(test)]
    fn hot_for(self, hot_for: std::time::Duration) -> Self {
        Histories {
            cache: self.cache.hot_for(hot_for),
            ..self
        }
    }

    /// `account`'s committed events in stream order, at least up to global position `up_to`
    /// (`None`: up to the log's head when called), possibly further: slice the answer with
    /// [`up_to`].
    pub async fn history(
        &self,
        account: &AccountId,
        up_to: Option<u64>,
    ) -> Result<History, StoreError> {
        let cached = self.cache.get(account);
        let history: &[RecordedEvent] = cached.as_deref().map_or(&[], |h| &h[..]);
        let held = (history.len() as u64, history.last().map(|r| r.position));
        let extension = continuation(&*self.log, account, held, [], up_to).await?;
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
                self.cache.release(account, &history);
                Arc::make_mut(&mut history).extend(extension);
                history
            }
        };
        self.cache.keep(account, &history, resident);
        Ok(history)
    }

    /// `account`'s history if the cache holds it, leaving its place in the cache as it was: for
    /// a sweep over every account, which must not make them look used.
    pub fn peek(&self, account: &AccountId) -> Option<History> {
        self.cache.peek(account)
    }

    /// How many events the cache holds now.
    pub fn cached_events(&self) -> usize {
        self.cache.weight()
    }
}

#[cfg(test)]
mod tests;
