//! `Subscribe`, `AckSubscription` and `ListSubscriptions`: the wire face of
//! [`crate::subscriptions`]. Converts requests into domain values (naming the field of every
//! structural error) and deliveries onto the wire; the loop itself lives in the feed.

use std::num::NonZeroUsize;
use std::sync::Arc;

use futures::stream::BoxStream;
use tonic::{Request, Response, Status};

use super::parse_event_types;
use crate::api::access;
use crate::api::convert::account_selection_from_proto;
use crate::api::convert::heartbeat_interval_from_proto;
use crate::api::convert::timestamp_to_proto;
use crate::api::proto;
use crate::api::proto::subscribe_request::Start as WireStart;
use crate::api::proto::subscribe_response::Kind;
use crate::api::reveal::record_to_wire;
use crate::api::streams::deliveries;
use crate::clock::now;
use crate::domain::{FieldViolation, RecordedEvent, SubscriptionName, ValidationError};
use crate::privacy::Privacy;
use crate::read::change_feed::ChangeFeeds;
use crate::store::AckedPosition;
use crate::subscriptions::{
    Delivery, Lag, OpenSubscription, Start, SubscribeOptions, SubscriptionFilter,
    SubscriptionStatus, Subscriptions, MAX_BATCH,
};

/// The messages of one subscription as the wire carries them.
pub(super) type SubscribeStream = BoxStream<'static, Result<proto::SubscribeResponse, Status>>;

/// `Ledger.Subscribe`.
pub(super) async fn subscribe(
    subscriptions: &Subscriptions,
    privacy: &Arc<Privacy>,
    request: Request<proto::SubscribeRequest>,
) -> Result<Response<SubscribeStream>, Status> {
    let caller = access::caller(&request);
    let request = request.into_inner();
    let span = tracing::Span::current();
    span.record("subscription_name", request.subscription_name.as_str());
    let mut options = subscribe_options_from_proto(request)?;
    // Accounts asked for by name must be inside the scope; the rest of the log is filtered to
    // it silently, with checkpoints still flowing so that the subscriber can resume.
    for account in &options.filter.account_ids {
        caller.may_touch(account.as_str())?;
    }
    options.filter.scope = caller.scope().clone();
    // One event per message (`max_batch` 0) is a wire format, not a way of reading: the feed
    // hands out batches either way, and each event of a batch becomes a message of its own.
    let one_per_message = options.max_batch.is_none();
    let feed = subscriptions.subscribe(options).await?;
    tracing::debug!(next_position = feed.next_position(), "subscribed");
    let privacy = Arc::clone(privacy);
    Ok(Response::new(deliveries(
        feed,
        span,
        move |delivery| delivery_to_proto(&privacy, delivery, one_per_message),
        "subscription",
    )))
}

/// `Ledger.AckSubscription`.
pub(super) async fn ack(
    subscriptions: &Subscriptions,
    request: Request<proto::AckSubscriptionRequest>,
) -> Result<Response<proto::AckSubscriptionResponse>, Status> {
    let request = request.into_inner();
    tracing::Span::current().record("subscription_name", request.name.as_str());
    let name = SubscriptionName::parse(request.name)
        .map_err(|err| ValidationError::single("name", err.to_string()))?;
    let stored = subscriptions.ack(&name, request.position, now()).await?;
    if stored.position != request.position {
        tracing::debug!(
            requested = request.position,
            stored = stored.position,
            "ignored an acknowledgement behind the stored position"
        );
    }
    Ok(Response::new(acked_to_proto(stored)))
}

/// `Ledger.ListSubscriptions`.
pub(super) async fn list(
    subscriptions: &Subscriptions,
    change_feeds: &ChangeFeeds,
) -> Result<Response<proto::ListSubscriptionsResponse>, Status> {
    let (next_position, listed) = subscriptions.list().await?;
    let to_proto = |open: Vec<_>| {
        open.into_iter()
            .map(|open| open_to_proto(open, next_position))
            .collect()
    };
    Ok(Response::new(proto::ListSubscriptionsResponse {
        subscriptions: listed.into_iter().map(status_to_proto).collect(),
        next_position,
        open: to_proto(subscriptions.open()),
        open_change_feeds: to_proto(change_feeds.open()),
    }))
}

/// The subscription a request asks for; every structural problem named by field.
fn subscribe_options_from_proto(
    request: proto::SubscribeRequest,
) -> Result<SubscribeOptions, ValidationError> {
    let mut violations = Vec::new();
    let start = request.start.map(|start| match start {
        WireStart::FromStart(_) => Start::FromStart,
        WireStart::FromEnd(_) => Start::FromEnd,
        WireStart::AfterPosition(position) => Start::After(position),
    });
    let mut filter = SubscriptionFilter::default();
    (filter.account_ids, filter.account_id_prefix) = account_selection_from_proto(
        &request.account_ids,
        request.account_id_prefix,
        &mut violations,
    );
    filter.event_types = parse_event_types(&request.event_types, &mut violations);
    let name = if request.subscription_name.is_empty() {
        None
    } else {
        SubscriptionName::parse(request.subscription_name)
            .map_err(|err| {
                violations.push(FieldViolation::new("subscription_name", err.to_string()))
            })
            .ok()
    };
    let heartbeat_every =
        heartbeat_interval_from_proto(request.heartbeat_interval, &mut violations);
    let max_batch = max_batch_from_proto(request.max_batch, &mut violations);
    match (heartbeat_every, violations.is_empty()) {
        (Some(heartbeat_every), true) => Ok(SubscribeOptions {
            start,
            filter,
            name,
            heartbeat_every,
            max_batch,
        }),
        _ => Err(ValidationError { violations }),
    }
}

