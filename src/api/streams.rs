//! Server streams of feeds: one delivery at a time, converted for the wire inside the RPC's
//! span, until the feed ends.

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
    // The state between polls: the feed (gone once it ended or a message failed) and the
    // messages of its last delivery not yet sent.
    stream::unfold((Some(feed), None::<I::IntoIter>), move |(feed, queued)| {
        let span = span.clone();
        let to_wire = to_wire.clone();
        async move {
            let mut queued = queued;
            let mut feed = feed;
            loop {
                if let Some(message) = queued.as_mut().and_then(Iterator::next) {
                    if message.is_err() {
                        // A failed conversion ends the stream, and drops the feed with it.
                        return Some((message, (None, None)));
                    }
                    return Some((message, (feed, queued)));
                }
                let mut live = feed?;
                match live.next().await {
                    Ok(delivery) => {
                        queued = Some(to_wire(delivery).into_iter());
                        feed = Some(live);
                    }
                    Err(err) => {
                        tracing::info!(error = %err, next_position = live.next_position(), "{what} ended");
                        return Some((Err(Status::from(err)), (None, None)));
                    }
                }
            }
        }
        .instrument(span)
    })
    .boxed()
}
