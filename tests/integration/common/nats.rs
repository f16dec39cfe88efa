//! NATS JetStream servers for the tests of the replicated log: a cluster of nodes on
//! 127.0.0.1, each with its own client and cluster port and its store in a temp dir, with
//! every write synced (`sync_interval: always`). The servers are killed when dropped.
//!
//! The binary is `scripts/nats-server.sh`'s: an installed nats-server 2.10 or later, or one it
//! installs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use relledger::store::jetstream::{JetStreamLog, JetStreamOptions};
use relledger::store::FileLog;

/// The nats-server binary, found or installed once per test process.
pub fn nats_server() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nats-server.sh");
        let output = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/nats-server.sh");
        assert!(
            output.status.success(),
            "scripts/nats-server.sh found no nats-server 2.10 or later and could not install one"
        );
        let path = String::from_utf8(output.stdout).expect("a path");
        PathBuf::from(path.trim())
    })
}

/// A free port of 127.0.0.1 at the time of asking.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Node {
    config: PathBuf,
    child: Option<Child>,
}

/// A JetStream cluster on 127.0.0.1 (one node is a cluster of one).
pub struct Nats {
    nodes: Vec<Node>,
    /// Each node's client URL.
    pub urls: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// A cluster of `size` nodes, JetStream ready on each.
    pub async fn cluster(size: usize) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let clients: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for i in 0..size {
            let store = dir.path().join(format!("n{i}"));
            let mut config = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
                clients[i],
                store.display()
            );
            if size > 1 {
                let peers: Vec<String> = routes
                    .iter()
                    .map(|p| format!("nats-route://127.0.0.1:{p}"))
                    .collect();
                config.push_str(&format!(
                    "cluster {{\n  name: relledger-test\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                    routes[i],
                    peers.join(", ")
                ));
            }
            let path = dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, config).unwrap();
            nodes.push(Node {
                config: path,
                child: None,
            });
        }
        let mut nats = Nats {
            nodes,
            urls: clients
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect(),
            _dir: dir,
        };
        for i in 0..size {
            nats.start(i);
        }
        nats.ready().await;
        nats
    }

    /// Starts node `i` (again).
    pub fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is running");
        node.child = Some(
            Command::new(nats_server())
                .arg("-c")
                .arg(&node.config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nats-server"),
        );
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The client URLs, comma-separated, as `--store` takes them.
    pub fn store(&self) -> String {
        self.urls.join(",")
    }

    /// Options for a stream held by every node.
    pub fn options(&self) -> JetStreamOptions {
        let mut options = JetStreamOptions::parse(&self.store()).unwrap();
        options.replicas = self.nodes.len();
        options
    }

    /// Waits until JetStream answers on every running node: the cluster has a meta leader.
    pub async fn ready(&self) {
        for (i, url) in self.urls.iter().enumerate() {
            if self.nodes[i].child.is_none() {
                continue;
            }
            let started = std::time::Instant::now();
            loop {
                let answered = async {
                    let client = async_nats::connect(url.as_str()).await.ok()?;
                    async_nats::jetstream::new(client)
                        .query_account()
                        .await
                        .ok()
                };
                if tokio::time::timeout(Duration::from_secs(2), answered)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "JetStream at {url} is not ready after 60 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// A replica's log on this cluster, with its own copy in `dir`.
    pub async fn replica(&self, dir: &Path) -> JetStreamLog {
        let local = FileLog::open(dir).unwrap();
        JetStreamLog::open(local, &self.options()).await.unwrap()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
