//! Conversions between the wire types (`api::proto`) and the domain and store types: the only
//! place that maps one onto the other.
//!
//! - [`event_in`]: wire events into domain events, reporting every structural violation with
//!   its full wire path (`events[3].visit.next_visit_on`);
//! - [`event_out`]: domain events onto the wire, the exact inverse for every accepted event;
//! - `enums`: the wire enums paired with the domain's;
//! - [`projection`]: the relationship projections onto the wire;
//! - [`projection_filters`]: the enums of relationship requests (filters, list order, alert
//!   codes) off the wire;
//! - this file: the small request and response pieces (timestamps, revisions, directions,
//!   append outcomes).
//!
//! Structural checks live here because only this layer can see them (an unset message, an enum
//! number the contract does not define); the business rules stay in `domain::validation`.

mod enums;
pub mod event_in;
pub mod event_out;
pub mod projection;
pub mod projection_filters;
#[cfg(test)]
mod tests;

pub use event_in::proposed_event_from_proto;
pub use event_out::{proposed_event_to_proto, recorded_event_to_proto};

use crate::api::proto;
use crate::api::proto::expected_revision::Kind;
use crate::domain::{AccountId, FieldViolation, Timestamp, ValidationError};
use crate::store::{AppendOutcome, Direction, ExpectedRevision};

/// The wire form of an instant.
pub fn timestamp_to_proto(t: Timestamp) -> pbjson_types::Timestamp {
    let (seconds, nanos) = t.to_parts();
    pbjson_types::Timestamp { seconds, nanos }
}

/// The instant a wire timestamp names; a violation of `field` when its nanos are outside
/// `0..1e9` or it lies outside the years 1677 to 2262 that the domain's instants hold.
pub fn timestamp_from_proto(
    t: &pbjson_types::Timestamp,
    field: &str,
) -> Result<Timestamp, ValidationError> {
    Timestamp::from_parts(t.seconds, t.nanos)
        .ok_or_else(|| ValidationError::single(field, TIMESTAMP_RANGE))
}

/// What a timestamp out of the domain's range is told.
pub(crate) const TIMESTAMP_RANGE: &str = "must be a valid timestamp between \
     1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z (nanos between 0 and 999999999)";

/// The concurrency check an append asks for; unset (or a message with no kind set) means any.
pub fn expected_revision_from_proto(p: Option<proto::ExpectedRevision>) -> ExpectedRevision {
    match p.and_then(|p| p.kind) {
        None | Some(Kind::Any(_)) => ExpectedRevision::Any,
        Some(Kind::NoStream(_)) => ExpectedRevision::NoStream,
        Some(Kind::StreamExists(_)) => ExpectedRevision::StreamExists,
        Some(Kind::Exact(revision)) => ExpectedRevision::Exact(revision),
    }
}

/// The wire form of a concurrency check, as a client sends it.
pub fn expected_revision_to_proto(e: ExpectedRevision) -> proto::ExpectedRevision {
    let kind = match e {
        ExpectedRevision::Any => Kind::Any(pbjson_types::Empty {}),
        ExpectedRevision::NoStream => Kind::NoStream(pbjson_types::Empty {}),
        ExpectedRevision::StreamExists => Kind::StreamExists(pbjson_types::Empty {}),
        ExpectedRevision::Exact(revision) => Kind::Exact(revision),
    };
    proto::ExpectedRevision { kind: Some(kind) }
}

/// The direction of a read; unspecified means forwards, and a number the contract does not
/// define is a violation of `field`.
pub fn direction_from_proto(raw: i32, field: &str) -> Result<Direction, ValidationError> {
    match proto::Direction::try_from(raw) {
        Ok(proto::Direction::Unspecified | proto::Direction::Forwards) => Ok(Direction::Forwards),
        Ok(proto::Direction::Backwards) => Ok(Direction::Backwards),
        Err(_) => Err(ValidationError::single(
            field,
            format!("{raw} is not a known Direction value"),
        )),
    }
}

/// The wire form of where an append's events landed.
pub fn append_outcome_to_proto(o: AppendOutcome) -> proto::AppendResponse {
    proto::AppendResponse {
        first_revision: o.first_revision,
        last_revision: o.last_revision,
        first_position: o.first_position,
        last_position: o.last_position,
        duplicate: o.duplicate,
    }
}

/// Parses the account id in `field`, recording a violation when it is not valid: for request
/// handlers that collect every violation of a request before answering.
pub fn account_id_from_proto(
    id: &str,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<AccountId> {
    AccountId::parse(id)
        .map_err(|err| violations.push(FieldViolation::new(field, err.to_string())))
        .ok()
}

/// The heartbeat interval of a streaming request: the default when unset, `None` (with a
/// violation of `heartbeat_interval`) when outside the allowed range. Shared by `Subscribe` and
/// `SubscribeRelationshipChanges`, which promise the same heartbeats.
pub fn heartbeat_interval_from_proto(
    interval: Option<pbjson_types::Duration>,
    violations: &mut Vec<FieldViolation>,
) -> Option<std::time::Duration> {
    use crate::subscriptions::{DEFAULT_HEARTBEAT, MAX_HEARTBEAT, MIN_HEARTBEAT};
    let Some(interval) = interval else {
        return Some(DEFAULT_HEARTBEAT);
    };
    let in_range = u64::try_from(interval.seconds)
        .ok()
        .zip(
            u32::try_from(interval.nanos)
                .ok()
                .filter(|n| *n < 1_000_000_000),
        )
        .map(|(seconds, nanos)| std::time::Duration::new(seconds, nanos))
        .filter(|interval| (MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(interval));
    if in_range.is_none() {
        violations.push(FieldViolation::new(
            "heartbeat_interval",
            format!(
                "must be between {} ms and {} s",
                MIN_HEARTBEAT.as_millis(),
                MAX_HEARTBEAT.as_secs()
            ),
        ));
    }
    in_range
}

/// The accounts a streaming request selects: the ids listed (`account_ids[i]`) and an id prefix
/// (`account_id_prefix`; empty for none), each violation recorded. A non-empty prefix of a
/// valid account id is itself a valid account id, so the prefix obeys the id's rules.
pub fn account_selection_from_proto(
    account_ids: &[String],
    account_id_prefix: String,
    violations: &mut Vec<FieldViolation>,
) -> (std::collections::BTreeSet<AccountId>, Option<String>) {
    let ids = account_ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| account_id_from_proto(id, &format!("account_ids[{i}]"), violations))
        .collect();
    let prefix = (!account_id_prefix.is_empty())
        .then(|| match AccountId::parse(account_id_prefix.as_str()) {
            Ok(_) => Some(account_id_prefix),
            Err(err) => {
                violations.push(FieldViolation::new("account_id_prefix", err.to_string()));
                None
            }
        })
        .flatten();
    (ids, prefix)
}
