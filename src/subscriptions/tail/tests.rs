//! The loop on its own, over a made-up source whose pages, filter and progress a test sets:
//! where checkpoints fall, how batches are cut, when `CaughtUp` comes and what it says, and
//! how the loop ends.

use std::sync::Arc;

use futures::FutureExt;

use super::*;
use crate::subscriptions::OpenFeeds;

/// An item at a position, delivered or not by the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    position: u64,
    passes: bool,
}

/// A source over a fixed list of items (sparse, as a change log is), read `page_len` at a
/// time, of which the positions below the watched end can be read.
struct Listed {
    items: Vec<Item>,
    page_len: usize,
    end: watch::Receiver<u64>,
    /// Makes every read scan nothing, as a broken source would.
    stalled: bool,
}

impl Source for Listed {
    type Item = Item;
    type Progress = u64;
    type Heartbeat = u64;

    fn progress(&mut self) -> &mut watch::Receiver<u64> {
        &mut self.end
    }

    fn end(end: &u64) -> u64 {
        *end
    }

    async fn read_page(&mut self, next: u64, end: u64) -> Result<Page<Item>, SubscriptionError> {
        if self.stalled {
            return Ok(Page {
                items: Vec::new(),
                end: next,
            });
        }
        let items: Vec<Item> = self
            .items
            .iter()
            .filter(|item| (next..end).contains(&item.position))
            .take(self.page_len)
            .copied()
            .collect();
        let scanned_to = match items.last() {
            Some(last) if items.len() == self.page_len => last.position + 1,
            _ => end,
        };
        Ok(Page {
            items,
            end: scanned_to,
        })
    }

    fn passes(&self, item: &Item) -> bool {
        item.passes
    }

    fn position(item: &Item) -> u64 {
        item.position
    }

    /// The first position not yet scanned, so that a test sees the heartbeat's input.
    async fn heartbeat(&self, next: u64) -> Result<u64, SubscriptionError> {
        Ok(next)
    }
}

/// Items at `positions`, passing unless listed in `hidden`.
fn items(positions: &[u64], hidden: &[u64]) -> Vec<Item> {
    positions
        .iter()
        .map(|&position| Item {
            position,
            passes: !hidden.contains(&position),
        })
        .collect()
}

/// What one tail needs around it: the sender of its end, of shutdown, and its registry.
struct Around {
    end: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    open: Arc<OpenFeeds>,
}

/// A tail over `items` (`page_len` a page, batches of `max_batch`) that can read below `end`,
/// scanning from `next` with `told` already known to the consumer.
fn tail(
    items: Vec<Item>,
    page_len: usize,
    max_batch: usize,
    end: u64,
    (next, told): (u64, Option<u64>),
) -> (Tail<Listed>, Around) {
    let (end, end_rx) = watch::channel(end);
    let (stop, stopping) = watch::channel(false);
    let open = Arc::new(OpenFeeds::default());
    let tail = Tail::new(
        Listed {
            items,
            page_len,
            end: end_rx,
            stalled: false,
        },
        stopping,
        next,
        told,
        Duration::from_secs(3600),
        NonZeroUsize::new(max_batch).unwrap(),
        open.register(None, next),
    );
    (tail, Around { end, stop, open })
}

fn delivered(positions: &[u64]) -> Delivery<Item, u64> {
    Delivery::Items(items(positions, &[]))
}

#[tokio::test]
async fn a_page_whose_last_position_is_not_delivered_ends_with_a_checkpoint_then_live() {
    let (mut tail, around) = tail(items(&[0, 1, 2, 3, 4], &[2, 4]), 2, 10, 3, (0, None));
    // Page 0..2 ends with a delivered item, which says where the consumer stands; page 2..3
    // delivers nothing, so a checkpoint says it was scanned; then the end, once.
    assert_eq!(tail.next().await.unwrap(), delivered(&[0, 1]));
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::Checkpoint { position: 2 }
    );
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 3 }
    );
    assert!(tail.next().now_or_never().is_none(), "caught up, it waits");

    // Live is the same loop: the end moves, the tail reads on from where it stopped.
    around.end.send_replace(5);
    assert_eq!(tail.next().await.unwrap(), delivered(&[3]));
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::Checkpoint { position: 4 }
    );
    assert!(tail.next().now_or_never().is_none(), "no second caught-up");
    assert_eq!(around.open.list()[0].next_position, 5);
    assert_eq!(around.open.list()[0].delivered_events, 3);
}

