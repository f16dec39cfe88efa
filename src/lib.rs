//! relledger: an event-sourced relationship ledger for key-account sales.
//!
//! # Layout
//!
//! - [`domain`]: the business in pure code: event types, identifiers, instants, the rules of an
//!   append. No IO, no wire types, no storage.
//! - [`store`]: the event log behind the [`store::Log`] trait: the record encoding and hash
//!   chain, the durable log in the data dir (`store::file`), the small stores in sled
//!   (`store::sled`) and the in-memory models.
//! - [`ledger`]: the application service that every append goes through: retry detection,
//!   the expected-revision check, domain validation, then the log.
//! - [`privacy`]: crypto-shredding: personal fields sealed under per-contact data keys on the
//!   way in and opened on every read; the key store (`keys/` in the data dir); forgetting a
//!   contact destroys their key.
//! - [`read`]: the read side, everything derived from the log off the append path: the
//!   relationships service, the account histories, the live projector and the relationship
//!   change feed.
//! - [`audit`]: verifiable history: chain verification from the stored bytes, Ed25519 signed
//!   checkpoints, the self-verifying export bundle and its import.
//! - [`subscriptions`]: the global log delivered to consumers from a start position, then live,
//!   filtered and resumable; durable named subscriptions keep their acknowledged position.
//! - [`auth`]: who may do what: principals from the auth file, their tokens (kept hashed),
//!   roles, account scopes and limits.
//! - [`api`]: the gRPC API, the only module that knows the generated proto types.
//! - [`server`]: wires the services and runs them until shutdown; [`serve`] is the entry point.
//! - [`config`]: the server's settings and their defaults.
//! - [`clock`]: the server's clock, read only at the edges (the domain is given its instants).
//! - [`cli`]: the subcommands of the binary besides `serve`: the gRPC clients (`append`, `read`, `forget`,
//!   `as-of`, `export --server`) and the operator commands on a stopped server's data dir
//!   (`rebuild`, `verify`, `export`, `import`, `key`, `verify-export`).
//!
//! ARCHITECTURE.md describes the invariants these modules keep.

pub mod allocator;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
#[cfg(test)]
mod hostile_input;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod privacy;
pub mod read;
pub mod server;
pub mod store;
pub mod subscriptions;

pub use server::{serve, ServeError};
