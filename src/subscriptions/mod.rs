//! Subscriptions: the global log delivered to a consumer from a start position, then live,
//! filtered on the server, each position at most once and none skipped.
//!
//! - `tail`: the loop every feed runs, `Subscribe`'s and the relationship change feed's:
//!   paged reads from the first position not yet scanned, then a wait on a watch of how far
//!   there is to read, with checkpoints, heartbeats and the end at shutdown;
//! - [`feed`]: `Subscribe`'s feed: that loop over the log, paged reads up to the committed
//!   head, then a wait on the head's watch;
//! - this file: the application service: where a subscription starts (explicitly, or after a
//!   named subscription's acknowledged position), acknowledging positions, and listing named
//!   subscriptions with their lag;
//! - [`open`]: the subscriptions connected now, with what each has read, delivered and holds.
//!
//! ARCHITECTURE.md ("Subscriptions") explains why there is no fan-out buffer.

pub mod feed;
pub mod open;
pub(crate) mod tail;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tokio::sync::watch;

pub use feed::{Delivery, Feed, PAGE_LEN};
pub use open::{OpenFeeds, OpenSubscription};

use crate::domain::{
    AccountId, AccountScope, EventType, RecordedEvent, SubscriptionName, Timestamp, ValidationError,
};
use crate::store::{AckedPosition, CheckpointStore, Direction, Log, ReadAllFilter, StoreError};

/// The heartbeat interval when the subscriber names none.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// The shortest heartbeat interval a subscriber may ask for.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// The longest heartbeat interval a subscriber may ask for.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);
/// The most events one batched delivery holds: a feed's page, since a batch is taken from the
/// records of one read and never waits for the next, so a feed still holds at most one page.
pub const MAX_BATCH: usize = PAGE_LEN as usize;

/// [`MAX_BATCH`] as a batch size.
fn max_batch() -> NonZeroUsize {
    NonZeroUsize::new(MAX_BATCH).unwrap_or(NonZeroUsize::MIN)
}

/// What can go wrong with a subscription. The variant docs say which gRPC status each becomes.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The request is malformed (`INVALID_ARGUMENT`, naming every bad field).
    #[error("invalid request: {0}")]
    Invalid(#[from] ValidationError),
    /// A position lies past the end of the log (`OUT_OF_RANGE`): a consumer cannot have seen
    /// or processed it, so it is a client bug or a log that lost records, never a wait.
    #[error(
        "{field} {position} is past the end of the log, whose next position is {next_position}"
    )]
    PastEnd {
        /// The request field that named the position.
        field: &'static str,
        /// The position named.
        position: u64,
        /// The log's head: the position the next record will take.
        next_position: u64,
    },
    /// The server is shutting down (`UNAVAILABLE`): reconnect and resume from the last
    /// checkpoint.
    #[error("the server is shutting down; resume from your last checkpoint")]
    ShuttingDown,
    /// The log or the checkpoint store failed (status by [`StoreError`] variant).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which records a subscription delivers.
///
/// `account_ids` and `account_id_prefix` together choose accounts: a record passes when its
/// account is listed *or* starts with the prefix (when neither is given, every account
/// passes). `event_types` then narrows by type (empty: every type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// These accounts.
    pub account_ids: BTreeSet<AccountId>,
    /// Accounts whose id starts with this (`None`: no prefix).
    pub account_id_prefix: Option<String>,
    /// Only these event types; empty means every type.
    pub event_types: BTreeSet<EventType>,
    /// Only accounts inside the subscriber's scope, whatever the rest of the filter says.
    pub scope: AccountScope,
}

