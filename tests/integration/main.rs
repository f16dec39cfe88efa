//! The integration tests, one crate: a real server on 127.0.0.1:0 (or the binary itself)
//! driven through a real client, the store conformance suite run against every backend, and the
//! model-based tests. One crate links once, where a file per test would link a binary each.
//! Shared harness and builders are in `common`.

mod common;

mod abuse;
mod access;
mod api_doc;
mod audit;
mod bench_cli;
mod change_feed;
mod change_log;
mod disk_full;
mod ledger_api;
mod log_conformance;
mod log_model;
mod metrics;
mod privacy;
mod process;
mod process_auth;
mod projection_properties;
mod projector;
mod python_example;
mod relationship_changes;
mod relationship_walks;
mod relationships_api;
mod replicas;
mod scenarios;
mod slow_consumers;
mod subscriptions;
mod tls;
mod traces;
mod validation;
