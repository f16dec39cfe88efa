//! [`Tail`]: the loop every feed runs, whatever it follows: paged reads from the first position
//! not yet scanned up to how far there is to read, then a wait on the watch of that progress,
//! then reads again from where it stopped, for ever.
//!
//! `Subscribe` ([`super::feed`]) follows the committed log up to its head, and the relationship
//! change feed ([`crate::read::change_feed`]) follows the projector's change log up to the
//! projector's progress. Both keep the same promise (each position at most once, none skipped,
//! in order, across the switch from history to live and across resumes), and both keep it the
//! same way, so the way is written once, here: the only state is the first position not yet
//! scanned, so history and live cannot drift apart; the progress watch is marked seen before
//! it is compared, so a move after the comparison wakes the wait at once; a page is read only
//! once the last one is delivered, so a feed holds at most one page and reads nothing while
//! its consumer is not asking; checkpoints tell a consumer with a narrow filter where it
//! stands; heartbeats go out on their interval; and the feed ends when the server stops.
//!
//! What differs between the two is a [`Source`]: what a page is read from, which watch says
//! how far there is to read, which items pass the feed's filter, and what a heartbeat says.

use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::open::Gauge;
use super::SubscriptionError;
use crate::store::StoreError;

/// What a [`Tail`] follows: a log read a page at a time, and a watch of how far it can be read.
pub(crate) trait Source: Send + Sync {
    /// What a page holds: a record of the log, a change of the change log.
    type Item: Send + Sync;
    /// What the watch holds.
    type Progress: Send + Sync;
    /// What a heartbeat tells the consumer.
    type Heartbeat;

    /// The watch of how far there is to read. The tail marks it seen before it compares, and
    /// waits on it once it has read everything below it.
    fn progress(&mut self) -> &mut watch::Receiver<Self::Progress>;

    /// The first position that cannot be read yet, by what the watch holds.
    fn end(progress: &Self::Progress) -> u64;

    /// Reads the next page, from `next` (the first position not yet scanned, below `end`):
    /// the items it holds, in position order, and the first position it did not scan. A
    /// source may stop a page short of `end` (it reads at most a page), never at `next`.
    fn read_page(
        &mut self,
        next: u64,
        end: u64,
    ) -> impl Future<Output = Result<Page<Self::Item>, SubscriptionError>> + Send;

    /// Whether `item` passes the feed's filter, so that it is delivered.
    fn passes(&self, item: &Self::Item) -> bool;

    /// The position of `item`.
    fn position(item: &Self::Item) -> u64;

    /// What the heartbeat says, `next` being the first position not yet scanned.
    fn heartbeat(
        &self,
        next: u64,
    ) -> impl Future<Output = Result<Self::Heartbeat, SubscriptionError>> + Send;
}

/// One page a [`Source`] read.
#[derive(Debug)]
pub(crate) struct Page<T> {
    /// What the page holds, in position order, filtered or not.
    pub items: Vec<T>,
    /// The first position the page did not scan: every position below it was scanned.
    pub end: u64,
}

/// What a tail delivers, in the order the consumer receives it; each feed makes its own
/// deliveries of these.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Delivery<T, H> {
    /// Items that pass the filter, in position order, each once: at least one, at most the
    /// tail's batch size, all from the page last read, so a batch never waits for more.
    Items(Vec<T>),
    /// Every position up to and including `position` has been scanned (and what passed
    /// delivered): a resume after it misses nothing. Sent after a page whose last scanned
    /// position was not delivered, and before [`Delivery::CaughtUp`] when the consumer could
    /// not otherwise know where it stands.
    Checkpoint {
        /// The last scanned position.
        position: u64,
    },
    /// The tail has scanned everything there was to read when it got here: from now on it
    /// delivers live. Sent once.
    CaughtUp {
        /// How far there was to read: the source's end (which a resume may be ahead of).
        next_position: u64,
    },
    /// Sent every heartbeat interval, whether or not items flow.
    Heartbeat(H),
}

/// One subscriber's pass over a [`Source`]. See the module docs.
pub(crate) struct Tail<S: Source> {
    /// What the tail reads and waits on.
    source: S,
    /// Turns true when the server shuts down: the tail ends so that shutdown can finish.
    stopping: watch::Receiver<bool>,
    /// The first position not yet scanned.
    next: u64,
    /// Items of the last page that pass the filter and are not yet delivered: at most one
    /// page, and only between a read and the deliveries that drain it.
    pending: VecDeque<S::Item>,
    /// The most items one [`Delivery::Items`] hands out.
    max_batch: NonZeroUsize,
    /// The checkpoint to deliver once `pending` is drained.
    checkpoint_due: Option<u64>,
    /// The last position the consumer was told about (by an item or a checkpoint), so that a
    /// checkpoint is sent only when it tells the consumer something new.
    told: Option<u64>,
    /// Whether [`Delivery::CaughtUp`] has been sent.
    caught_up: bool,
    /// How often a heartbeat is sent.
    heartbeat_every: Duration,
    /// When the next heartbeat is due.
    next_heartbeat: Instant,
    /// Its entry among the open feeds: what it has scanned, delivered and holds.
    gauge: Gauge,
}

