//! `relledger.v1.Relationships`: the relationship projections over gRPC.
//!
//! A thin layer, like the Ledger's: it turns the wire request into a question in the domain's
//! terms (naming the field of every malformed value), asks [`Relationships`], and converts the
//! answer back. Which events and which instant a question means is decided by the application
//! layer; what the numbers are, by `domain::projection`.

use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use tonic::{Request, Response, Status};

use super::access;
use super::change_feed_service::{self, ChangeStream};
use super::convert::{self, projection as wire, projection_filters as filters};
use super::proto;
use super::proto::explain_change_request::{From as FromCheckpoint, To as ToCheckpoint};
use super::proto::get_relationship_request::AsOf as WireAsOf;
use crate::domain::projection::Checkpoint;
use crate::domain::{AccountScope, FieldViolation, Timestamp, ValidationError};
use crate::read::change_feed::ChangeFeeds;
use crate::read::relationships::{
    AsOf, GiftFilter, ListFilter, ListQuery, RelationshipQuery, Relationships, MAX_PAGE_SIZE,
};

/// The gRPC face of the relationship projections.
pub struct RelationshipsService {
    /// The application service that reads the log and projects.
    relationships: Arc<Relationships>,
    /// The relationship change feed, over the live projector's change log.
    changes: Arc<ChangeFeeds>,
}

impl RelationshipsService {
    /// The API over `relationships`, with the change feed over `changes`.
    pub fn new(relationships: Arc<Relationships>, changes: Arc<ChangeFeeds>) -> Self {
        RelationshipsService {
            relationships,
            changes,
        }
    }
}

/// A stream of gift-register entries as the wire carries them.
type GiftStream = BoxStream<'static, Result<proto::GiftRegisterEntry, Status>>;

