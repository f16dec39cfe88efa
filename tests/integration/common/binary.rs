//! The `relledger` binary as an operator runs it: starting `serve` on port 0, stopping it with
//! SIGTERM, and asking its health service.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

/// The binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_relledger");

/// Starts `relledger serve` on port 0 and reads the bound address from its first stdout line.
pub async fn spawn_server(data_dir: &Path) -> (Child, String) {
    spawn_serve(|serve| {
        serve
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir);
    })
    .await
}

/// Starts `relledger serve` configured by `configure` (flags, environment), and reads the
/// bound address from its first stdout line.
pub async fn spawn_serve(configure: impl FnOnce(&mut Command)) -> (Child, String) {
    let (child, mut lines) = spawn_serve_saying(1, configure).await;
    let address = lines
        .remove(0)
        .strip_prefix("relledger listening on ")
        .expect("ready line format")
        .to_string();
    (child, format!("http://{address}"))
}

/// Starts `relledger serve` configured by `configure`, and reads its first `lines` stdout
/// lines (the bound address, then the metrics endpoint's with `--metrics-listen`).
pub async fn spawn_serve_saying(
    lines: usize,
    configure: impl FnOnce(&mut Command),
) -> (Child, Vec<String>) {
    let mut serve = Command::new(BIN);
    serve.arg("serve");
    configure(&mut serve);
    let mut child = serve
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn relledger serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = Vec::with_capacity(lines);
    for _ in 0..lines {
        said.push(stdout.next_line().await.unwrap().expect("a line on stdout"));
    }
    (child, said)
}

/// Runs the operator command `subcommand --data-dir data_dir` (`verify`, `rebuild`) on a stopped
/// server's dir, checks that it succeeds, and returns what it printed.
pub async fn run_on_data_dir(subcommand: &str, data_dir: &Path) -> String {
    let out = Command::new(BIN)
        .args([subcommand, "--data-dir"])
        .arg(data_dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "relledger {subcommand}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sends SIGTERM and checks that the server exits cleanly.
pub async fn sigterm(child: Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait_with_output().await.unwrap();
    assert!(
        exit.status.success(),
        "SIGTERM is a clean shutdown: {:?}",
        exit.status
    );
}

/// The health of `service` ("" for the server as a whole), as a probe sees it.
pub async fn health(url: &str, service: &str) -> i32 {
    health_client(url)
        .await
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Waits until `service` ("" for the server as a whole) reports `status`, following the health
/// service's `Watch` stream, so that no clock decides when the server has reported it.
pub async fn health_becomes(url: &str, service: &str, status: ServingStatus) {
    let mut updates = health_client(url)
        .await
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(update) = updates.message().await.unwrap() {
        if update.status == status as i32 {
            return;
        }
    }
    panic!("the health watch of {service:?} ended before it reported {status:?}");
}

async fn health_client(url: &str) -> HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}
