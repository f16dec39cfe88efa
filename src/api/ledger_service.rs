//! `relledger.v1.Ledger`: append and read over gRPC.
//!
//! A thin layer: it converts the wire request into domain values (naming the field of every
//! structural error), calls [`Ledger`], and converts the answer back. Rules live in the domain,
//! the mechanics of the log in the store.

mod subscribe;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

use super::access;
use super::convert;
use super::proto;
use crate::domain::validation::MAX_REFERENCE_LEN;
use crate::domain::{EventType, FieldViolation, ValidationError, CAUSATION_ID, CORRELATION_ID};
use crate::ledger::Ledger;
use crate::privacy::Privacy;
use crate::read::change_feed::ChangeFeeds;
use crate::store::{Direction, ReadAllFilter};
use crate::subscriptions::Subscriptions;

/// The gRPC face of the ledger.
pub struct LedgerService {
    /// The service that validates and appends.
    ledger: Arc<Ledger>,
    /// The service that runs subscriptions and keeps named subscriptions' positions.
    subscriptions: Arc<Subscriptions>,
    /// The relationship change feeds, listed beside the subscriptions.
    change_feeds: Arc<ChangeFeeds>,
    /// The largest encoded size of one event, in bytes: a bound on what one record may cost
    /// every reader, replica and export for ever.
    max_event_bytes: usize,
}

impl LedgerService {
    /// The API over `ledger` and `subscriptions`, refusing events larger than
    /// `max_event_bytes` when encoded.
    pub fn new(
        ledger: Arc<Ledger>,
        subscriptions: Arc<Subscriptions>,
        change_feeds: Arc<ChangeFeeds>,
        max_event_bytes: usize,
    ) -> Self {
        LedgerService {
            ledger,
            subscriptions,
            change_feeds,
            max_event_bytes,
        }
    }
}

/// A stream of recorded events as the wire carries them.
type RecordStream = BoxStream<'static, Result<proto::RecordedEvent, Status>>;

