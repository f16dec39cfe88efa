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

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::TryStreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::open::Gauge;
use super::{recorded_at, Lag, SubscriptionError, SubscriptionFilter};
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
    /// Where the records come from.
    log: Arc<dyn Log>,
    /// The committed head; waited on when everything below it is scanned.
    head: watch::Receiver<LogHead>,
    /// Turns true when the server shuts down: the feed ends so that shutdown can finish.
    stopping: watch::Receiver<bool>,
    /// Which records are delivered.
    filter: SubscriptionFilter,
    /// The first position not yet scanned.
    next: u64,
    /// Records of the last scanned page that pass the filter and are not yet delivered: at
    /// most one page, and only between a read and the deliveries that drain it.
    pending: VecDeque<RecordedEvent>,
    /// The checkpoint to deliver once `pending` is drained.
    checkpoint_due: Option<u64>,
    /// The last position the consumer was told about (by an event or a checkpoint), so that
    /// a checkpoint is sent only when it tells the consumer something new.
    told: Option<u64>,
    /// Whether [`Delivery::CaughtUp`] has been sent.
    caught_up: bool,
    /// `recorded_at` of the last scanned record, for the heartbeat's lag.
    last_scanned_at: Option<Timestamp>,
    /// How often a heartbeat is sent.
    heartbeat_every: Duration,
    /// The most records one [`Delivery::Events`] hands out. Batches are what makes a long
    /// catch-up cheap: a delivery, its conversion and a wakeup of the stream are paid once per
    /// batch, however the records are then framed.
    max_batch: NonZeroUsize,
    /// When the next heartbeat is due.
    next_heartbeat: Instant,
    /// Records the feed has read from the log: what it costs the store, for tests and metrics.
    records_read: u64,
    /// The read in progress while catching up, and the position it ends before: one read of
    /// the log up to the head as it was, taken a page at a time, so that the store fetches the
    /// next page while this one is delivered. Dropped when it reaches its end. In a mutex
    /// only so that the feed is `Sync`; it is never locked (the feed has `&mut` access).
    reader: Option<(Mutex<Pages>, u64)>,
    /// Its entry among the open subscriptions (`ListSubscriptions`): what it has read,
    /// delivered and holds, for operators and tests to see from outside.
    gauge: Gauge,
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
        Feed {
            log,
            head,
            stopping,
            filter,
            next,
            pending: VecDeque::new(),
            checkpoint_due: None,
            told,
            caught_up: false,
            last_scanned_at: None,
            heartbeat_every,
            next_heartbeat: Instant::now() + heartbeat_every,
            max_batch: max_batch.min(super::max_batch()),
            records_read: 0,
            reader: None,
            gauge,
        }
    }

    /// The first position not yet scanned.
    pub fn next_position(&self) -> u64 {
        self.next
    }

    /// How many records the feed holds now: at most [`PAGE_LEN`].
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// How many records the feed has read from the log so far.
    pub fn records_read(&self) -> u64 {
        self.records_read
    }

    /// The next delivery. Waits while there is nothing to deliver (caught up, no heartbeat
    /// due); ends with `ShuttingDown` when the server stops, and with the store's error when a
    /// read fails (a resume from the last checkpoint then loses nothing).
    pub async fn next(&mut self) -> Result<Delivery, SubscriptionError> {
        loop {
            if !self.pending.is_empty() {
                let take = self.max_batch.get().min(self.pending.len());
                let records: Vec<RecordedEvent> = if take == self.pending.len() {
                    // The whole page: handed over without copying a record (a deque filled
                    // from empty and not yet drained converts in place).
                    std::mem::take(&mut self.pending).into()
                } else {
                    self.pending.drain(..take).collect()
                };
                self.told = records.last().map(|r| r.position);
                self.gauge.delivered(records.len(), self.pending.len());
                return Ok(Delivery::Events(records));
            }
            if let Some(position) = self.checkpoint_due.take() {
                if self.told != Some(position) {
                    self.told = Some(position);
                    return Ok(Delivery::Checkpoint { position });
                }
            }
            if *self.stopping.borrow() {
                return Err(SubscriptionError::ShuttingDown);
            }
            if Instant::now() >= self.next_heartbeat {
                self.next_heartbeat = Instant::now() + self.heartbeat_every;
                return Ok(Delivery::Heartbeat(self.lag().await?));
            }
            let head = self.head.borrow_and_update().next_position;
            if self.next < head {
                self.scan_page(head).await?;
                continue;
            }
            if !self.caught_up {
                if let Some(last) = self.next.checked_sub(1) {
                    if self.told != Some(last) {
                        self.checkpoint_due = Some(last);
                        continue;
                    }
                }
                self.caught_up = true;
                return Ok(Delivery::CaughtUp {
                    next_position: self.next,
                });
            }
            // Everything committed is scanned: wait for the head to move. `borrow_and_update`
            // above marked the head seen, so a commit after it wakes the wait at once.
            wait_for_more(&mut self.stopping, &mut self.head, self.next_heartbeat).await?;
        }
    }

    /// Reads the next page below `head` and keeps what passes the filter.
    async fn scan_page(&mut self, head: u64) -> Result<(), SubscriptionError> {
        let (mut pages, read_end) = match self.reader.take() {
            Some((pages, read_end)) if read_end > self.next => (
                pages.into_inner().unwrap_or_else(|p| p.into_inner()),
                read_end,
            ),
            _ => {
                // Unfiltered and bounded by count: the read is exactly the positions
                // `next..head`, all committed, so the feed knows how far it scanned even
                // when nothing passes.
                let pages = self.log.read_all_pages(
                    Some(self.next),
                    Direction::Forwards,
                    Some(head - self.next),
                    ReadAllFilter::default(),
                );
                (pages, head)
            }
        };
        let Some(mut page) = pages.try_next().await? else {
            return Err(StoreError::Corrupt(format!(
                "a read of the log up to position {read_end} ended at {}",
                self.next
            ))
            .into());
        };
        let mut expected = self.next;
        for record in &page {
            if record.position != expected || expected >= read_end {
                return Err(StoreError::Corrupt(format!(
                    "a read from position {} returned position {} where {expected} was due",
                    self.next, record.position
                ))
                .into());
            }
            expected += 1;
        }
        self.records_read += page.len() as u64;
        self.last_scanned_at = page.last().map(|r| r.recorded_at).or(self.last_scanned_at);
        // The page is handed on whole (the deque takes the vector over without copying a
        // record): the feed holds at most the one page the log's read made.
        page.retain(|record| self.filter.matches(record));
        debug_assert!(
            self.pending.is_empty(),
            "a page is scanned once the last is delivered"
        );
        self.pending = VecDeque::from(page);
        self.next = expected;
        if expected < read_end {
            self.reader = Some((Mutex::new(pages), read_end));
        }
        self.checkpoint_due = Some(expected - 1);
        self.gauge.scanned(expected, self.pending.len());
        Ok(())
    }

    /// How far behind the head the feed is.
    async fn lag(&self) -> Result<Lag, StoreError> {
        let next_position = self.head.borrow().next_position;
        let behind = next_position.saturating_sub(self.next);
        let time = if behind == 0 {
            Duration::ZERO
        } else {
            let newest = recorded_at(self.log.as_ref(), next_position - 1).await?;
            let scanned = match self.last_scanned_at {
                Some(at) => at,
                // Nothing scanned yet: measure from the record before the start, or from the
                // first record when the feed starts at the beginning.
                None => recorded_at(self.log.as_ref(), self.next.saturating_sub(1)).await?,
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

/// The time from `earlier` to `later`; zero when `later` is not later.
/// Waits until a feed may have more to deliver: `source` (the log's head, the projector's
/// progress) moved, shutdown began, or the next heartbeat is due. Both kinds of feed wait this
/// way, having marked `source` seen before deciding to wait, so nothing that moves after that
/// decision is missed. `ShuttingDown` when either watch's sender is gone.
pub(crate) async fn wait_for_more<T>(
    stopping: &mut watch::Receiver<bool>,
    source: &mut watch::Receiver<T>,
    heartbeat_at: Instant,
) -> Result<(), SubscriptionError> {
    tokio::select! {
        stopping = stopping.changed() => stopping.map_err(|_| SubscriptionError::ShuttingDown),
        moved = source.changed() => moved.map_err(|_| SubscriptionError::ShuttingDown),
        () = tokio::time::sleep_until(heartbeat_at) => Ok(()),
    }
}

pub(super) fn nanos_between(earlier: Timestamp, later: Timestamp) -> Duration {
    let nanos = later.unix_nanos().saturating_sub(earlier.unix_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}
