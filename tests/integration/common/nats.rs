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
    /// Set once the running process logged that it is ready (see [`ready_line`]).
    ready: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Whether a line of nats-server's log says the node is ready: a lone server once it serves,
/// a cluster's node once it knows the JetStream metadata leader (itself or another), which
/// creating a replicated stream needs.
fn ready_line(line: &str, clustered: bool) -> bool {
    if clustered {
        line.contains("metadata leader") && !line.contains("no metadata leader")
    } else {
        line.contains("Server is ready")
    }
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
                ready: None,
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
        let clustered = self.nodes.len() > 1;
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is running");
        let mut child = Command::new(nats_server())
            .arg("-c")
            .arg(&node.config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        // The log is read to its end (so the server never blocks on a full pipe), and tells
        // when the node is ready.
        let log = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
                if ready_line(&line, clustered) {
                    ready_tx.send_replace(true);
                }
            }
        });
        node.child = Some(child);
        node.ready = Some(ready);
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nodes[i].ready = None;
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

    /// Waits until every running node has logged that it is ready (see [`ready_line`]).
    pub async fn ready(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(ready) = &node.ready else { continue };
            let mut ready = ready.clone();
            let waited = tokio::time::timeout(Duration::from_secs(60), ready.wait_for(|r| *r))
                .await
                .map(|r| r.is_ok());
            match waited {
                Ok(true) => {}
                Ok(false) => panic!("nats-server node {i} ended before it was ready"),
                Err(_) => panic!("nats-server node {i} is not ready after 60 s"),
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