#[tonic::async_trait]
impl proto::ledger_server::Ledger for LedgerService {
    #[tracing::instrument(
        level = "debug",
        name = "Ledger.Append",
        skip_all,
        fields(account_id, events)
    )]
    async fn append(
        &self,
        request: Request<proto::AppendRequest>,
    ) -> Result<Response<proto::AppendResponse>, Status> {
        let caller = access::caller(&request);
        // With traces exported, the events record the trace that appended them.
        let traceparent = request.metadata().get("traceparent");
        let trace = crate::logging::trace_ids(traceparent.and_then(|v| v.to_str().ok()));
        let request = request.into_inner();
        let span = tracing::Span::current();
        span.record("account_id", request.account_id.as_str());
        span.record("events", request.events.len());

        let mut violations = Vec::new();
        let account =
            convert::account_id_from_proto(&request.account_id, "account_id", &mut violations);
        let expected = convert::expected_revision_from_proto(request.expected_revision);
        let mut events = Vec::with_capacity(request.events.len());
        for (i, event) in request.events.into_iter().enumerate() {
            let path = format!("events[{i}]");
            let size = event.encoded_len();
            if size > self.max_event_bytes {
                violations.push(FieldViolation::new(
                    path,
                    format!(
                        "is {size} bytes encoded; the limit is {}",
                        self.max_event_bytes
                    ),
                ));
                continue;
            }
            match convert::proposed_event_from_proto(event, &path) {
                Ok(event) => events.push(event),
                Err(invalid) => violations.extend(invalid.violations),
            }
        }
        let account = match (account, violations.is_empty()) {
            (Some(account), true) => account,
            _ => return Err(ValidationError { violations }.into()),
        };
        caller.may_touch(account.as_str())?;
        if let Some((trace, caller_span)) = trace {
            for event in &mut events {
                let metadata = &mut event.metadata;
                metadata
                    .entry(CORRELATION_ID.to_string())
                    .or_insert_with(|| trace.clone());
                if let Some(span) = &caller_span {
                    metadata
                        .entry(CAUSATION_ID.to_string())
                        .or_insert_with(|| span.clone());
                }
            }
        }

        let outcome = self
            .ledger
            .append_by(&account, expected, events, caller.name())
            .await?;
        tracing::debug!(?outcome, "appended");
        Ok(Response::new(convert::append_outcome_to_proto(outcome)))
    }

    type ReadStreamStream = RecordStream;

    #[tracing::instrument(
        level = "debug",
        name = "Ledger.ReadStream",
        skip_all,
        fields(account_id)
    )]
    async fn read_stream(
        &self,
        request: Request<proto::ReadStreamRequest>,
    ) -> Result<Response<Self::ReadStreamStream>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        tracing::Span::current().record("account_id", request.account_id.as_str());
        let mut violations = Vec::new();
        let account =
            convert::account_id_from_proto(&request.account_id, "account_id", &mut violations);
        let direction = parse_direction(request.direction, &mut violations);
        let (account, direction) = match (account, direction, violations.is_empty()) {
            (Some(account), Some(direction), true) => (account, direction),
            _ => return Err(ValidationError { violations }.into()),
        };
        caller.may_touch(account.as_str())?;

        let records = self
            .ledger
            .read_stream(
                &account,
                request.from_revision,
                direction,
                max_count(request.max_count),
            )
            .await?;
        Ok(Response::new(to_wire(records, self.ledger.privacy())))
    }

    type ReadAllStream = RecordStream;

    #[tracing::instrument(level = "debug", name = "Ledger.ReadAll", skip_all)]
    async fn read_all(
        &self,
        request: Request<proto::ReadAllRequest>,
    ) -> Result<Response<Self::ReadAllStream>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        let mut violations = Vec::new();
        let mut filter = ReadAllFilter {
            scope: caller.scope().clone(),
            ..ReadAllFilter::default()
        };
        for (i, id) in request.account_ids.iter().enumerate() {
            if let Some(account) =
                convert::account_id_from_proto(id, &format!("account_ids[{i}]"), &mut violations)
            {
                filter.account_ids.insert(account);
            }
        }
        filter.event_types = parse_event_types(&request.event_types, &mut violations);
        let direction = match (
            parse_direction(request.direction, &mut violations),
            violations.is_empty(),
        ) {
            (Some(direction), true) => direction,
            _ => return Err(ValidationError { violations }.into()),
        };
        // Accounts asked for by name must be inside the scope; the rest of the log is filtered
        // to it silently.
        for account in &filter.account_ids {
            caller.may_touch(account.as_str())?;
        }

        let records = self.ledger.read_all(
            request.from_position,
            direction,
            max_count(request.max_count),
            filter,
        );
        Ok(Response::new(to_wire(records, self.ledger.privacy())))
    }

    type SubscribeStream = subscribe::SubscribeStream;

    #[tracing::instrument(
        level = "debug",
        name = "Ledger.Subscribe",
        skip_all,
        fields(subscription_name)
    )]
    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        subscribe::subscribe(&self.subscriptions, self.ledger.privacy(), request).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "Ledger.AckSubscription",
        skip_all,
        fields(subscription_name)
    )]
    async fn ack_subscription(
        &self,
        request: Request<proto::AckSubscriptionRequest>,
    ) -> Result<Response<proto::AckSubscriptionResponse>, Status> {
        subscribe::ack(&self.subscriptions, request).await
    }

    #[tracing::instrument(level = "debug", name = "Ledger.ListSubscriptions", skip_all)]
    async fn list_subscriptions(
        &self,
        _request: Request<proto::ListSubscriptionsRequest>,
    ) -> Result<Response<proto::ListSubscriptionsResponse>, Status> {
        subscribe::list(&self.subscriptions, &self.change_feeds).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "Ledger.ForgetContact",
        skip_all,
        fields(account_id)
    )]
    async fn forget_contact(
        &self,
        request: Request<proto::ForgetContactRequest>,
    ) -> Result<Response<proto::ForgetContactResponse>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        // The contact id is personal-data-adjacent at most (a pseudonymous reference), but
        // there is no need to log it: the account is enough to find the event.
        tracing::Span::current().record("account_id", request.account_id.as_str());
        let mut violations = Vec::new();
        let account =
            convert::account_id_from_proto(&request.account_id, "account_id", &mut violations);
        if request.contact_id.is_empty() {
            violations.push(FieldViolation::new("contact_id", "is required"));
        } else if request.contact_id.len() > MAX_REFERENCE_LEN {
            violations.push(FieldViolation::new(
                "contact_id",
                format!("must be at most {MAX_REFERENCE_LEN} bytes"),
            ));
        }
        let reason_chars = request.reason.chars().count();
        if request.reason.trim().is_empty() {
            violations.push(FieldViolation::new(
                "reason",
                "is required: say why the contact is forgotten (an erasure request's reference)",
            ));
        } else if reason_chars > MAX_FORGET_REASON_CHARS {
            violations.push(FieldViolation::new(
                "reason",
                format!("must be at most {MAX_FORGET_REASON_CHARS} characters, got {reason_chars}"),
            ));
        }
        let actor_chars = request.actor.chars().count();
        if actor_chars > convert::event_in::MAX_ACTOR_CHARS {
            violations.push(FieldViolation::new(
                "actor",
                format!(
                    "must be at most {} characters, got {actor_chars}",
                    convert::event_in::MAX_ACTOR_CHARS
                ),
            ));
        }
        let account = match (account, violations.is_empty()) {
            (Some(account), true) => account,
            _ => return Err(ValidationError { violations }.into()),
        };
        caller.may_touch(account.as_str())?;
        let actor = if request.actor.is_empty() {
            DEFAULT_FORGET_ACTOR
        } else {
            request.actor.as_str()
        };
        let forgotten = self
            .ledger
            .forget_contact(
                &account,
                &request.contact_id,
                &request.reason,
                actor,
                caller.name(),
            )
            .await?;
        // Says which account itself: the RPC's span is at DEBUG (see `logging`).
        tracing::info!(
            account_id = %account,
            position = forgotten.position,
            already_forgotten = forgotten.already_forgotten,
            "contact forgotten"
        );
        Ok(Response::new(proto::ForgetContactResponse {
            position: forgotten.position,
            revision: forgotten.revision,
            already_forgotten: forgotten.already_forgotten,
        }))
    }
}

