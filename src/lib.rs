pub mod api;
pub mod config;
pub mod domain;
pub mod ledger;
pub mod store;
pub mod cli;
