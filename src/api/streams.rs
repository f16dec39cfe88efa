//! Server streams of feeds: one delivery at a time, converted for the wire inside the RPC's
//! span, until the feed ends.

use futures::stream::{self, BoxStream, StreamExt};
use tonic::Status;
use tracing::Instrument;

use crate::subscriptions::DeliveryFeed;

/// The deliveries of `feed`, each converted by `to_wire` inside `span`. An error of the feed
/// or of the conversion (a record whose personal data does not open) ends the stream with its
/// status (`UNAVAILABLE` on shutdown: the client resumes from its last checkpoint); `what`
/// names the feed in the log line.
pub(crate) fn deliveries<F, M, W>(
    feed: F,
    span: tracing::Span,
    to_wire: W,
    what: &'static str,
) -> BoxStream<'static, Result<M, Status>>
where
    F: DeliveryFeed,
    M: Send + 'static,
    W: Fn(F::Delivery) -> Result<M, Status> + Clone + Send + Sync + 'static,
{
    stream::unfold(Some(feed), move |feed| {
        let span = span.clone();
        let to_wire = to_wire.clone();
        async move {
            let mut feed = feed?;
            match feed.next().await {
                Ok(delivery) => match to_wire(delivery) {
                    Ok(message) => Some((Ok(message), Some(feed))),
                    Err(status) => Some((Err(status), None)),
                },
                Err(err) => {
                    tracing::info!(error = %err, next_position = feed.next_position(), "{what} ended");
                    Some((Err(Status::from(err)), None))
                }
            }
        }
        .instrument(span)
    })
    .boxed()
}
