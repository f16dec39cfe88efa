//! The read side: everything the server derives from the log, off the append path. The write
//! side (`ledger`, `store`) never waits for any of it.
//!
//! - [`relationships`]: the relationships service: which events and which instant a question
//!   means (bitemporal as-of), and the projections, lists, portfolio and gift register.
//! - [`histories`]: recently used account histories in memory, decoded once, shared by the
//!   projector and the relationships service.
//! - [`states`]: recently used accounts' projection states, advanced by each new event, which
//!   the projector summarizes and a live `GetRelationship` projects.
//! - `kept`: the bounded cache of one value per account both are kept in.
//! - [`projector`]: the live projector: follows the log and keeps each account's relationship
//!   summary, checkpointed, reporting the events that change one.
//! - [`rows`]: every account's relationship in brief as of now, kept current by the projector
//!   (on appends and as time passes), which lists and the portfolio "now" are answered from.
//! - [`change_feed`]: the relationship change feed: the live projector's stored changes
//!   delivered from a start position, then live, filtered by account and resumable.

pub mod change_feed;
pub mod histories;
mod kept;
pub mod projector;
pub mod relationships;
pub mod rows;
pub mod states;
