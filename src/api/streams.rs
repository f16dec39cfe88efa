//! Server streams of feeds: one delivery at a time, converted for the wire inside the RPC's
//! span, until the feed ends.

use futures::stream::{self, BoxStream, StreamExt};
use tonic::Status;
use tracing::Instrument;

use crate::subscriptions::DeliveryFeed;

/// The deliveries of `feed`, each converted by `to_wire` inside `span` into the messages that
/// carry it (usually one; a batch of events too large for one message becomes several, sent
/// in order before the feed is asked for its next delivery). An error of the feed or of the
/// conversion (a record whose personal data does not open) ends the stream with its status
/// (`UNAVAILABLE` on shutdown: the client resumes from its last checkpoint); `what` names the
/// feed in the log line.
pub(crate) fn deliveries<F, M, I, W>(
    feed: F,
    span: tracing::Span,
    to_wire: W,
    what: &'static str,
) -> BoxStream<'static, Result<M, Status>>
where
    F: DeliveryFeed,
    M: Send + 'static,
    I: IntoIterator<Item = M>,
    I::IntoIter: Send + 'static,
    W: Fn(F::Delivery) -> Result<I, Status> + Clone + Send + Sync + 'static,
{
    // The state between polls: the feed (gone once it ended) and the messages of its last
    // delivery not yet sent.
    stream::unfold((Some(feed), None::<I::IntoIter>), move |(feed, queued)| {
        let span = span.clone();
        let to_wire = to_wire.clone();
        async move {
            let mut queued = queued;
            if let Some(message) = queued.as_mut().and_then(Iterator::next) {
                return Some((Ok(message), (feed, queued)));
            }
            let mut feed = feed?;
            loop {
                match feed.next().await {
                    Ok(delivery) => match to_wire(delivery) {
                        Ok(messages) => {
                            let mut messages = messages.into_iter();
                            if let Some(message) = messages.next() {
                                return Some((Ok(message), (Some(feed), Some(messages))));
                            }
                        }
                        Err(status) => return Some((Err(status), (None, None))),
                    },
                    Err(err) => {
                        tracing::info!(error = %err, next_position = feed.next_position(), "{what} ended");
                        return Some((Err(Status::from(err)), (None, None)));
                    }
                }
            }
        }
        .instrument(span)
    })
    .boxed()
}
