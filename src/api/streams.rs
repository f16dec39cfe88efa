//! Server streams of feeds: one delivery at a time, converted for the wire inside the RPC's
//! span, until the feed ends.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};
use futures::FutureExt;
use tonic::Status;
use tracing::Instrument;

use crate::subscriptions::{DeliveryFeed, SubscriptionError};

/// The deliveries of `feed`, each converted by `to_wire` inside `span` into the messages that
/// carry it (usually one; a batch of events becomes several, sent in order before the feed is
/// asked for its next delivery). An error of the feed or of a conversion (a record whose
/// personal data does not open) ends the stream with its status, after the messages converted
/// before it (`UNAVAILABLE` on shutdown: the client resumes from its last checkpoint); `what`
/// names the feed in the log line.
pub(crate) fn deliveries<F, M, I, W>(
    feed: F,
    span: tracing::Span,
    to_wire: W,
    what: &'static str,
) -> BoxStream<'static, Result<M, Status>>
where
    F: DeliveryFeed,
    M: Send + 'static,
    I: IntoIterator<Item = Result<M, Status>> + 'static,
    I::IntoIter: Send + Unpin + 'static,
    W: Fn(F::Delivery) -> I + Send + Unpin + 'static,
{
    Deliveries {
        feed: Some(Box::new(feed)),
        waiting: None,
        queued: None,
        to_wire,
        span,
        what,
        _connected: Connected::new(what),
    }
    .boxed()
}

/// Counts a stream among those open (`relledger_subscriptions_connected`, or
/// `relledger_change_feeds_connected`) while it lasts.
struct Connected(&'static str);

impl Connected {
    fn new(what: &'static str) -> Connected {
        let gauge = match what {
            "change feed" => crate::metrics::CHANGE_FEEDS,
            _ => crate::metrics::SUBSCRIPTIONS,
        };
        metrics::gauge!(gauge).increment(1.0);
        Connected(gauge)
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

/// The stream [`deliveries`] returns. A message already converted is handed out as it is
/// polled, with no future, clone or move of the feed of its own: a catch-up sends most of its
/// messages that way, a page of deliveries at a time.
struct Deliveries<F: DeliveryFeed, I: IntoIterator, W> {
    /// The feed, between deliveries; `None` while `waiting` holds it, and once it has ended.
    feed: Option<Box<F>>,
    /// The next delivery being awaited; the future owns the feed and hands it back.
    waiting: Option<BoxFuture<'static, Awaited<F>>>,
    /// The messages of the last delivery not yet sent.
    queued: Option<I::IntoIter>,
    to_wire: W,
    span: tracing::Span,
    what: &'static str,
    _connected: Connected,
}

/// What awaiting a delivery gives back: the feed, and the delivery or why the feed ended.
type Awaited<F> = (
    Box<F>,
    Result<<F as DeliveryFeed>::Delivery, SubscriptionError>,
);

impl<F, M, I, W> Stream for Deliveries<F, I, W>
where
    F: DeliveryFeed,
    I: IntoIterator<Item = Result<M, Status>>,
    I::IntoIter: Unpin,
    W: Fn(F::Delivery) -> I + Unpin,
{
    type Item = Result<M, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(queued) = this.queued.as_mut() {
                match queued.next() {
                    Some(Ok(message)) => return Poll::Ready(Some(Ok(message))),
                    Some(Err(status)) => {
                        // A failed conversion ends the stream, and drops the feed with it.
                        this.queued = None;
                        this.feed = None;
                        return Poll::Ready(Some(Err(status)));
                    }
                    None => this.queued = None,
                }
            }
            if this.waiting.is_none() {
                let Some(mut feed) = this.feed.take() else {
                    return Poll::Ready(None);
                };
                let waiting = async move {
                    let next = feed.next().await;
                    (feed, next)
                };
                this.waiting = Some(waiting.instrument(this.span.clone()).boxed());
            }
            let Some(waiting) = this.waiting.as_mut() else {
                return Poll::Ready(None);
            };
            let (feed, next) = ready!(waiting.poll_unpin(cx));
            this.waiting = None;
            match next {
                Ok(delivery) => {
                    let _in_span = this.span.enter();
                    this.queued = Some((this.to_wire)(delivery).into_iter());
                    this.feed = Some(feed);
                }
                Err(err) => {
                    let _in_span = this.span.enter();
                    tracing::info!(error = %err, next_position = feed.next_position(), "{} ended", this.what);
                    return Poll::Ready(Some(Err(Status::from(err))));
                }
            }
        }
    }
}
