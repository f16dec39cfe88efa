//! `Relationships.SubscribeRelationshipChanges`: the wire face of [`crate::read::change_feed`].
//! Converts the request into a start, a filter and a heartbeat interval (naming the field of
//! every structural error) and each delivery onto the wire; the loop lives in the feed.

use std::time::Duration;

use futures::stream::BoxStream;
use tonic::{Request, Response, Status};

use crate::api::access;
use crate::api::convert::account_selection_from_proto;
use crate::api::convert::heartbeat_interval_from_proto;
use crate::api::convert::projection::relationship_change_to_proto;
use crate::api::proto;
use crate::api::proto::subscribe_relationship_changes_request::Start as WireStart;
use crate::api::proto::subscribe_relationship_changes_response::Kind;
use crate::api::streams::deliveries;
use crate::domain::ValidationError;
use crate::read::change_feed::{ChangeDelivery, ChangeFeeds, ChangeFilter};
use crate::subscriptions::{Lag, Start};

/// The messages of one change feed as the wire carries them.
pub type ChangeStream =
    BoxStream<'static, Result<proto::SubscribeRelationshipChangesResponse, Status>>;

/// `Relationships.SubscribeRelationshipChanges`.
pub async fn subscribe(
    feeds: &ChangeFeeds,
    request: Request<proto::SubscribeRelationshipChangesRequest>,
) -> Result<Response<ChangeStream>, Status> {
    let caller = access::caller(&request);
    let (start, mut filter, heartbeat_every) = request_from_proto(request.into_inner())?;
    // Accounts asked for by name must be inside the scope; the other changes are filtered to
    // it silently, with checkpoints and heartbeats still flowing.
    for account in &filter.account_ids {
        caller.may_touch(account.as_str())?;
    }
    filter.scope = caller.scope().clone();
    let feed = feeds.subscribe(start, filter, heartbeat_every).await?;
    tracing::debug!(
        next_position = feed.next_position(),
        "subscribed to changes"
    );
    let span = tracing::Span::current();
    Ok(Response::new(deliveries(
        feed,
        span,
        |delivery| std::iter::once(Ok(delivery_to_proto(delivery))),
        "change feed",
    )))
}

/// The start, filter and heartbeat interval a request asks for; every structural problem
/// named by field.
fn request_from_proto(
    request: proto::SubscribeRelationshipChangesRequest,
) -> Result<(Start, ChangeFilter, Duration), ValidationError> {
    let mut violations = Vec::new();
    let start = match request.start {
        None | Some(WireStart::FromStart(_)) => Start::FromStart,
        Some(WireStart::FromEnd(_)) => Start::FromEnd,
        Some(WireStart::AfterPosition(position)) => Start::After(position),
    };
    let mut filter = ChangeFilter::default();
    (filter.account_ids, filter.account_id_prefix) = account_selection_from_proto(
        &request.account_ids,
        request.account_id_prefix,
        &mut violations,
    );
    let heartbeat_every =
        heartbeat_interval_from_proto(request.heartbeat_interval, &mut violations);
    match (heartbeat_every, violations.is_empty()) {
        (Some(heartbeat_every), true) => Ok((start, filter, heartbeat_every)),
        _ => Err(ValidationError { violations }),
    }
}

/// The wire form of one delivery.
fn delivery_to_proto(delivery: ChangeDelivery) -> proto::SubscribeRelationshipChangesResponse {
    let kind = match delivery {
        ChangeDelivery::Change(change) => Kind::Change(relationship_change_to_proto(&change)),
        ChangeDelivery::Checkpoint { position } => Kind::Checkpoint(proto::Checkpoint { position }),
        ChangeDelivery::CaughtUp { next_position } => {
            Kind::CaughtUp(proto::CaughtUp { next_position })
        }
        ChangeDelivery::Heartbeat {
            lag:
                Lag {
                    next_position,
                    positions,
                    time,
                },
            log_next_position,
        } => Kind::Heartbeat(proto::Heartbeat {
            next_position,
            lag_positions: positions,
            lag_seconds: time.as_secs_f64(),
            log_next_position,
        }),
    };
    proto::SubscribeRelationshipChangesResponse { kind: Some(kind) }
}
