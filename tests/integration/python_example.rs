//! examples/python against a real server, in a throwaway virtualenv: the analytics consumer,
//! killed midway and started again, stores every event exactly once; the report lists the
//! partners and friends the server lists.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use relledger::api::proto::relationships_client::RelationshipsClient;
use relledger::api::proto::{self, ContactRole, ListRelationshipsRequest, Quadrant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common::events::{
    account_opened, contact_added, event_on, introduction, on_day, order_won, promise_due,
    promise_kept, visit,
};
use crate::common::TestServer;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python")
}

/// Runs `command` to success, or fails the test with what it printed.
async fn run(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A virtualenv in `dir` with the example's requirements and its generated modules; its
/// python.
async fn virtualenv(dir: &Path) -> PathBuf {
    run(
        Command::new("python3").args(["-m", "venv"]).arg(dir),
        "python3 -m venv",
    )
    .await;
    let python = dir.join("bin/python");
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(example_dir().join("requirements.txt")),
        "pip install -r examples/python/requirements.txt",
    )
    .await;
    run(
        Command::new(&python).arg(example_dir().join("generate.py")),
        "generate.py",
    )
    .await;
    python
}

/// A partner, as docs/domain.md tells one: an introduced decision maker visited every three
/// weeks for a year, promises kept, orders won.
fn partner() -> Vec<proto::ProposedEvent> {
    let mut events = vec![
        event_on(-400, account_opened("Contractor B")),
        event_on(-400, contact_added("boss", ContactRole::DecisionMaker)),
        event_on(-400, introduction("boss")),
    ];
    for day in (-380..=-2).step_by(20) {
        events.push(event_on(day, visit(&["boss"])));
    }
    for (i, day) in [-300_i64, -150].into_iter().enumerate() {
        let id = format!("pour-{i}");
        events.push(event_on(day, promise_due(&id, "boss", on_day(day + 30))));
        events.push(event_on(day + 20, promise_kept(&id)));
    }
    for (i, day) in (-360..=-10).step_by(30).enumerate() {
        events.push(event_on(
            day,
            order_won(&format!("o{i}"), 7_000_000, 840_000),
        ));
    }
    events.sort_by_key(|e| e.occurred_at.as_ref().map(|t| (t.seconds, t.nanos)));
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_consumer_resumes_after_a_kill_and_stores_each_event_once() {
    let venv = tempfile::tempdir().unwrap();
    let python = virtualenv(venv.path()).await;
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(data.path()).await;
    let address = server.address.to_string();

    // Thirty accounts of 2 to 31 events, and the partner.
    for i in 0..30_i64 {
        let mut events = vec![
            event_on(-60, account_opened(&format!("Account {i}"))),
            event_on(-60, contact_added("c1", ContactRole::User)),
        ];
        events.extend((0..i).map(|d| event_on(-59 + d, visit(&["c1"]))));
        server
            .append(&format!("acct-{i:02}"), events)
            .await
            .unwrap();
    }
    server.append("contractor-b", partner()).await.unwrap();

    // The consumer, killed once it has stored past position 200 (and acknowledged less).
    let out = tempfile::tempdir().unwrap();
    let db = out.path().join("events.sqlite");
    let consumer = || {
        let mut command = Command::new(&python);
        command
            .arg(example_dir().join("consumer.py"))
            .args(["--server", &address, "--name", "analytics"])
            .args(["--ack-every", "50", "--max-batch", "16", "--db"])
            .arg(&db);
        command
    };
    let mut first = consumer()
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let mut acknowledged = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(p) = line.strip_prefix("acknowledged ") {
            acknowledged = Some(p.parse::<u64>().unwrap());
        }
        let stored = line
            .strip_prefix("stored up to ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse::<u64>().ok());
        if stored.is_some_and(|p| p > 200) {
            break;
        }
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    // More events while it is down; then it runs again until caught up.
    for i in 0..5_i64 {
        server
            .append("acct-00", vec![event_on(-1, visit(&["c1"]))])
            .await
            .unwrap_or_else(|e| panic!("append {i}: {e:?}"));
    }
    let logged = server.read_all().await;
    let again = run(
        consumer().arg("--exit-when-caught-up"),
        "consumer.py, again",
    )
    .await;
    // It resumed after its acknowledgement, not from the start.
    let acknowledged = acknowledged.expect("the first run acknowledged a position");
    assert!(acknowledged >= 50, "acknowledged {acknowledged}");
    let resumed_at = again
        .lines()
        .find_map(|l| l.strip_prefix("stored up to "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse::<u64>().ok())
        .expect("the second run stored a batch");
    assert!(
        resumed_at > acknowledged,
        "the second run's first batch ends at {resumed_at}, at or before {acknowledged}"
    );

    let check = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        rows = db.execute('SELECT count(*), count(DISTINCT event_id), min(position), max(position) FROM events').fetchone()\n\
        print(*rows)";
    let counts = run(
        Command::new(&python).args(["-c", check]).arg(&db),
        "reading the SQLite file",
    )
    .await;
    let n = logged.len();
    assert!(n > 300, "{n} events");
    assert_eq!(counts.trim(), format!("{n} {n} 0 {}", n - 1));

    // The report: the accounts the server lists as partners and friends, with their alerts.
    let csv = out.path().join("report.csv");
    run(
        Command::new(&python)
            .arg(example_dir().join("report.py"))
            .args(["--server", &address, "--out"])
            .arg(&csv),
        "report.py",
    )
    .await;
    let mut relationships = RelationshipsClient::new(server.channel().await);
    let listed = relationships
        .list_relationships(ListRelationshipsRequest {
            quadrants: vec![Quadrant::Partner as i32, Quadrant::Friend as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let expected: Vec<String> = listed
        .relationships
        .iter()
        .map(|r| r.account_id.clone())
        .collect();
    assert_eq!(expected, ["contractor-b"]);
    let report = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = report.lines().collect();
    assert_eq!(
        rows[0],
        "account_id,name,owner,quadrant,level,trust,alert_codes,alerts"
    );
    let reported: Vec<&str> = rows[1..]
        .iter()
        .map(|row| row.split(',').next().unwrap())
        .collect();
    assert_eq!(reported, expected);
    assert!(rows[1].contains("QUADRANT_PARTNER"), "{report}");
    server.stop().await;
}