#[tonic::async_trait]
impl proto::relationships_server::Relationships for RelationshipsService {
    #[tracing::instrument(
        level = "debug",
        name = "Relationships.GetRelationship",
        skip_all,
        fields(account_id)
    )]
    async fn get_relationship(
        &self,
        request: Request<proto::GetRelationshipRequest>,
    ) -> Result<Response<proto::GetRelationshipResponse>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        tracing::Span::current().record("account_id", request.account_id.as_str());
        let mut violations = Vec::new();
        let account =
            convert::account_id_from_proto(&request.account_id, "account_id", &mut violations);
        let as_of = match request.as_of {
            None => Some(AsOf::Now),
            Some(WireAsOf::AsOfPosition(position)) => Some(AsOf::Position(position)),
            Some(WireAsOf::AsOfTime(t)) => {
                parse_time(&t, "as_of_time", &mut violations).map(AsOf::Time)
            }
        };
        let known_at = parse_optional_time(request.known_at_time, "known_at_time", &mut violations);
        let (account, as_of, known_at) = match (account, as_of, known_at, violations.is_empty()) {
            (Some(account), Some(as_of), Some(known_at), true) => (account, as_of, known_at),
            _ => return Err(ValidationError { violations }.into()),
        };
        caller.may_touch(account.as_str())?;

        let query = RelationshipQuery { as_of, known_at };
        let max_contributions = request.max_contributions.map(|n| n as usize);
        let projection = self
            .relationships
            .get_listing(&account, query, max_contributions)
            .await?;
        Ok(Response::new(proto::GetRelationshipResponse {
            relationship: Some(wire::relationship_to_proto(
                &projection,
                known_at,
                max_contributions,
            )),
        }))
    }

    #[tracing::instrument(level = "debug", name = "Relationships.ListRelationships", skip_all)]
    async fn list_relationships(
        &self,
        request: Request<proto::ListRelationshipsRequest>,
    ) -> Result<Response<proto::ListRelationshipsResponse>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        let mut violations = Vec::new();
        let filter = ListFilter {
            quadrants: parse_each(
                &request.quadrants,
                "quadrants",
                &mut violations,
                |raw, f| filters::quadrant_from_proto(*raw, f),
            ),
            levels: parse_each(&request.levels, "levels", &mut violations, |raw, f| {
                filters::level_from_proto(*raw, f)
            }),
            grades: parse_each(&request.grades, "grades", &mut violations, |raw, f| {
                filters::grade_from_proto(*raw, f)
            }),
            alert_codes: parse_each(
                &request.alert_codes,
                "alert_codes",
                &mut violations,
                |code, f| filters::alert_code_from_proto(code, f),
            ),
            owners: request.owners,
            scope: caller.scope().clone(),
        };
        let order = filters::list_order_from_proto(request.order_by, "order_by")
            .map_err(|invalid| violations.extend(invalid.violations))
            .ok();
        let page_size = match usize::try_from(request.page_size) {
            Ok(size) if size <= MAX_PAGE_SIZE => Some(size),
            _ => {
                violations.push(FieldViolation::new(
                    "page_size",
                    format!(
                        "is {}; it must be between 0 (the default page) and {MAX_PAGE_SIZE}",
                        request.page_size
                    ),
                ));
                None
            }
        };
        let (order, page_size) = match (order, page_size, violations.is_empty()) {
            (Some(order), Some(page_size), true) => (order, page_size),
            _ => return Err(ValidationError { violations }.into()),
        };

        let page = self
            .relationships
            .list(ListQuery {
                filter,
                order,
                page_size,
                page_token: (!request.page_token.is_empty()).then_some(request.page_token),
            })
            .await?;
        tracing::debug!(count = page.relationships.len(), "listed");
        Ok(Response::new(proto::ListRelationshipsResponse {
            relationships: page
                .relationships
                .iter()
                .map(wire::relationship_summary_to_proto)
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
            as_of: Some(convert::timestamp_to_proto(page.as_of)),
        }))
    }

    #[tracing::instrument(
        level = "debug",
        name = "Relationships.ExplainChange",
        skip_all,
        fields(account_id)
    )]
    async fn explain_change(
        &self,
        request: Request<proto::ExplainChangeRequest>,
    ) -> Result<Response<proto::ExplainChangeResponse>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        tracing::Span::current().record("account_id", request.account_id.as_str());
        let mut violations = Vec::new();
        let account =
            convert::account_id_from_proto(&request.account_id, "account_id", &mut violations);
        let from = match request.from {
            None => missing("from", "from_position or from_time", &mut violations),
            Some(FromCheckpoint::FromPosition(p)) => Some(Checkpoint::Position(p)),
            Some(FromCheckpoint::FromTime(t)) => {
                parse_time(&t, "from_time", &mut violations).map(Checkpoint::Time)
            }
        };
        let to = match request.to {
            None => missing("to", "to_position or to_time", &mut violations),
            Some(ToCheckpoint::ToPosition(p)) => Some(Checkpoint::Position(p)),
            Some(ToCheckpoint::ToTime(t)) => {
                parse_time(&t, "to_time", &mut violations).map(Checkpoint::Time)
            }
        };
        let (account, from, to) = match (account, from, to, violations.is_empty()) {
            (Some(account), Some(from), Some(to), true) => (account, from, to),
            _ => return Err(ValidationError { violations }.into()),
        };
        caller.may_touch(account.as_str())?;

        let change = self
            .relationships
            .explain_change(&account, from, to)
            .await?;
        Ok(Response::new(wire::trust_change_to_proto(
            &account, &change,
        )))
    }

    #[tracing::instrument(level = "debug", name = "Relationships.GetPortfolio", skip_all)]
    async fn get_portfolio(
        &self,
        request: Request<proto::GetPortfolioRequest>,
    ) -> Result<Response<proto::GetPortfolioResponse>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        let mut violations = Vec::new();
        let as_of = match parse_optional_time(request.as_of_time, "as_of_time", &mut violations) {
            Some(Some(t)) => AsOf::Time(t),
            Some(None) => AsOf::Now,
            None => return Err(ValidationError { violations }.into()),
        };

        let query = RelationshipQuery {
            as_of,
            known_at: None,
        };
        let scope = caller.scope();
        let (portfolio, as_of) = self.relationships.portfolio(query, scope).await?;
        let mut response = wire::portfolio_to_proto(&portfolio, as_of);
        if let AccountScope::Prefixes(prefixes) = scope {
            response.account_prefixes = prefixes.clone();
        }
        Ok(Response::new(response))
    }

    type GiftRegisterStream = GiftStream;

    #[tracing::instrument(
        level = "debug",
        name = "Relationships.GiftRegister",
        skip_all,
        fields(account_id)
    )]
    async fn gift_register(
        &self,
        request: Request<proto::GiftRegisterRequest>,
    ) -> Result<Response<Self::GiftRegisterStream>, Status> {
        let caller = access::caller(&request);
        let request = request.into_inner();
        tracing::Span::current().record("account_id", request.account_id.as_str());
        let mut violations = Vec::new();
        // Every field is optional: an empty string or an unset time matches everything.
        let account = if request.account_id.is_empty() {
            Some(None)
        } else {
            convert::account_id_from_proto(&request.account_id, "account_id", &mut violations)
                .map(Some)
        };
        let from = parse_optional_time(request.from_time, "from_time", &mut violations);
        let to = parse_optional_time(request.to_time, "to_time", &mut violations);
        if let (Some(Some(from)), Some(Some(to))) = (from, to) {
            if to <= from {
                violations.push(FieldViolation::new(
                    "to_time",
                    "must be after from_time (the period includes from_time, excludes to_time)",
                ));
            }
        }
        let filter = match (account, from, to, violations.is_empty()) {
            (Some(account), Some(from), Some(to), true) => GiftFilter {
                account,
                contact_id: (!request.contact_id.is_empty()).then_some(request.contact_id),
                from,
                to,
                scope: caller.scope().clone(),
            },
            _ => return Err(ValidationError { violations }.into()),
        };
        if let Some(account) = &filter.account {
            caller.may_touch(account.as_str())?;
        }

        let entries = self
            .relationships
            .gift_register(filter)
            .map(|entry| match entry {
                Ok(entry) => Ok(wire::gift_entry_to_proto(&entry)),
                Err(err) => {
                    tracing::warn!(error = %err, "gift register read failed");
                    Err(Status::from(err))
                }
            })
            .boxed();
        Ok(Response::new(entries))
    }

    type SubscribeRelationshipChangesStream = ChangeStream;

    #[tracing::instrument(
        level = "debug",
        name = "Relationships.SubscribeRelationshipChanges",
        skip_all
    )]
    async fn subscribe_relationship_changes(
        &self,
        request: Request<proto::SubscribeRelationshipChangesRequest>,
    ) -> Result<Response<Self::SubscribeRelationshipChangesStream>, Status> {
        change_feed_service::subscribe(&self.changes, request).await
    }
}

