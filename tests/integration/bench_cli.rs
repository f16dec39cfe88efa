//! `relledger bench` as a user runs it: the built binary, a server it starts itself on a temp
//! dir, and its JSON report. Counts and orderings only: no timing assertions.

use std::process::Command;

use serde_json::Value;

/// Runs `relledger bench ARGS --json` and parses its report.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_relledger"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("run relledger bench");
    assert!(
        output.status.success(),
        "relledger bench {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

fn u(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {report}"))
}

/// p50 <= p90 <= p99 <= p99.9 <= max, and one sample per call.
fn assert_percentiles_ordered(latency: &Value, samples: u64) {
    let p = |name: &str| latency[name].as_f64().unwrap_or_else(|| panic!("{name}"));
    assert!(p("p50") <= p("p90"), "{latency}");
    assert!(p("p90") <= p("p99"), "{latency}");
    assert!(p("p99") <= p("p99.9"), "{latency}");
    assert!(p("p99.9") <= p("max"), "{latency}");
    assert_eq!(latency["samples"].as_u64(), Some(samples), "{latency}");
}

#[test]
fn append1_with_a_request_budget_counts_every_call() {
    let report = bench(&["--requests", "200", "--clients", "4"]);
    assert_eq!(report["workload"], "append1");
    assert_eq!(report["server"], "self-started");
    assert_eq!(u(&report, "requests"), 200);
    assert_eq!(u(&report, "errors"), 0, "{report}");
    assert_eq!(u(&report, "conflicts"), 0);
    assert_eq!(u(&report, "ok"), 200);
    assert_eq!(u(&report, "events"), 200);
    assert_percentiles_ordered(&report["latency_ms"], 200);
}

#[test]
fn append10_appends_ten_events_per_call() {
    let report = bench(&[
        "--workload",
        "append10",
        "--requests",
        "40",
        "--clients",
        "3",
    ]);
    assert_eq!(u(&report, "requests"), 40);
    assert_eq!(u(&report, "errors"), 0, "{report}");
    assert_eq!(u(&report, "events"), 400);
    assert_percentiles_ordered(&report["latency_ms"], 40);
}

#[test]
fn contention_counts_conflicts_and_successes_match_the_streams_read_back() {
    // Eight clients on one hot account, released together: the first round alone conflicts.
    let report = bench(&[
        "--workload",
        "contention",
        "--requests",
        "200",
        "--clients",
        "8",
        "--hot-accounts",
        "1",
    ]);
    assert_eq!(u(&report, "errors"), 0, "{report}");
    assert!(u(&report, "conflicts") > 0, "{report}");
    assert_eq!(
        u(&report, "ok") + u(&report, "conflicts"),
        u(&report, "requests")
    );
    assert_eq!(u(&report, "requests"), 200);
    let opening = u(&report, "opening_events_per_account");
    let hot = report["hot_accounts"].as_array().expect("hot_accounts");
    assert_eq!(hot.len(), 1);
    let appended: u64 = hot
        .iter()
        .map(|a| a["final_revision"].as_u64().unwrap() + 1 - opening)
        .sum();
    assert_eq!(u(&report, "ok"), appended, "{report}");
    assert_percentiles_ordered(&report["latency_ms"], 200);
}

#[test]
fn read_and_subscribe_complete_their_budgets() {
    let read = bench(&[
        "--workload",
        "read",
        "--requests",
        "20",
        "--clients",
        "2",
        "--accounts",
        "4",
    ]);
    assert_eq!(u(&read, "requests"), 20);
    assert_eq!(u(&read, "ok"), 20, "{read}");

    let subscribe = bench(&[
        "--workload",
        "subscribe",
        "--requests",
        "50",
        "--clients",
        "2",
        "--subscribers",
        "3",
        "--rate",
        "500",
    ]);
    assert_eq!(u(&subscribe, "ok"), 50, "{subscribe}");
    assert_eq!(u(&subscribe, "deliveries"), 150, "{subscribe}");
    assert_eq!(u(&subscribe, "missing_deliveries"), 0);
    assert_percentiles_ordered(&subscribe["delivery_latency_ms"], 150);
}

#[test]
fn a_duration_bounds_the_run_and_the_table_is_the_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_relledger"))
        .args(["bench", "--duration", "0.3", "--clients", "2"])
        .output()
        .expect("run relledger bench");
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("latency p99 / p99.9"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("errors ")), "{table}");
}
