//! The Prometheus endpoint of a real `relledger serve` (`--metrics-listen`), scraped over HTTP
//! before and after traffic: the counters and gauges move as the traffic says.

use relledger::api::proto::audit_client::AuditClient;
use relledger::api::proto::expected_revision::Kind;
use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::{
    AckSubscriptionRequest, AppendRequest, ExpectedRevision, SignCheckpointRequest,
    SubscribeRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::common::binary::spawn_serve_saying;
use crate::common::events::opening;

/// `relledger serve` with a metrics endpoint: the process, its gRPC URL and its metrics
/// address (`host:port`).
async fn serve_with_metrics(data_dir: &std::path::Path) -> (Child, String, String) {
    let (child, said) = spawn_serve_saying(2, |serve| {
        serve
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir);
    })
    .await;
    let grpc = said[0].strip_prefix("relledger listening on ").unwrap();
    let metrics = said[1]
        .strip_prefix("relledger metrics on http://")
        .and_then(|m| m.strip_suffix("/metrics"))
        .unwrap();
    (child, format!("http://{grpc}"), metrics.to_string())
}

/// `GET path` on `address`: the status line and the body.
async fn get(address: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of the series `series` (its name and labels as rendered), if scraped.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

const APPEND_OK: &str =
    r#"relledger_rpc_requests_total{service="relledger.v1.Ledger",method="Append",code="OK"}"#;
const APPEND_ABORTED: &str =
    r#"relledger_rpc_requests_total{service="relledger.v1.Ledger",method="Append",code="ABORTED"}"#;

#[tokio::test]
async fn a_scrape_shows_the_traffic_the_server_took() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, metrics) = serve_with_metrics(dir.path()).await;
    let scrape = || async { get(&metrics, "/metrics").await.1 };

    let before = scrape().await;
    assert_eq!(value(&before, APPEND_OK), None, "{before}");
    assert!(value(&before, "process_resident_memory_bytes").unwrap() > 0.0);

    // Two events in one append, then one refused for its expected revision.
    let client_channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = LedgerClient::new(client_channel.clone());
    client
        .append(AppendRequest {
            account_id: "acme".into(),
            expected_revision: None,
            events: opening("Acme"),
        })
        .await
        .unwrap();
    let stale = client
        .append(AppendRequest {
            account_id: "acme".into(),
            expected_revision: Some(ExpectedRevision {
                kind: Some(Kind::Exact(0)),
            }),
            events: opening("Acme again"),
        })
        .await;
    assert!(stale.is_err());
    // A named subscription that has processed the first record only lags by one; an
    // auditor's checkpoint of the head.
    client
        .ack_subscription(AckSubscriptionRequest {
            name: "analytics".into(),
            position: 0,
        })
        .await
        .unwrap();
    let mut audit = AuditClient::new(client_channel.clone());
    audit
        .sign_checkpoint(SignCheckpointRequest { position: None })
        .await
        .unwrap();
    // An open subscription counts while it lasts.
    let _subscription = client
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();

    let after = scrape().await;
    assert_eq!(value(&after, APPEND_OK), Some(1.0), "{after}");
    assert_eq!(value(&after, APPEND_ABORTED), Some(1.0), "{after}");
    assert_eq!(value(&after, "relledger_log_head_position"), Some(2.0));
    assert!(value(&after, "relledger_log_bytes").unwrap() > 0.0);
    assert_eq!(
        value(&after, "relledger_log_group_appends_count"),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "relledger_log_fsync_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"relledger_rpc_duration_seconds_count{service="relledger.v1.Ledger",method="Append"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&after, "relledger_subscriptions_connected"),
        Some(1.0)
    );
    // Sampled as the scrape comes: the subscription's lag, the projector's, the checkpoint.
    assert_eq!(
        value(
            &after,
            r#"relledger_subscription_lag_records{subscription="analytics"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert!(
        value(
            &after,
            r#"relledger_subscription_lag_seconds{subscription="analytics"}"#
        )
        .is_some_and(|s| s >= 0.0),
        "{after}"
    );
    assert!(value(&after, "relledger_projector_lag_records").is_some_and(|lag| lag <= 2.0));
    // The opening's contact has personal data, so a key.
    assert_eq!(value(&after, "relledger_data_keys"), Some(1.0), "{after}");
    assert_eq!(
        value(&after, "relledger_checkpoint_last_signed_position"),
        Some(1.0)
    );
    assert!(
        value(&after, "relledger_checkpoint_last_signed_timestamp_seconds")
            .is_some_and(|t| t > 1.7e9),
        "{after}"
    );
    // Histograms have buckets, so that a p99 can be taken across servers.
    assert!(
        after.contains(r#"relledger_log_fsync_seconds_bucket{le="0.01"}"#),
        "{after}"
    );

    let (status, _) = get(&metrics, "/elsewhere").await;
    assert!(status.contains("404"), "{status}");
}

/// docs/operations.md's example alert rules (its `yaml` block), as `promtool check rules`
/// judges them, and its table names every metric the server exports.
#[tokio::test]
async fn the_operations_doc_has_rules_promtool_accepts_and_every_metric() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let rules = doc
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a yaml block")
        .0;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, rules).unwrap();

    let found = Command::new(root.join("scripts/promtool.sh"))
        .output()
        .await
        .expect("run scripts/promtool.sh");
    assert!(
        found.status.success(),
        "scripts/promtool.sh: {}",
        String::from_utf8_lossy(&found.stderr)
    );
    let promtool = String::from_utf8(found.stdout).unwrap().trim().to_string();
    let checked = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        checked.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    use relledger::metrics::*;
    for name in [
        RPC_REQUESTS,
        RPC_DURATION,
        GROUP_APPENDS,
        FSYNC_DURATION,
        HEAD_POSITION,
        LOG_BYTES,
        SUBSCRIPTIONS,
        CHANGE_FEEDS,
        RESIDENT_MEMORY,
        PROJECTOR_LAG,
        SUBSCRIPTION_LAG_RECORDS,
        SUBSCRIPTION_LAG_SECONDS,
        CHECKPOINT_SIGNED,
        CHECKPOINT_POSITION,
        DATA_KEYS,
    ] {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "docs/operations.md has no row for {name}"
        );
    }
}
