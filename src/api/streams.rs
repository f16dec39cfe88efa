//! Server streams of feeds: one delivery at a time, converted for the wire inside the RPC's
//! span, until the feed ends.

use futures::future::{self, Either};
use futures::stream::{self, BoxStream, StreamExt};
use tonic::Status;
use tracing::Instrument;

use crate::subscriptions::DeliveryFeed;

/// The deliveries of `feed`, each converted by `to_wire` inside `span` into the messages that
/// carry it (usually one; a batch of events too large for one message becomes several, sent
/// in order before the feed is asked for its next delivery). An error of the feed or of a
/// conversion (a record whose personal data does not open) ends the stream with its status,
/// after the messages converted before it (`UNAVAILABLE` on shutdown: the client resumes from
/// its last checkpoint); `what` names the feed in the log line.
pub(crate) fn deliveries<F, M, I, W>(
    feed: F,
    span: tracing::Span,
    to_wire: W,
    what: &'static str,
) -> BoxStream<'static, Result<M, Status>>
where
    F: DeliveryFeed,
    M: Send + 'static,
    I: IntoIterator<Item = Result<M, Status>>,
    I::IntoIter: Send + 'static,
    W: Fn(F::Delivery) -> I + Clone + Send + Sync + 'static,
{
    // The state between polls: the feed (gone once it ended or a message failed; boxed, so
    // that handing it from poll to poll moves a pointer) and the messages of its last delivery
    // not yet sent. A queued message is handed out at once, without a future of its own: a
    // catch-up sends most messages that way, and the span and converter need no clone for it.
    stream::unfold(
        (Some(Box::new(feed)), None::<I::IntoIter>),
        move |(feed, mut queued)| {
            if let Some(message) = queued.as_mut().and_then(Iterator::next) {
                // A failed conversion ends the stream, and drops the feed with it.
                let state = if message.is_err() {
                    (None, None)
                } else {
                    (feed, queued)
                };
                return Either::Left(future::ready(Some((message, state))));
            }
            let span = span.clone();
            let to_wire = to_wire.clone();
            Either::Right(
                async move {
                    let mut feed = feed;
                    loop {
                        let mut live = feed?;
                        match live.next().await {
                            Ok(delivery) => {
                                let mut queued = to_wire(delivery).into_iter();
                                feed = Some(live);
                                if let Some(message) = queued.next() {
                                    if message.is_err() {
                                        return Some((message, (None, None)));
                                    }
                                    return Some((message, (feed, Some(queued))));
                                }
                            }
                            Err(err) => {
                                tracing::info!(error = %err, next_position = live.next_position(), "{what} ended");
                                return Some((Err(Status::from(err)), (None, None)));
                            }
                        }
                    }
                }
                .instrument(span),
            )
        },
    )
    .boxed()
}
