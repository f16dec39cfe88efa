//! [`Feed`]: one subscriber's pass over the log, from its start position on, for ever.
//!
//! The feed reads the log itself, a page at a time, from the first position it has not yet
//! scanned; when it reaches the committed head it waits on the head's watch until the head
//! moves, then reads on from where it stopped. History and live are the same loop, so the
//! switch from one to the other cannot skip or repeat a position, and there is no fan-out
//! buffer that could overflow: a slow consumer is simply further behind in the log. The feed
//! does nothing while its consumer is not asking for the next delivery, so a consumer that
//! stops reading stops the reading (over gRPC, HTTP/2 flow control stops asking), and the
//! writers never wait for any subscriber. What a feed holds is at most one page of records,
//! plus, while it catches up, the next page its read fetches in the background (see
//! `store::page`) so that reading the log and sending to the consumer overlap.
//!
//! The loop itself is `tail::Tail`, which the relationship change feed runs too; this module
//! supplies what is the log's own (`CommittedLog`): pages of `Log::read_all_pages` up to
//! the committed head, the head's watch, the subscription's filter, and a heartbeat's lag.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::TryStreamExt;
use tokio::sync::watch;

use super::open::Gauge;
use super::tail::{self, Page, Source, Tail};
use super::{nanos_between, recorded_at, Lag, SubscriptionError, SubscriptionFilter};
use crate::domain::{RecordedEvent, Timestamp};
use crate::store::{Direction, Log, LogHead, ReadAllFilter, StoreError};

/// A read of the log, a page at a time.
type Pages = BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>>;

/// How many positions one page scans: the most records a feed holds at once. The feed takes
/// the pages the log's read makes, so this is the backends' page.
pub const PAGE_LEN: u64 = crate::store::READ_PAGE_LEN;

/// What a subscription delivers, in the order the consumer receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Records that pass the filter, in log order, each position once: at least one, at most
    /// the feed's batch size (`SubscribeOptions::max_batch`), all taken from records already
    /// read, so a batch never waits for more to be committed or read. Whether they reach the
    /// consumer as one message or one each is the wire's choice.
    Events(Vec<RecordedEvent>),
    /// Every position up to and including `position` has been scanned: a resume after it
    /// misses nothing. Sent after a scanned page whose last record was not delivered (it was
    /// filtered out), and before [`Delivery::CaughtUp`] when the consumer could not otherwise
    /// know where it stands.
    Checkpoint {
        /// The last scanned position.
        position: u64,
    },
    /// The feed has scanned everything committed when it got here: from now on it delivers
    /// live. Sent once per subscription.
    CaughtUp {
        /// The log's head then: the position the next record will take.
        next_position: u64,
    },
    /// Sent every heartbeat interval, whether or not events flow: the log's head and how far
    /// behind it this consumer is.
    Heartbeat(Lag),
}

/// One subscriber's pass over the log. See the module docs.
pub struct Feed {
    /// The loop, over the committed log.
    tail: Tail<CommittedLog>,
}

/// What a [`Feed`]'s tail follows: the committed log, up to the head.
pub(crate) struct CommittedLog {
    /// Where the records come from.
    log: Arc<dyn Log>,
    /// The committed head; waited on when everything below it is scanned.
    head: watch::Receiver<LogHead>,
    /// Which records are delivered.
    filter: SubscriptionFilter,
    /// `recorded_at` of the last scanned record, for the heartbeat's lag.
    last_scanned_at: Option<Timestamp>,
    /// Records the feed has read from the log: what it costs the store, for tests and metrics.
    records_read: u64,
    /// The read in progress while catching up, and the position it ends before: one read of
    /// the log up to the head as it was, taken a page at a time, so that the store fetches the
    /// next page while this one is delivered. Dropped when it reaches its end. In a mutex
    /// only so that the source is `Sync`; it is never locked (reads have `&mut` access).
    reader: Option<(Mutex<Pages>, u64)>,
}