impl SubscriptionFilter {
    /// Whether `record` passes.
    pub fn matches(&self, record: &RecordedEvent) -> bool {
        let account = &record.account_id;
        let any_account = self.account_ids.is_empty() && self.account_id_prefix.is_none();
        let account_passes = any_account
            || self.account_ids.contains(account)
            || self
                .account_id_prefix
                .as_deref()
                .is_some_and(|prefix| account.as_str().starts_with(prefix));
        account_passes
            && self.scope.covers(account)
            && (self.event_types.is_empty()
                || self
                    .event_types
                    .contains(&record.event.payload.event_type()))
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From position 0.
    FromStart,
    /// From the head when the subscription starts: only what is committed later.
    FromEnd,
    /// After this position (exclusive): the last position the consumer processed.
    After(u64),
}

/// What a subscriber asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Where to start; `None`: after the named subscription's acknowledged position, or from
    /// the start when there is no name or nothing was acknowledged.
    pub start: Option<Start>,
    /// Which records to deliver.
    pub filter: SubscriptionFilter,
    /// The durable subscription to resume, if any.
    pub name: Option<SubscriptionName>,
    /// How often to send a heartbeat.
    pub heartbeat_every: Duration,
    /// The most events one [`Delivery::Events`] hands out (at most [`MAX_BATCH`]; more is taken
    /// as that). `None`: [`MAX_BATCH`], for a consumer that takes each event on its own: the
    /// feed still hands them out a page at a time.
    pub max_batch: Option<NonZeroUsize>,
}

/// How far a consumer is behind the log's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// The log's head: the position the next record will take.
    pub next_position: u64,
    /// How many committed positions the consumer has not yet scanned (or acknowledged).
    pub positions: u64,
    /// `recorded_at` of the newest committed record minus that of the last record the consumer
    /// scanned (or acknowledged); zero when it is caught up.
    pub time: Duration,
}

/// A named subscription as `ListSubscriptions` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionStatus {
    /// Its name.
    pub name: SubscriptionName,
    /// Its acknowledged position and when it was stored.
    pub acked: AckedPosition,
    /// How far the acknowledged position is behind the head.
    pub lag: Lag,
}

/// The subscriptions service over a log and a checkpoint store.
pub struct Subscriptions {
    /// The log every feed reads.
    log: Arc<dyn Log>,
    /// The acknowledged positions of named subscriptions.
    checkpoints: Arc<dyn CheckpointStore>,
    /// Turns true when the server shuts down; every feed ends then, so shutdown is not held
    /// up by subscriptions that would otherwise run for ever.
    stopping: watch::Receiver<bool>,
    /// The feeds open now, each updating its own entry.
    open: Arc<OpenFeeds>,
}

impl Subscriptions {
    /// The service over `log`, keeping named positions in `checkpoints`; feeds end when
    /// `stopping` turns true (or its sender is dropped).
    pub fn new(
        log: Arc<dyn Log>,
        checkpoints: Arc<dyn CheckpointStore>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Subscriptions {
            log,
            checkpoints,
            stopping,
            open: Arc::default(),
        }
    }

    /// Starts a subscription. `PastEnd` when it would start after a position the log does not
    /// have yet.
    pub async fn subscribe(&self, options: SubscribeOptions) -> Result<Feed, SubscriptionError> {
        // The watch first: the head read below can only be at or behind what it will show.
        let head = self.log.watch_head();
        let (start, field) = match (options.start, &options.name) {
            (Some(start), _) => (start, "after_position"),
            (None, Some(name)) => match self.checkpoints.acked(name).await? {
                Some(acked) => (Start::After(acked.position), "subscription_name"),
                None => (Start::FromStart, "subscription_name"),
            },
            (None, None) => (Start::FromStart, "start"),
        };
        let next_position = match start {
            Start::After(position) => self.log.head_covering(position).await?,
            _ => head.borrow().next_position,
        };
        let (next, told) = match start {
            Start::FromStart => (0, None),
            Start::FromEnd => (next_position, None),
            Start::After(position) if position < next_position => (position + 1, Some(position)),
            Start::After(position) => {
                return Err(SubscriptionError::PastEnd {
                    field,
                    position,
                    next_position,
                })
            }
        };
        let gauge = self.open.register(options.name, next);
        Ok(Feed::new(
            Arc::clone(&self.log),
            head,
            self.stopping.clone(),
            options.filter,
            next,
            told,
            options.heartbeat_every,
            options.max_batch.unwrap_or_else(max_batch),
            gauge,
        ))
    }

