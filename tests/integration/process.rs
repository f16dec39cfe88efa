//! The `relledger` binary as an operator runs it: kill -9 during concurrent appends loses no
//! acknowledged event, SIGTERM shuts down cleanly, a locked data dir is refused in one line, and
//! the `append` / `read` client subcommands work against a running server.

use crate::common;
use crate::common::binary::{health, sigterm, spawn_serve, spawn_server, BIN};
use crate::common::raw_log;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::events::*;
use futures::TryStreamExt;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::proposed_event::Payload;
use relledger::api::proto::{AppendRequest, ReadAllRequest};
use relledger::store::file::FileLog;
use relledger::store::{Direction, Log, ReadAllFilter};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// The event ids of one batch a writer sent, and whether the server acknowledged it.
type SentBatch = (Vec<String>, bool);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_appends_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_server(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();

    let batches: Arc<Mutex<Vec<SentBatch>>> = Arc::default();
    let (enough_tx, mut enough_rx) = tokio::sync::mpsc::channel::<()>(64);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let mut client = LedgerClient::new(channel.clone());
            let batches = batches.clone();
            let enough = enough_tx.clone();
            tokio::spawn(async move {
                let account = format!("acct-{w}");
                let mut next = opening(&account);
                for round in 0.. {
                    let ids: Vec<String> = next.iter().map(|e| e.event_id.clone()).collect();
                    let index = {
                        let mut batches = batches.lock().unwrap();
                        batches.push((ids, false));
                        batches.len() - 1
                    };
                    let request = AppendRequest {
                        account_id: account.clone(),
                        expected_revision: None,
                        events: next,
                    };
                    if client.append(request).await.is_err() {
                        return; // the server is gone
                    }
                    batches.lock().unwrap()[index].1 = true;
                    if round % 10 == 9 {
                        let _ = enough.try_send(());
                    }
                    next = (0..3)
                        .map(|i| event(10 + round * 3 + i, visit(&["c1"])))
                        .collect();
                }
            })
        })
        .collect();
    drop(enough_tx);
    // Kill once the writers have had 40 rounds acknowledged between them, mid-stream.
    for _ in 0..4 {
        enough_rx.recv().await.expect("writers make progress");
    }
    child.start_kill().expect("SIGKILL");
    child.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }

    let log = FileLog::open(dir.path()).expect("the data dir reopens after kill -9");
    let records: Vec<_> = log
        .read_all(None, Direction::Forwards, None, ReadAllFilter::default())
        .try_collect()
        .await
        .unwrap();
    let stored: BTreeSet<String> = records
        .iter()
        .map(|r| r.event.event_id.to_string())
        .collect();
    assert_eq!(stored.len(), records.len(), "no event is stored twice");
    let batches = batches.lock().unwrap().clone();
    let acknowledged = batches.iter().filter(|(_, acked)| *acked).count();
    assert!(acknowledged >= 40);
    for (ids, acked) in &batches {
        let present = ids.iter().filter(|id| stored.contains(*id)).count();
        if *acked {
            assert_eq!(
                present,
                ids.len(),
                "every acknowledged event survives kill -9"
            );
        } else {
            assert!(
                present == 0 || present == ids.len(),
                "a batch is all or none, never half-written"
            );
        }
    }
    assert_eq!(
        log.verify().expect("the hash chain verifies after kill -9"),
        records.len() as u64
    );
    let mut per_account: BTreeMap<_, Vec<u64>> = BTreeMap::new();
    for r in &records {
        per_account
            .entry(r.account_id.clone())
            .or_default()
            .push(r.revision);
    }
    for revisions in per_account.values() {
        assert!(
            revisions.iter().copied().eq(0..revisions.len() as u64),
            "revisions stay gapless"
        );
    }
}

/// Starts a server on `data_dir` and opens one account (two events) through it.
async fn server_with_one_account(data_dir: &Path) -> Child {
    let (child, url) = spawn_server(data_dir).await;
    let mut client = LedgerClient::connect(url).await.unwrap();
    let request = AppendRequest {
        account_id: "acme".into(),
        expected_revision: None,
        events: opening("Acme"),
    };
    client.append(request).await.unwrap();
    child
}