#[tokio::test]
async fn batches_are_cut_from_one_page_and_the_tail_holds_at_most_that_page() {
    let (mut tail, around) = tail(items(&[0, 1, 2, 3, 4], &[]), 4, 3, 5, (0, None));
    assert_eq!(tail.next().await.unwrap(), delivered(&[0, 1, 2]));
    assert_eq!(tail.buffered(), 1, "the rest of the page");
    // The rest of the page goes alone: a batch never waits for, or reads, the next page.
    assert_eq!(tail.next().await.unwrap(), delivered(&[3]));
    assert_eq!(tail.next().await.unwrap(), delivered(&[4]));
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 5 }
    );
    assert_eq!(around.open.list()[0].max_buffered_events, 4);
}

#[tokio::test]
async fn where_the_consumer_stands_is_told_once_before_caught_up() {
    // From the end of a source with history: nothing delivered would say where it stands.
    let (mut from_end, _around) = tail(items(&[0, 1, 2], &[]), 4, 10, 3, (3, None));
    assert_eq!(
        from_end.next().await.unwrap(),
        Delivery::Checkpoint { position: 2 }
    );
    assert_eq!(
        from_end.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 3 }
    );

    // After a position the consumer already has: nothing new to tell.
    let (mut after, _around) = tail(items(&[0, 1, 2], &[]), 4, 10, 3, (3, Some(2)));
    assert_eq!(
        after.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 3 }
    );

    // From the start of an empty source: there is no position to tell.
    let (mut empty, _around) = tail(Vec::new(), 4, 10, 0, (0, None));
    assert_eq!(
        empty.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 0 }
    );
}

#[tokio::test]
async fn a_resume_ahead_of_the_source_says_where_the_source_is_and_waits_for_it() {
    let (mut tail, around) = tail(items(&[1, 6], &[]), 4, 10, 2, (5, Some(4)));
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 2 }
    );
    // The source moves, but not past the tail's start: nothing to read, nothing to tell.
    around.end.send_replace(4);
    assert!(tail.next().now_or_never().is_none(), "it waits");
    around.end.send_replace(7);
    assert_eq!(tail.next().await.unwrap(), delivered(&[6]));
}

#[tokio::test]
async fn a_page_that_scans_nothing_is_an_error_not_a_loop_for_ever() {
    let (mut tail, _around) = tail(items(&[0], &[]), 4, 10, 1, (0, None));
    tail.source.stalled = true;
    assert!(matches!(
        tail.next().await,
        Err(SubscriptionError::Store(StoreError::Corrupt(_)))
    ));
}

#[tokio::test]
async fn the_tail_ends_when_the_server_stops_or_its_source_is_gone() {
    let (mut stopped, around) = tail(Vec::new(), 4, 10, 0, (0, None));
    stopped.next().await.unwrap();
    let waiting = tokio::spawn(async move { stopped.next().await });
    around.stop.send_replace(true);
    assert!(matches!(
        waiting.await.unwrap(),
        Err(SubscriptionError::ShuttingDown)
    ));

    let (mut orphaned, around) = tail(Vec::new(), 4, 10, 0, (0, None));
    orphaned.next().await.unwrap();
    drop(around.end);
    assert!(matches!(
        orphaned.next().await,
        Err(SubscriptionError::ShuttingDown)
    ));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_go_out_on_the_interval_with_the_position_scanned() {
    let (mut tail, around) = tail(items(&[0, 1], &[1]), 4, 10, 1, (0, None));
    tail.heartbeat_every = Duration::from_secs(5);
    tail.next_heartbeat = Instant::now() + tail.heartbeat_every;
    assert_eq!(tail.next().await.unwrap(), delivered(&[0]));
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::CaughtUp { next_position: 1 }
    );
    let start = Instant::now();
    assert_eq!(tail.next().await.unwrap(), Delivery::Heartbeat(1));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    // Due before the tail reads what arrived meanwhile: a heartbeat is never held back.
    around.end.send_replace(2);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(tail.next().await.unwrap(), Delivery::Heartbeat(1));
    assert_eq!(
        tail.next().await.unwrap(),
        Delivery::Checkpoint { position: 1 }
    );
}
