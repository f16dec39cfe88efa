//! How a bench binary tells a measurement from a check, shared by the plain-binary benches
//! (`#[path]`-included).
//!
//! `cargo bench` passes `--bench`. `cargo test` runs the same binaries without it (Cargo.toml
//! gives them `test = true`), and then every knob takes a small value of its own, whatever the
//! environment says: a check that the bench still runs and its own assertions hold, within a
//! time limit; no figure is judged.

use std::future::Future;
use std::time::Duration;

/// Whether this run is a measurement (`cargo bench`), not a check (`cargo test`).
pub fn benching() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// The knob `name` from the environment (`default` when unset) when benching; `in_test` under
/// `cargo test`.
#[allow(dead_code)] // the comparison reads its knobs otherwise
pub fn knob(name: &str, default: u64, in_test: u64) -> u64 {
    if !benching() {
        return in_test;
    }
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `bench` as a measurement, or as a check that must finish within `limit` (a stream
/// that never delivers would otherwise wait for ever) and then prints `checked`.
#[allow(dead_code)] // the comparison's check is a run of its own
pub async fn measure_or_check(bench: impl Future<Output = ()>, limit: Duration, checked: &str) {
    if benching() {
        bench.await;
    } else {
        tokio::time::timeout(limit, bench)
            .await
            .expect("the bench's short run under cargo test did not finish in time");
        println!("{checked}");
    }
}