impl<S: Source> Tail<S> {
    /// A tail over `source` that scans from `next`. `told` is the position the consumer
    /// already knows it has (its `after_position`), if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        source: S,
        stopping: watch::Receiver<bool>,
        next: u64,
        told: Option<u64>,
        heartbeat_every: Duration,
        max_batch: NonZeroUsize,
        gauge: Gauge,
    ) -> Tail<S> {
        Tail {
            source,
            stopping,
            next,
            pending: VecDeque::new(),
            max_batch,
            checkpoint_due: None,
            told,
            caught_up: false,
            heartbeat_every,
            next_heartbeat: Instant::now() + heartbeat_every,
            gauge,
        }
    }

    /// What the tail reads.
    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    /// The first position not yet scanned.
    pub(crate) fn next_position(&self) -> u64 {
        self.next
    }

    /// How many items the tail holds now: at most a page.
    pub(crate) fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// The next delivery. Waits while there is nothing to deliver (caught up, no heartbeat
    /// due); ends with `ShuttingDown` when the server stops, and with the source's error when
    /// a read fails (a resume from the last checkpoint then loses nothing).
    pub(crate) async fn next(
        &mut self,
    ) -> Result<Delivery<S::Item, S::Heartbeat>, SubscriptionError> {
        loop {
            if !self.pending.is_empty() {
                let take = self.max_batch.get().min(self.pending.len());
                let items: Vec<S::Item> = if take == self.pending.len() {
                    // The whole page: handed over without copying an item (a deque filled
                    // from empty and not yet drained converts in place).
                    std::mem::take(&mut self.pending).into()
                } else {
                    self.pending.drain(..take).collect()
                };
                self.told = items.last().map(S::position);
                self.gauge.delivered(items.len(), self.pending.len());
                return Ok(Delivery::Items(items));
            }
            if let Some(position) = self.checkpoint_due.take() {
                if self.told.is_none_or(|told| told < position) {
                    self.told = Some(position);
                    return Ok(Delivery::Checkpoint { position });
                }
            }
            if *self.stopping.borrow() {
                return Err(SubscriptionError::ShuttingDown);
            }
            if Instant::now() >= self.next_heartbeat {
                self.next_heartbeat = Instant::now() + self.heartbeat_every;
                return Ok(Delivery::Heartbeat(self.source.heartbeat(self.next).await?));
            }
            // Marked seen before the comparison: a move after it wakes the wait below at once.
            let end = S::end(&self.source.progress().borrow_and_update());
            if self.next < end {
                self.scan_page(end).await?;
                continue;
            }
            if !self.caught_up {
                if let Some(last) = self.next.checked_sub(1) {
                    if self.told.is_none_or(|told| told < last) {
                        self.checkpoint_due = Some(last);
                        continue;
                    }
                }
                self.caught_up = true;
                // The source's end, not the tail's position: a resume after a position the
                // source has not reached yet (a projector replaying after a restart) starts
                // ahead of it, and the consumer should learn how far the source really is.
                return Ok(Delivery::CaughtUp { next_position: end });
            }
            self.wait_for_more().await?;
        }
    }

    /// Reads the next page below `end` and keeps what passes the filter.
    async fn scan_page(&mut self, end: u64) -> Result<(), SubscriptionError> {
        let Page {
            mut items,
            end: scanned_to,
        } = self.source.read_page(self.next, end).await?;
        if scanned_to <= self.next {
            // A page that scanned nothing would be read again for ever.
            return Err(StoreError::Corrupt(format!(
                "a read from position {} below {end} scanned nothing",
                self.next
            ))
            .into());
        }
        // The page is kept whole (the deque takes the vector over without copying an item):
        // the tail holds at most the one page its source read.
        items.retain(|item| self.source.passes(item));
        debug_assert!(
            self.pending.is_empty(),
            "a page is scanned once the last is delivered"
        );
        self.pending = VecDeque::from(items);
        self.next = scanned_to;
        self.checkpoint_due = Some(scanned_to - 1);
        self.gauge.scanned(self.next, self.pending.len());
        Ok(())
    }

    /// Waits until the tail may have more to deliver: the source's progress moved, shutdown
    /// began, or the next heartbeat is due. The progress was marked seen before the tail
    /// decided to wait, so nothing that moves after that decision is missed. `ShuttingDown`
    /// when either watch's sender is gone.
    async fn wait_for_more(&mut self) -> Result<(), SubscriptionError> {
        tokio::select! {
            stopping = self.stopping.changed() => stopping.map_err(|_| SubscriptionError::ShuttingDown),
            moved = self.source.progress().changed() => moved.map_err(|_| SubscriptionError::ShuttingDown),
            () = tokio::time::sleep_until(self.next_heartbeat) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
