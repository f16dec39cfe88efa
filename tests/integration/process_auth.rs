//! The binary's security settings as an operator meets them: a public address without TLS
//! and an auth file is refused in one line, and tokens made by `relledger token create` open
//! the server until `token revoke` and SIGHUP close it again.

use std::process::Stdio;

use relledger::api::proto::ledger_client::LedgerClient;
use relledger::api::proto::AppendRequest;
use relledger::cli::ClientArgs;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

use crate::common::binary::BIN;
use crate::common::events::opening;

/// A server started with `args`, its URL, and its stderr to wait for log lines on.
async fn serve(args: &[&str]) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next_line()
        .await
        .unwrap()
        .expect("a ready line");
    let address = line.strip_prefix("relledger listening on ").unwrap();
    let port = address.rsplit(':').next().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, format!("http://127.0.0.1:{port}"), stderr)
}

/// Reads `stderr` until a line holds `text`; the server's own log says it happened.
async fn wait_for_line(stderr: &mut Lines<BufReader<ChildStderr>>, text: &str) -> String {
    while let Some(line) = stderr.next_line().await.unwrap() {
        if line.contains(text) {
            return line;
        }
    }
    panic!("the server exited before logging {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_address_without_tls_and_an_auth_file_is_refused_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir", data_dir])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "a refused server announces no address"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for flag in ["--tls-cert", "--tls-key", "--auth-file", "--insecure"] {
        assert!(
            errors[0].contains(flag),
            "{flag} missing from {}",
            errors[0]
        );
    }
    assert!(
        !dir.path().join("log").exists(),
        "a refused server opened the data dir"
    );

    let (_child, url, mut stderr) = serve(&[
        "--listen",
        "0.0.0.0:0",
        "--data-dir",
        data_dir,
        "--insecure",
    ])
    .await;
    wait_for_line(&mut stderr, "INSECURELY").await;
    let mut client = LedgerClient::connect(url).await.unwrap();
    assert!(client
        .append(AppendRequest {
            account_id: "north-1".into(),
            expected_revision: None,
            events: opening("Acme"),
        })
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_token_create_opens_the_server_until_it_is_revoked_and_sighup_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let auth_file = dir.path().join("auth.json");
    let auth = auth_file.to_str().unwrap();
    let created = Command::new(BIN)
        .args(["token", "create", "--auth-file", auth, "--name", "etl"])
        .args(["--role", "writer", "--role", "reader"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("rlt_"), "{token}");
    let file = std::fs::read_to_string(&auth_file).unwrap();
    assert!(
        !file.contains(&token),
        "the auth file holds the token in clear"
    );

    let data_dir = dir.path().join("data");
    let (child, url, mut stderr) = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--auth-file",
        auth,
    ])
    .await;
    let channel = ClientArgs::plain(&url)
        .with_token(&token)
        .connect()
        .await
        .unwrap();
    LedgerClient::new(channel)
        .append(AppendRequest {
            account_id: "north-1".into(),
            expected_revision: None,
            events: opening("Acme"),
        })
        .await
        .unwrap();

    let read = |token: Option<&str>| {
        let mut command = Command::new(BIN);
        command
            .args(["read", "--server", &url])
            .env_remove("RELLEDGER_TOKEN");
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command.output()
    };
    let allowed = read(Some(&token)).await.unwrap();
    assert!(allowed.status.success(), "{allowed:?}");
    assert_eq!(String::from_utf8_lossy(&allowed.stdout).lines().count(), 2);
    let anonymous = read(None).await.unwrap();
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("UNAUTHENTICATED"));

    let revoked = Command::new(BIN)
        .args(["token", "revoke", "--auth-file", auth, "--token", &token])
        .status()
        .await
        .unwrap();
    assert!(revoked.success());
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    wait_for_line(&mut stderr, "auth file reloaded").await;
    let refused = read(Some(&token)).await.unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("UNAUTHENTICATED"), "{message}");
    // The refusal is logged at WARN with the peer's address, and the token nowhere.
    let mut child = child;
    child.kill().await.unwrap();
    let mut rest = Vec::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        rest.push(line);
    }
    let refusal = rest
        .iter()
        .find(|line| line.contains("refused a request"))
        .expect("a WARN line for the revoked token");
    assert!(
        refusal.contains("WARN") && refusal.contains("127.0.0.1"),
        "{refusal}"
    );
    assert!(rest.iter().all(|line| !line.contains(&token)));
}