    /// Stores `position` as `name`'s acknowledged position unless a later one is stored (an
    /// ack backwards is ignored); returns what is stored now, durably. `PastEnd` for a
    /// position the log does not have.
    pub async fn ack(
        &self,
        name: &SubscriptionName,
        position: u64,
        now: Timestamp,
    ) -> Result<AckedPosition, SubscriptionError> {
        let next_position = self.log.head_covering(position).await?;
        if position >= next_position {
            return Err(SubscriptionError::PastEnd {
                field: "position",
                position,
                next_position,
            });
        }
        let ack = AckedPosition {
            position,
            acked_at: now,
        };
        Ok(self.checkpoints.ack(name, ack).await?)
    }

    /// The log's head (the position the next record will take) and every named subscription
    /// with its acknowledged position and lag against that head, by name.
    pub async fn list(&self) -> Result<(u64, Vec<SubscriptionStatus>), SubscriptionError> {
        let next_position = self.log.head().next_position;
        let newest = match next_position.checked_sub(1) {
            Some(last) => Some(recorded_at(self.log.as_ref(), last).await?),
            None => None,
        };
        let mut list = Vec::new();
        for (name, acked) in self.checkpoints.list().await? {
            let positions = next_position.saturating_sub(acked.position + 1);
            let time = match newest {
                Some(newest) if positions > 0 => {
                    let acked_at = recorded_at(self.log.as_ref(), acked.position).await?;
                    nanos_between(acked_at, newest)
                }
                _ => Duration::ZERO,
            };
            list.push(SubscriptionStatus {
                name,
                acked,
                lag: Lag {
                    next_position,
                    positions,
                    time,
                },
            });
        }
        Ok((next_position, list))
    }

    /// The subscriptions open now, in the order they were opened.
    pub fn open(&self) -> Vec<OpenSubscription> {
        self.open.list()
    }
}

/// `recorded_at` of the committed record at `position`.
pub(crate) async fn recorded_at(log: &dyn Log, position: u64) -> Result<Timestamp, StoreError> {
    let mut read = log.read_all(
        Some(position),
        Direction::Forwards,
        Some(1),
        ReadAllFilter::default(),
    );
    match read.try_next().await? {
        Some(record) if record.position == position => Ok(record.recorded_at),
        _ => Err(StoreError::Corrupt(format!(
            "the record at position {position} is missing"
        ))),
    }
}

/// The time from `earlier` to `later`; zero when `later` is not later.
pub(crate) fn nanos_between(earlier: Timestamp, later: Timestamp) -> Duration {
    let nanos = later.unix_nanos().saturating_sub(earlier.unix_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// A feed that hands out deliveries one at a time: a subscription to the log ([`feed::Feed`])
/// or to the relationship changes (`crate::read::change_feed::ChangeFeed`). The gRPC layer streams
/// either through one function.
pub trait DeliveryFeed: Send + 'static {
    /// What one call of `next` hands out.
    type Delivery: Send + 'static;

    /// The next delivery, waiting as long as there is nothing to deliver; an error ends the
    /// feed (`ShuttingDown` at server shutdown).
    fn next(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Self::Delivery, SubscriptionError>> + Send;

    /// The position the feed reads next, for the log line when it ends.
    fn next_position(&self) -> u64;
}

impl DeliveryFeed for feed::Feed {
    type Delivery = feed::Delivery;

    fn next(
        &mut self,
    ) -> impl std::future::Future<Output = Result<feed::Delivery, SubscriptionError>> + Send {
        feed::Feed::next(self)
    }

    fn next_position(&self) -> u64 {
        feed::Feed::next_position(self)
    }
}
