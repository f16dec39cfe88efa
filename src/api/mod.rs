//! The gRPC API: the only module that knows the wire format.
//!
//! - [`proto`]: the generated `relledger.v1` types, clients and servers;
//! - [`access`]: the layer every request passes first: authentication, roles, limits, and the
//!   table of every RPC's roles;
//! - [`audit_service`]: `relledger.v1.Audit` over the [`crate::audit::Audit`] service;
//! - [`change_feed_service`]: `Relationships.SubscribeRelationshipChanges` over the
//!   [`crate::read::change_feed::ChangeFeeds`] service;
//! - [`convert`]: wire <-> domain conversions, naming the field of every structural error;
//! - [`ledger_service`]: `relledger.v1.Ledger` over the [`crate::ledger::Ledger`] service;
//! - [`reveal`]: the one way a stored record reaches the wire: its personal fields opened (or
//!   shown erased) by [`crate::privacy::Privacy`], then converted;
//! - [`relationships_service`]: `relledger.v1.Relationships` over the
//!   [`crate::read::relationships::Relationships`] service;
//! - [`status`]: the mapping of every error to a `tonic::Status`.

pub mod access;
pub mod audit_service;
pub mod change_feed_service;
pub mod convert;
pub mod ledger_service;
pub mod proto;
pub mod relationships_service;
pub mod reveal;
pub mod rpc_metrics;
pub mod status;
mod streams;
