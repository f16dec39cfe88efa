//! The business the ledger models, in pure code: no IO, no wire types, no storage.
//!
//! - [`event`]: the event types of a customer relationship (docs/domain.md §2 and §10: the
//!   levers and the facts);
//! - [`ids`], [`time`]: identifiers and instants, valid by construction;
//! - [`personal`]: personal text, which is plain, sealed or erased (the sealing itself is
//!   `crate::privacy`'s, since it needs keys);
//! - [`record`]: an event with its place in the log and its hash-chain link;
//! - [`scope`]: which accounts a caller may touch;
//! - [`validation`]: the rules an append must satisfy, given what the account already holds;
//! - [`account`]: the little an account's history must tell validation (contacts, promises,
//!   invoices).

pub mod account;
pub mod event;
pub mod ids;
pub mod personal;
pub mod projection;
pub mod record;
pub mod scope;
pub mod time;
pub mod validation;

pub use account::AccountState;
pub use event::*;
pub use ids::{AccountId, EventId, IdError, SubscriptionName};
pub use personal::{PersonalText, SealedText};
pub use record::{ChainHash, RecordedEvent};
pub use scope::AccountScope;
pub use time::Timestamp;
pub use validation::{FieldViolation, Policy, ValidationError};