/// `SubscribeRequest.max_batch`: 0 asks for one `event` message per event (`None`), 1 to
/// [`MAX_BATCH`] for `events` messages of at most that many; more is refused rather than
/// quietly lowered, so a client learns the limit instead of guessing why its batches are
/// smaller than it asked.
fn max_batch_from_proto(
    max_batch: u32,
    violations: &mut Vec<FieldViolation>,
) -> Option<NonZeroUsize> {
    let max_batch = usize::try_from(max_batch).unwrap_or(usize::MAX);
    if max_batch > MAX_BATCH {
        violations.push(FieldViolation::new(
            "max_batch",
            format!("must be at most {MAX_BATCH} events (0 for one event per message)"),
        ));
        return None;
    }
    NonZeroUsize::new(max_batch)
}

/// The most bytes of events one `EventBatch` message carries (their encoded size). A batch of
/// large events is split so that a message stays well within the 4 MiB a gRPC client accepts
/// by default; one event always goes, however large (the append limits bound it).
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The wire messages of one delivery, its records' personal fields opened: one message,
/// except for a batch whose events exceed [`MAX_BATCH_BYTES`], which becomes several, and a
/// batch sent `one_per_message`, which becomes an `event` message per record. A record that
/// does not open ends the list with its status, after the messages of the records before it
/// (as one message per event would have sent them).
fn delivery_to_proto(
    privacy: &Privacy,
    delivery: Delivery,
    one_per_message: bool,
) -> Vec<Result<proto::SubscribeResponse, Status>> {
    let kind = match delivery {
        Delivery::Events(records) if one_per_message => return each_to_proto(privacy, records),
        Delivery::Events(records) => return batch_to_proto(privacy, records),
        Delivery::Checkpoint { position } => Kind::Checkpoint(proto::Checkpoint { position }),
        Delivery::CaughtUp { next_position } => Kind::CaughtUp(proto::CaughtUp { next_position }),
        Delivery::Heartbeat(Lag {
            next_position,
            positions,
            time,
        }) => Kind::Heartbeat(proto::Heartbeat {
            next_position,
            lag_positions: positions,
            lag_seconds: time.as_secs_f64(),
            log_next_position: next_position,
        }),
    };
    vec![Ok(proto::SubscribeResponse { kind: Some(kind) })]
}

/// An `event` message for each record of a batch, in order; a record that does not open ends
/// them with its status.
fn each_to_proto(
    privacy: &Privacy,
    records: Vec<RecordedEvent>,
) -> Vec<Result<proto::SubscribeResponse, Status>> {
    let mut messages = Vec::with_capacity(records.len());
    for record in records {
        match record_to_wire(privacy, record) {
            Ok(event) => messages.push(Ok(proto::SubscribeResponse {
                kind: Some(Kind::Event(event)),
            })),
            Err(status) => {
                messages.push(Err(status));
                break;
            }
        }
    }
    messages
}

/// The `events` messages of one batch, in order, each at most [`MAX_BATCH_BYTES`] of events
/// (or a single event); a record that does not open ends them with its status.
fn batch_to_proto(
    privacy: &Privacy,
    records: Vec<RecordedEvent>,
) -> Vec<Result<proto::SubscribeResponse, Status>> {
    let message = |events| {
        Ok(proto::SubscribeResponse {
            kind: Some(Kind::Events(proto::EventBatch { events })),
        })
    };
    let mut messages = Vec::with_capacity(1);
    let mut events = Vec::with_capacity(records.len());
    let mut bytes = 0;
    for record in records {
        let event = match record_to_wire(privacy, record) {
            Ok(event) => event,
            Err(status) => {
                if !events.is_empty() {
                    messages.push(message(events));
                }
                messages.push(Err(status));
                return messages;
            }
        };
        let len = prost::Message::encoded_len(&event);
        if !events.is_empty() && bytes + len > MAX_BATCH_BYTES {
            messages.push(message(std::mem::take(&mut events)));
            bytes = 0;
        }
        bytes += len;
        events.push(event);
    }
    messages.push(message(events));
    messages
}

fn acked_to_proto(acked: AckedPosition) -> proto::AckSubscriptionResponse {
    proto::AckSubscriptionResponse {
        position: acked.position,
        acked_at: Some(timestamp_to_proto(acked.acked_at)),
    }
}

/// An open subscription, its lag against the head `next_position`.
fn open_to_proto(open: OpenSubscription, next_position: u64) -> proto::OpenSubscription {
    proto::OpenSubscription {
        subscription_name: open.name.map(|n| n.to_string()).unwrap_or_default(),
        next_position: open.next_position,
        lag_positions: next_position.saturating_sub(open.next_position),
        delivered_events: open.delivered_events,
        buffered_events: open.buffered_events,
        max_buffered_events: open.max_buffered_events,
    }
}

fn status_to_proto(status: SubscriptionStatus) -> proto::SubscriptionInfo {
    proto::SubscriptionInfo {
        name: status.name.to_string(),
        acked_position: status.acked.position,
        acked_at: Some(timestamp_to_proto(status.acked.acked_at)),
        lag_positions: status.lag.positions,
        lag_seconds: status.lag.time.as_secs_f64(),
    }
}

#[cfg(test)]
mod tests;