/// The longest `ForgetContactRequest.reason`, in characters: a reference, not a file.
const MAX_FORGET_REASON_CHARS: usize = 1024;

/// The actor of a `contact_forgotten` event when the request names none.
const DEFAULT_FORGET_ACTOR: &str = "relledger";

/// Parses event type names (field `event_types[i]`), recording a violation for each unknown one.
fn parse_event_types(
    names: &[String],
    violations: &mut Vec<FieldViolation>,
) -> BTreeSet<EventType> {
    let mut types = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        match EventType::from_name(name) {
            Some(event_type) => {
                types.insert(event_type);
            }
            None => violations.push(FieldViolation::new(
                format!("event_types[{i}]"),
                format!(
                    "{name:?} is not an event type; use a payload field name such as \"visit\""
                ),
            )),
        }
    }
    types
}

/// Parses a read direction, recording a violation when the value is unknown.
fn parse_direction(direction: i32, violations: &mut Vec<FieldViolation>) -> Option<Direction> {
    convert::direction_from_proto(direction, "direction")
        .map_err(|invalid| violations.extend(invalid.violations))
        .ok()
}

/// `max_count` as a limit: 0 (the proto3 default) means no limit.
fn max_count(max_count: u32) -> Option<u64> {
    (max_count > 0).then_some(u64::from(max_count))
}

/// Converts a stream of stored records to the wire, opening their personal fields.
fn to_wire(
    records: BoxStream<'static, Result<crate::domain::RecordedEvent, crate::ledger::LedgerError>>,
    privacy: &Arc<Privacy>,
) -> RecordStream {
    let privacy = Arc::clone(privacy);
    records
        .map(move |record| match record {
            Ok(record) => super::reveal::record_to_wire(&privacy, record),
            Err(err) => {
                tracing::warn!(error = %err, "read failed");
                Err(Status::from(err))
            }
        })
        .boxed()
}