/// The lines of a failed `serve` on `data_dir` that start with `error:`.
async fn refusal(data_dir: &Path) -> Vec<String> {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .output()
        .await
        .unwrap();
    assert!(
        !out.status.success(),
        "the server must refuse {}",
        data_dir.display()
    );
    assert!(
        out.stdout.is_empty(),
        "a refused server announces no address"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_a_locked_dir_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let child = server_with_one_account(dir.path()).await;
    let errors = refusal(dir.path()).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("locked"), "{errors:?}");
    sigterm(child).await;

    let (_child, url) = spawn_server(dir.path()).await;
    let mut client = LedgerClient::connect(url).await.unwrap();
    let records: Vec<_> = client
        .read_all(ReadAllRequest::default())
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        records.len(),
        2,
        "everything acknowledged before SIGTERM is there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_configures_the_server_as_its_flags_do() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("from-the-environment");
    let (child, url) = spawn_serve(|serve| {
        serve
            .env("RELLEDGER_LISTEN", "127.0.0.1:0")
            .env("RELLEDGER_DATA_DIR", &data_dir)
            .env("RELLEDGER_CURRENCY", "EUR");
    })
    .await;
    let mut client = LedgerClient::connect(url).await.unwrap();
    let append = |events| AppendRequest {
        account_id: "acme".into(),
        expected_revision: None,
        events,
    };
    client.append(append(opening("Acme"))).await.unwrap();
    // The ledger's currency is the environment's: a cost in the default (CNY) is refused.
    let mut cost = event(10, relationship_cost(5_000));
    let refused = client.append(append(vec![cost.clone()])).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("EUR"), "{refused:?}");
    if let Some(Payload::RelationshipCost(c)) = cost.payload.as_mut() {
        c.amount.as_mut().unwrap().currency = "EUR".into();
    }
    client.append(append(vec![cost])).await.unwrap();
    sigterm(child).await;
    assert!(
        data_dir.join("log").join("records").exists(),
        "the log is in the environment's data dir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_whose_log_was_lost_or_cut_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    sigterm(server_with_one_account(dir.path()).await).await;

    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    std::fs::remove_dir_all(relledger::store::sled::sled_path(copy.path())).unwrap();
    let errors = refusal(copy.path()).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("corrupt") && errors[0].contains("missing or empty"),
        "{errors:?}"
    );

    // The last record cut off the end of the record files.
    let values = raw_log::stored_values(dir.path());
    raw_log::rewrite(dir.path(), &values[..values.len() - 1]);
    let errors = refusal(dir.path()).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("lost or changed"), "{errors:?}");
}

