//! The gauges that are read rather than counted (see `metrics`), sampled when the metrics
//! endpoint is scraped: how far the projector is behind the log, how far each named
//! subscription's acknowledged position is, and how many data keys are held.

use std::sync::Arc;

use tokio::sync::watch;

use crate::metrics::{
    SampleRequests, DATA_KEYS, PROJECTOR_LAG, SUBSCRIPTION_LAG_RECORDS, SUBSCRIPTION_LAG_SECONDS,
};
use crate::privacy::Privacy;
use crate::read::projector::Projector;
use crate::store::Log;
use crate::subscriptions::Subscriptions;

/// Samples at each request until `stopping` turns true.
pub(super) async fn sample(
    log: Arc<dyn Log>,
    projector: Arc<Projector>,
    subscriptions: Arc<Subscriptions>,
    privacy: Arc<Privacy>,
    mut requests: SampleRequests,
    mut stopping: watch::Receiver<bool>,
) {
    let progress = projector.progress();
    loop {
        let done = tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            request = requests.recv() => match request {
                Some(done) => done,
                None => return,
            },
        };
        let head = log.head().next_position;
        // The projector's progress is the last position it projected, `None` before any.
        let projected = progress.borrow().map_or(0, |last| last + 1);
        metrics::gauge!(PROJECTOR_LAG).set(head.saturating_sub(projected) as f64);
        metrics::gauge!(DATA_KEYS).set(privacy.keys_held() as f64);
        match subscriptions.list().await {
            Ok((_, listed)) => {
                for status in listed {
                    let name = status.name.to_string();
                    metrics::gauge!(SUBSCRIPTION_LAG_RECORDS, "subscription" => name.clone())
                        .set(status.lag.positions as f64);
                    metrics::gauge!(SUBSCRIPTION_LAG_SECONDS, "subscription" => name)
                        .set(status.lag.time.as_secs_f64());
                }
            }
            Err(error) => tracing::debug!(%error, "cannot list the subscriptions for metrics"),
        }
        let _ = done.send(());
    }
}
