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

/// An auth file with the principals `steady` and `flood` (writers; `flood` may append once a
/// second, with a burst of four) and `soak` (a writer and subscriber), made with `relledger
/// token create` as an operator would; returns the file and each principal's token.
fn auth_file(dir: &std::path::Path) -> (std::path::PathBuf, [String; 3]) {
    let path = dir.join("auth.json");
    let create = |name: &str, roles: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_relledger"));
        command.args(["token", "create", "--auth-file"]);
        command.arg(&path).args(["--name", name]);
        for role in roles {
            command.args(["--role", role]);
        }
        let output = command.output().expect("run relledger token create");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let tokens = [
        create("steady", &["writer"]),
        create("flood", &["writer"]),
        create("soak", &["writer", "subscriber"]),
    ];
    let mut file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for principal in file["principals"].as_array_mut().unwrap() {
        if principal["name"] == "flood" {
            principal["limits"] = serde_json::json!({"appends_per_second": 1, "append_burst": 4});
        }
    }
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    (path, tokens)
}

#[test]
fn a_self_started_server_with_an_auth_file_takes_only_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, [steady, ..]) = auth_file(dir.path());
    let auth = auth.to_str().unwrap();

    let with_token = bench(&["--auth-file", auth, "--token", &steady, "--requests", "20"]);
    assert_eq!(u(&with_token, "ok"), 20, "{with_token}");

    let without = Command::new(env!("CARGO_BIN_EXE_relledger"))
        .args(["bench", "--auth-file", auth, "--requests", "20"])
        .env_remove("RELLEDGER_TOKEN")
        .output()
        .expect("run relledger bench");
    assert!(!without.status.success());
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(stderr.contains("no credentials"), "{stderr}");
}

#[test]
fn fairness_counts_steady_in_both_phases_and_refuses_the_flood_over_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, [steady, flood, _]) = auth_file(dir.path());
    let report = bench(&[
        "--workload",
        "fairness",
        "--auth-file",
        auth.to_str().unwrap(),
        "--token",
        &steady,
        "--flood-token",
        &flood,
        "--clients",
        "2",
        "--rate",
        "500",
        "--flood-clients",
        "4",
        "--requests",
        "30",
        "--rounds",
        "2",
    ]);
    let fairness = &report["fairness"];
    // Steady's budget is per phase: 30 appends alone and 30 beside the flood, in each round.
    assert_eq!(u(&fairness["unloaded"], "ok"), 60, "{report}");
    assert_eq!(u(&fairness["loaded"], "ok"), 60, "{report}");
    assert_eq!(u(&report, "ok"), 120, "{report}");
    assert_eq!(u(&report, "errors"), 0, "{report}");
    assert_percentiles_ordered(&fairness["loaded"]["latency_ms"], 60);
    assert_eq!(fairness["per_round"].as_array().unwrap().len(), 2);
    // The flood may append once a second after a burst of four, which opening its four
    // accounts took; steady's loaded phases start once every flood client has had an answer
    // and last as long as 30 appends at 500 a second, while the flood sends back to back.
    // It was refused, and by nothing but its limit (it may have had no append accepted).
    let flood = &fairness["flood"];
    assert!(u(flood, "refused") > 0, "{report}");
    assert_eq!(flood["other_errors"], serde_json::json!({}), "{report}");
}

#[test]
fn mixed_makes_every_kind_of_call_and_its_subscriptions_receive_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, [_, _, soak]) = auth_file(dir.path());
    let report = bench(&[
        "--workload",
        "mixed",
        "--auth-file",
        auth.to_str().unwrap(),
        "--token",
        &soak,
        "--clients",
        "2",
        "--accounts",
        "4",
        "--subscribers",
        "2",
        "--requests",
        "200",
        "--report-every",
        "0.5",
    ]);
    assert_eq!(u(&report, "requests"), 200);
    assert_eq!(u(&report, "errors"), 0, "{report}");
    let mixed = &report["mixed"];
    let kinds = mixed["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 6);
    let mut total = 0;
    for kind in kinds {
        // 200 calls over two clients: one of them went at least ten times round its cycle.
        assert!(u(kind, "ok") > 0, "{kind}");
        total += u(kind, "ok");
    }
    assert_eq!(total, 200);
    let appended = u(&kinds[0], "ok");
    assert_eq!(kinds[0]["kind"], "append");
    assert_eq!(u(&report, "events"), appended);
    assert_eq!(u(mixed, "deliveries"), 2 * appended, "{report}");
    assert_eq!(u(mixed, "missing_deliveries"), 0);
    // The self-started server is this process: its memory is read from /proc.
    assert!(mixed["rss_start_mib"].as_f64().unwrap() > 0.0, "{report}");
    assert!(mixed["rss_end_mib"].as_f64().unwrap() > 0.0, "{report}");
}
