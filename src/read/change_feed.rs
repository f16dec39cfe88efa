//! The relationship change feed: every change of an account's quadrant, level, grade or alert
//! set, from a start position, then live, each at most once and none skipped.
//!
//! It runs `Subscribe`'s loop (`subscriptions::tail`) over the projector's change log
//! instead of the event log: a [`ChangeFeed`] pages through the stored changes
//! ([`SnapshotStore::changes_after`]) up to the projector's progress, keeps those of the
//! accounts it is filtered to, and when it has read everything the projector has projected it
//! waits on the projector's progress watch ([`Projector::progress`]). What is the change log's
//! own is `ProjectedChanges`; the loop is shared. There is no fan-out buffer: a feed holds at
//! most one page of changes, and a slow consumer is simply further behind in the change log.
//!
//! Positions are log positions: a change sits at the position of the last event it covers
//! (`after.position`), and a checkpoint `p` means every change at a position up to `p` has
//! been scanned (and those that pass the filter delivered), so a resume after `p` misses none.
//!
//! A change covers `first_position..=after.position` of one account: one event when the
//! projector keeps up with the log, several of the account's events when it was catching up
//! (after a restart, under a burst) and judged them together.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::projection::RelationshipChange;
use crate::domain::{AccountId, AccountScope};
use crate::read::projector::Projector;
use crate::store::{Log, SnapshotStore, StoreError};
use crate::subscriptions::tail::{self, Page, Source, Tail};
use crate::subscriptions::{
    nanos_between, recorded_at, Lag, OpenFeeds, OpenSubscription, Start, SubscriptionError,
};

#[cfg(test)]
mod tests;

/// How many changes one read of the change log returns at most: the most a feed holds.
pub const CHANGE_PAGE_LEN: usize = 256;

/// Which accounts' changes a feed delivers: an account passes when it is listed *or* starts
/// with the prefix; when neither is given, every account passes (the rule of `Subscribe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// These accounts.
    pub account_ids: BTreeSet<AccountId>,
    /// Accounts whose id starts with this (`None`: no prefix).
    pub account_id_prefix: Option<String>,
    /// Only accounts inside the subscriber's scope, whatever the rest of the filter says.
    pub scope: AccountScope,
}

impl ChangeFilter {
    /// Whether changes of `account` pass.
    pub fn matches(&self, account: &AccountId) -> bool {
        self.scope.covers(account) && self.unscoped_matches(account)
    }

    fn unscoped_matches(&self, account: &AccountId) -> bool {
        (self.account_ids.is_empty() && self.account_id_prefix.is_none())
            || self.account_ids.contains(account)
            || self
                .account_id_prefix
                .as_deref()
                .is_some_and(|prefix| account.as_str().starts_with(prefix))
    }
}

/// What a change feed delivers, in the order the consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeDelivery {
    /// A change that passes the filter, in position order, each once.
    Change(Box<RelationshipChange>),
    /// Every change at a position up to and including `position` has been scanned. Sent after
    /// a page whose last scanned position was not delivered, and before
    /// [`ChangeDelivery::CaughtUp`] when the consumer could not otherwise know where it stands.
    Checkpoint {
        /// The last scanned position.
        position: u64,
    },
    /// The feed has scanned everything the projector had projected when it got here: from now
    /// on changes arrive as the projector finds them. Sent once per feed.
    CaughtUp {
        /// The first position the projector had not projected then.
        next_position: u64,
    },
    /// Sent every heartbeat interval: how far behind the projector this consumer is
    /// (`lag.next_position` is the first position the projector has not projected), and
    /// where the log's head is, which shows how far the projector is behind the log.
    Heartbeat {
        /// This consumer's lag behind the projector.
        lag: Lag,
        /// The log's head: the position the next record will take.
        log_next_position: u64,
    },
}

/// One subscriber's pass over the change log. See the module docs.
pub struct ChangeFeed {
    /// The loop, over the change log.
    tail: Tail<ProjectedChanges>,
}

/// What a [`ChangeFeed`]'s tail follows: the projector's change log, up to its progress.
pub(crate) struct ProjectedChanges {
    /// The event log, for the heartbeat's lag in time and the log's head.
    log: Arc<dyn Log>,
    /// The change log.
    store: Arc<dyn SnapshotStore>,
    /// The last position the projector has projected (and stored the changes of).
    progress: watch::Receiver<Option<u64>>,
    /// Which changes are delivered.
    filter: ChangeFilter,
}

/// Starts change feeds over a projector's change log.
pub struct ChangeFeeds {
    /// The event log: `after_position` must name one of its positions.
    log: Arc<dyn Log>,
    /// The projector whose change log and progress the feeds follow.
    projector: Arc<Projector>,
    /// Turns true when the server shuts down; every feed ends then.
    stopping: watch::Receiver<bool>,
    /// The feeds open now, each updating its own entry.
    open: Arc<OpenFeeds>,
}

impl ChangeFeeds {
    /// Feeds over `projector`'s change log; they end when `stopping` turns true (or its
    /// sender is dropped).
    pub fn new(
        log: Arc<dyn Log>,
        projector: Arc<Projector>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        ChangeFeeds {
            log,
            projector,
            stopping,
            open: Arc::default(),
        }
    }