/// Parses a wire timestamp, recording a violation of `field` when it is not a valid instant.
fn parse_time(
    t: &pbjson_types::Timestamp,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<Timestamp> {
    convert::timestamp_from_proto(t, field)
        .map_err(|invalid| violations.extend(invalid.violations))
        .ok()
}

/// Parses an optional wire timestamp: `Some(None)` when unset, `None` when invalid.
fn parse_optional_time(
    t: Option<pbjson_types::Timestamp>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<Option<Timestamp>> {
    match t {
        None => Some(None),
        Some(t) => parse_time(&t, field, violations).map(Some),
    }
}

/// Parses every value of a repeated filter field, recording a violation of `field[i]` for
/// each value that is not valid.
fn parse_each<W, T>(
    values: &[W],
    field: &str,
    violations: &mut Vec<FieldViolation>,
    parse: impl Fn(&W, &str) -> Result<T, ValidationError>,
) -> Vec<T> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, value)| {
            parse(value, &format!("{field}[{i}]"))
                .map_err(|invalid| violations.extend(invalid.violations))
                .ok()
        })
        .collect()
}

/// Records that the required oneof `field` is unset (`what` says how to set it).
fn missing<T>(field: &str, what: &str, violations: &mut Vec<FieldViolation>) -> Option<T> {
    violations.push(FieldViolation::new(
        field,
        format!("is required: set {what}"),
    ));
    None
}