impl Feed {
    /// A feed that scans from `next`. `told` is the position the consumer already knows it
    /// has (its `after_position`), if any.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        log: Arc<dyn Log>,
        head: watch::Receiver<LogHead>,
        stopping: watch::Receiver<bool>,
        filter: SubscriptionFilter,
        next: u64,
        told: Option<u64>,
        heartbeat_every: Duration,
        max_batch: NonZeroUsize,
        gauge: Gauge,
    ) -> Feed {
        let source = CommittedLog {
            log,
            head,
            filter,
            last_scanned_at: None,
            records_read: 0,
            reader: None,
        };
        // Batches are what makes a long catch-up cheap: a delivery, its conversion and a
        // wakeup of the stream are paid once per batch, however the records are then framed.
        let max_batch = max_batch.min(super::max_batch());
        Feed {
            tail: Tail::new(
                source,
                stopping,
                next,
                told,
                heartbeat_every,
                max_batch,
                gauge,
            ),
        }
    }

    /// The first position not yet scanned.
    pub fn next_position(&self) -> u64 {
        self.tail.next_position()
    }

    /// How many records the feed holds now: at most [`PAGE_LEN`].
    pub fn buffered(&self) -> usize {
        self.tail.buffered()
    }

    /// How many records the feed has read from the log so far.
    pub fn records_read(&self) -> u64 {
        self.tail.source().records_read
    }

    /// The next delivery. Waits while there is nothing to deliver (caught up, no heartbeat
    /// due); ends with `ShuttingDown` when the server stops, and with the store's error when a
    /// read fails (a resume from the last checkpoint then loses nothing).
    pub async fn next(&mut self) -> Result<Delivery, SubscriptionError> {
        Ok(match self.tail.next().await? {
            tail::Delivery::Items(records) => Delivery::Events(records),
            tail::Delivery::Checkpoint { position } => Delivery::Checkpoint { position },
            tail::Delivery::CaughtUp { next_position } => Delivery::CaughtUp { next_position },
            tail::Delivery::Heartbeat(lag) => Delivery::Heartbeat(lag),
        })
    }
}

impl Source for CommittedLog {
    type Item = RecordedEvent;
    type Progress = LogHead;
    type Heartbeat = Lag;

    fn progress(&mut self) -> &mut watch::Receiver<LogHead> {
        &mut self.head
    }

    fn end(head: &LogHead) -> u64 {
        head.next_position
    }

    /// The next page of the log below `head`, checked position by position.
    async fn read_page(
        &mut self,
        next: u64,
        head: u64,
    ) -> Result<Page<RecordedEvent>, SubscriptionError> {
        let (mut pages, read_end) = match self.reader.take() {
            Some((pages, read_end)) if read_end > next => (
                pages.into_inner().unwrap_or_else(|p| p.into_inner()),
                read_end,
            ),
            _ => {
                // Unfiltered and bounded by count: the read is exactly the positions
                // `next..head`, all committed, so the feed knows how far it scanned even
                // when nothing passes.
                let pages = self.log.read_all_pages(
                    Some(next),
                    Direction::Forwards,
                    Some(head - next),
                    ReadAllFilter::default(),
                );
                (pages, head)
            }
        };
        let Some(page) = pages.try_next().await? else {
            return Err(StoreError::Corrupt(format!(
                "a read of the log up to position {read_end} ended at {next}"
            ))
            .into());
        };
        let mut expected = next;
        for record in &page {
            if record.position != expected || expected >= read_end {
                return Err(StoreError::Corrupt(format!(
                    "a read from position {next} returned position {} where {expected} was due",
                    record.position
                ))
                .into());
            }
            expected += 1;
        }
        self.records_read += page.len() as u64;
        self.last_scanned_at = page.last().map(|r| r.recorded_at).or(self.last_scanned_at);
        if expected < read_end {
            self.reader = Some((Mutex::new(pages), read_end));
        }
        Ok(Page {
            items: page,
            end: expected,
        })
    }

    fn passes(&self, record: &RecordedEvent) -> bool {
        self.filter.matches(record)
    }

    fn position(record: &RecordedEvent) -> u64 {
        record.position
    }

    /// How far behind the head the feed is.
    async fn heartbeat(&self, next: u64) -> Result<Lag, SubscriptionError> {
        let next_position = self.head.borrow().next_position;
        let behind = next_position.saturating_sub(next);
        let time = if behind == 0 {
            Duration::ZERO
        } else {
            let newest = recorded_at(self.log.as_ref(), next_position - 1).await?;
            let scanned = match self.last_scanned_at {
                Some(at) => at,
                // Nothing scanned yet: measure from the record before the start, or from the
                // first record when the feed starts at the beginning.
                None => recorded_at(self.log.as_ref(), next.saturating_sub(1)).await?,
            };
            nanos_between(scanned, newest)
        };
        Ok(Lag {
            next_position,
            positions: behind,
            time,
        })
    }
}