    /// Starts a feed at `start`, delivering the changes of the accounts `filter` passes.
    /// `PastEnd` when `after_position` is not a position of the log (once this replica's copy
    /// of a shared log has caught up with it: another replica may have written it a moment
    /// ago).
    pub async fn subscribe(
        &self,
        start: Start,
        filter: ChangeFilter,
        heartbeat_every: Duration,
    ) -> Result<ChangeFeed, SubscriptionError> {
        // The watch first: the progress read below can only be at or behind what it shows.
        let progress = self.projector.progress();
        let projected = progress.borrow().map_or(0, |p| p + 1);
        let (next, told) = match start {
            Start::FromStart => (0, None),
            Start::FromEnd => (projected, None),
            Start::After(position) => {
                let next_position = self.log.head_covering(position).await?;
                if position >= next_position {
                    return Err(SubscriptionError::PastEnd {
                        field: "after_position",
                        position,
                        next_position,
                    });
                }
                (position + 1, Some(position))
            }
        };
        let source = ProjectedChanges {
            log: Arc::clone(&self.log),
            store: Arc::clone(self.projector.store()),
            progress,
            filter,
        };
        Ok(ChangeFeed {
            tail: Tail::new(
                source,
                self.stopping.clone(),
                next,
                told,
                heartbeat_every,
                // One change a delivery: a change is a message of its own, and changes are far
                // fewer than events, so there is nothing for batches to save.
                NonZeroUsize::MIN,
                self.open.register(None, next),
            ),
        })
    }

    /// The change feeds open now, in the order they were opened; their positions are log
    /// positions, as far as each has scanned the projector's change log.
    pub fn open(&self) -> Vec<OpenSubscription> {
        self.open.list()
    }
}

impl ChangeFeed {
    /// The first position not yet scanned.
    pub fn next_position(&self) -> u64 {
        self.tail.next_position()
    }

    /// How many changes the feed holds now: at most [`CHANGE_PAGE_LEN`].
    pub fn buffered(&self) -> usize {
        self.tail.buffered()
    }

    /// The next delivery. Waits while there is nothing to deliver; ends with `ShuttingDown`
    /// when the server stops, and with the store's error when a read fails (a resume from the
    /// last checkpoint then loses nothing).
    pub async fn next(&mut self) -> Result<ChangeDelivery, SubscriptionError> {
        loop {
            let delivery = match self.tail.next().await? {
                tail::Delivery::Items(mut changes) => match changes.pop() {
                    // Batches of one (see `ChangeFeeds::subscribe`).
                    Some(change) => ChangeDelivery::Change(Box::new(change)),
                    // Never: the tail hands out at least one item at a time.
                    None => continue,
                },
                tail::Delivery::Checkpoint { position } => ChangeDelivery::Checkpoint { position },
                tail::Delivery::CaughtUp { next_position } => {
                    ChangeDelivery::CaughtUp { next_position }
                }
                tail::Delivery::Heartbeat((lag, log_next_position)) => ChangeDelivery::Heartbeat {
                    lag,
                    log_next_position,
                },
            };
            return Ok(delivery);
        }
    }
}

impl Source for ProjectedChanges {
    type Item = RelationshipChange;
    type Progress = Option<u64>;
    /// The consumer's lag behind the projector, and the log's head.
    type Heartbeat = (Lag, u64);

    fn progress(&mut self) -> &mut watch::Receiver<Option<u64>> {
        &mut self.progress
    }

    fn end(projected: &Option<u64>) -> u64 {
        projected.map_or(0, |last| last + 1)
    }

    /// The next page of changes at positions `next..end` (`end`: the first position the
    /// projector has not projected).
    async fn read_page(
        &mut self,
        next: u64,
        end: u64,
    ) -> Result<Page<RelationshipChange>, SubscriptionError> {
        let last = end - 1;
        let page = self
            .store
            .changes_after(next.checked_sub(1), CHANGE_PAGE_LEN)
            .await?;
        let full = page.len() == CHANGE_PAGE_LEN;
        // Changes past `last` may already be stored (the projector moved on since the
        // progress was read); they are left for the next page.
        let page: Vec<RelationshipChange> = page
            .into_iter()
            .take_while(|c| c.position() <= last)
            .collect();
        let scanned = match page.last() {
            // A full page within the progress: scanned up to its last change only.
            Some(change) if full && page.len() == CHANGE_PAGE_LEN => change.position(),
            _ => last,
        };
        if let Some(change) = page.first() {
            if change.position() < next {
                return Err(StoreError::Corrupt(format!(
                    "a read of the changes from position {next} returned one at {}",
                    change.position()
                ))
                .into());
            }
        }
        Ok(Page {
            items: page,
            end: scanned + 1,
        })
    }

    fn passes(&self, change: &RelationshipChange) -> bool {
        self.filter.matches(&change.after.account_id)
    }

    fn position(change: &RelationshipChange) -> u64 {
        change.position()
    }

    /// How far behind the projector the feed is, and where the log's head is.
    async fn heartbeat(&self, next: u64) -> Result<(Lag, u64), SubscriptionError> {
        let projected = *self.progress.borrow();
        let next_position = projected.map_or(0, |p| p + 1);
        let positions = next_position.saturating_sub(next);
        let time = match projected {
            Some(newest) if positions > 0 => {
                let newest = recorded_at(self.log.as_ref(), newest).await?;
                let scanned = recorded_at(self.log.as_ref(), next.saturating_sub(1)).await?;
                nanos_between(scanned, newest)
            }
            _ => Duration::ZERO,
        };
        let lag = Lag {
            next_position,
            positions,
            time,
        };
        // Read after the projector's progress: the head is never behind it.
        let log_next_position = self.log.head().next_position;
        Ok((lag, log_next_position))
    }
}

impl crate::subscriptions::DeliveryFeed for ChangeFeed {
    type Delivery = ChangeDelivery;

    fn next(
        &mut self,
    ) -> impl std::future::Future<Output = Result<ChangeDelivery, SubscriptionError>> + Send {
        ChangeFeed::next(self)
    }

    fn next_position(&self) -> u64 {
        ChangeFeed::next_position(self)
    }
}