/// Copies a data dir (flat files and one level of subdirectories deep, as sled lays it out).
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_append_and_read_subcommands_round_trip_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, url) = spawn_server(dir.path()).await;
    let input = r#"{"eventId":"6f1c2a4e-3b7d-4c1e-9a0b-1d2e3f405162","occurredAt":"2026-11-02T09:00:00Z","actor":"li.wei","accountOpened":{"name":"Harbour Construction","segment":"ACCOUNT_SEGMENT_KEY","owner":"li.wei"}}
{"occurredAt":"2026-11-02T09:05:00Z","actor":"li.wei","contactAdded":{"contactId":"c-zhang","name":"Zhang Wei","role":"CONTACT_ROLE_DECISION_MAKER"}}
"#;
    let mut append = Command::new(BIN)
        .args([
            "append",
            "--server",
            &url,
            "--account",
            "harbour",
            "--expected",
            "no-stream",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    append
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .await
        .unwrap();
    let out = append.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response["lastRevision"],
        serde_json::json!("1"),
        "{response}"
    );

    let out = Command::new(BIN)
        .args(["read", "--server", &url, "--account", "harbour"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["event"]["eventId"],
        "6f1c2a4e-3b7d-4c1e-9a0b-1d2e3f405162"
    );
    assert_eq!(lines[1]["event"]["contactAdded"]["name"], "Zhang Wei");
    assert_eq!(lines[1]["eventType"], "contact_added");

    let out = Command::new(BIN)
        .args([
            "append",
            "--server",
            &url,
            "--account",
            "harbour",
            "--expected",
            "no-stream",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "an empty batch is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_recomputes_the_projections_of_a_stopped_server_and_reports_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let child = server_with_one_account(dir.path()).await;
    let busy = Command::new(BIN)
        .args(["rebuild", "--data-dir"])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        !busy.status.success(),
        "a running server's data dir is not rebuilt under it"
    );
    assert!(String::from_utf8_lossy(&busy.stderr).contains("locked"));
    sigterm(child).await;

    let report = common::binary::run_on_data_dir("rebuild", dir.path()).await;
    assert!(report.contains("of 1 accounts from 2 events"), "{report}");
    assert!(report.contains("events/s"), "{report}");
}

/// An expected revision of exactly `revision`, or of no stream.
fn expecting(kind: relledger::api::proto::expected_revision::Kind) -> AppendRequest {
    AppendRequest {
        account_id: "harbour".into(),
        expected_revision: Some(relledger::api::proto::ExpectedRevision { kind: Some(kind) }),
        events: Vec::new(),
    }
}

/// The event ids of `harbour`'s stream, read through a running server.
async fn harbour_ids(client: &mut LedgerClient<tonic::transport::Channel>) -> Vec<String> {
    client
        .read_stream(relledger::api::proto::ReadStreamRequest {
            account_id: "harbour".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .map_ok(|record| record.event.unwrap().event_id)
        .try_collect()
        .await
        .unwrap()
}

/// A promise made and the order it won, appended together; and ten calls of about 3 KB.
fn torn_batches() -> [Vec<relledger::api::proto::ProposedEvent>; 2] {
    let long_call = || {
        Payload::Call(relledger::api::proto::Call {
            contact_id: "c1".into(),
            summary: "the pour schedule of the pier foundations, line by line; ".repeat(50),
        })
    };
    [
        vec![
            event(10, promise_made("p-mix", "c1")),
            event(11, order_won("o-piers", 1_200_000, 180_000)),
        ],
        (0..10).map(|i| event(20 + i, long_call())).collect(),
    ]
}

/// kill -9, then the record file cut inside the last frame of the last batch (what a power
/// loss leaves when only a group's first pages reached the device): the restarted server holds
/// none of the batch, and the client's retry with the same event ids is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_a_crash_tore_is_dropped_whole_and_its_retry_is_appended() {
    use relledger::api::proto::expected_revision::Kind;
    for batch in torn_batches() {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, url) = spawn_server(dir.path()).await;
        let mut client = LedgerClient::connect(url).await.unwrap();
        let opening = opening("Harbour Construction");
        let opened: Vec<String> = opening.iter().map(|e| e.event_id.clone()).collect();
        let mut open = expecting(Kind::NoStream(Default::default()));
        open.events = opening;
        client.append(open).await.unwrap();
        let mut torn = expecting(Kind::Exact(1));
        torn.events = batch.clone();
        client.append(torn.clone()).await.unwrap();
        child.start_kill().expect("SIGKILL");
        child.wait().await.unwrap();
        let last = 2 + batch.len() as u64 - 1;
        raw_log::cut_records(dir.path(), raw_log::frame_end(dir.path(), last) - 5);

        let (child, url) = spawn_server(dir.path()).await;
        let mut client = LedgerClient::connect(url).await.unwrap();
        assert_eq!(harbour_ids(&mut client).await, opened, "none of the batch");
        let retried = client.append(torn).await.unwrap().into_inner();
        assert!(!retried.duplicate, "the retry is appended, not refused");
        assert_eq!((retried.first_revision, retried.first_position), (2, 2));
        let mut all = opened.clone();
        all.extend(batch.iter().map(|e| e.event_id.clone()));
        assert_eq!(harbour_ids(&mut client).await, all);
        sigterm(child).await;
        let log = FileLog::open(dir.path()).unwrap();
        assert_eq!(log.verify(), Ok(all.len() as u64), "the chain verifies");
    }
}

/// The size of the largest file in `dir` (and below it) other than the record file.
fn largest_file_but_the_records(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let size = if entry.file_type().unwrap().is_dir() {
            largest_file_but_the_records(&entry.path())
        } else if entry.file_name() == "records" {
            0
        } else {
            entry.metadata().unwrap().len()
        };
        largest = largest.max(size);
    }
    largest
}

/// A write a full disk cuts short (here the file-size limit, which the kernel enforces the
/// same way, mid-write): the server refuses appends and says NOT_SERVING, reads go on, and
/// after a restart with room again the log is whole, the chain verifies and the retry of the
/// refused batch is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_a_full_disk_cuts_short_refuses_appends_keeps_reads_and_loses_nothing() {
    use relledger::api::proto::expected_revision::Kind;
    use rustix::process::{prlimit, Pid, Resource, Rlimit};
    use tonic_health::pb::health_check_response::ServingStatus;

    let dir = tempfile::tempdir().unwrap();
    let (child, url) = spawn_server(dir.path()).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    let mut open = expecting(Kind::NoStream(Default::default()));
    open.events = opening("Harbour Construction");
    client.append(open).await.unwrap();
    // A log larger than anything else the server writes (its database, index runs), so that
    // the limit below is met by the record file first.
    let [_, ten_calls] = torn_batches();
    // Ten calls of about 3 KB, with fresh ids, dated from minute `first`.
    let batch = |first: i64| {
        let mut append = expecting(Kind::Any(Default::default()));
        append.events = (0..10)
            .map(|i| event(first + i, ten_calls[0].payload.clone().unwrap()))
            .collect();
        append
    };
    let mut acknowledged = harbour_ids(&mut client).await;
    for _ in 0..200 {
        let calls = batch(100);
        acknowledged.extend(calls.events.iter().map(|e| e.event_id.clone()));
        client.append(calls).await.unwrap();
    }
    // Room for one more batch of ten calls (about 30 KB) and half of the next.
    let head = acknowledged.len() as u64;
    let limit = raw_log::frame_end(dir.path(), head - 1) + 45 * 1024;
    let largest_other = largest_file_but_the_records(dir.path());
    assert!(
        largest_other < limit,
        "{largest_other} bytes, limit {limit}"
    );
    let pid = Pid::from_raw(child.id().unwrap() as i32);
    prlimit(
        pid,
        Resource::Fsize,
        Rlimit {
            current: Some(limit),
            maximum: None,
        },
    )
    .unwrap();

    let fits = batch(1_000);
    client.append(fits.clone()).await.unwrap();
    acknowledged.extend(fits.events.iter().map(|e| e.event_id.clone()));
    let cut_short = batch(2_000);
    let refused = client.append(cut_short.clone()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    // Part of the batch reached the file before the write failed.
    let records = relledger::store::file::log_path(dir.path()).join("records");
    assert!(
        std::fs::metadata(records).unwrap().len() >= limit,
        "the write was cut at the limit"
    );

    let later = client.append(batch(3_000)).await.unwrap_err();
    assert_eq!(later.code(), tonic::Code::Unavailable, "{later:?}");
    assert!(later.message().contains("restart"), "{later:?}");
    assert_eq!(harbour_ids(&mut client).await, acknowledged, "reads go on");
    for service in ["relledger.v1.Ledger", ""] {
        assert_eq!(
            health(&url, service).await,
            ServingStatus::NotServing as i32,
            "{service:?}"
        );
    }
    assert_eq!(
        health(&url, "relledger.v1.Relationships").await,
        ServingStatus::Serving as i32
    );
    sigterm(child).await;

    // Room again: the torn batch is gone whole, and its retry is appended.
    let (child, url) = spawn_server(dir.path()).await;
    let mut client = LedgerClient::connect(url.clone()).await.unwrap();
    assert_eq!(health(&url, "").await, ServingStatus::Serving as i32);
    assert_eq!(harbour_ids(&mut client).await, acknowledged);
    let retried = client.append(cut_short.clone()).await.unwrap().into_inner();
    assert!(!retried.duplicate);
    assert_eq!(retried.first_position, acknowledged.len() as u64);
    acknowledged.extend(cut_short.events.iter().map(|e| e.event_id.clone()));
    assert_eq!(harbour_ids(&mut client).await, acknowledged);
    sigterm(child).await;
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(
        log.verify(),
        Ok(acknowledged.len() as u64),
        "the chain verifies"
    );
}
