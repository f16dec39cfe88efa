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

/// What a node's log says about it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Said {
    /// The client port it listens on.
    client: Option<u16>,
    /// The route (cluster) port it listens on.
    route: Option<u16>,
    /// Whether it is ready (see [`ready_line`]).
    ready: bool,
}

struct Node {
    config: PathBuf,
    store: PathBuf,
    child: Option<Child>,
    /// What the running process has logged so far.
    said: Option<tokio::sync::watch::Receiver<Said>>,
    /// The ports it took when it first started, which a restart takes again.
    ports: Option<(u16, u16)>,
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

/// The port a "Listening for ... connections on 127.0.0.1:PORT" line names.
fn listening(line: &str, what: &str) -> Option<u16> {
    let rest = line
        .split(&format!("Listening for {what} connections on "))
        .nth(1)?;
    rest.trim().rsplit(':').next()?.parse().ok()
}

/// A node's configuration: its ports (`-1`: one the server picks), its routes and `more`
/// settings.
fn config(i: usize, store: &Path, client: i32, route: Option<(i32, &[u16])>, more: &str) -> String {
    let mut config = format!(
        "server_name: n{i}\nlisten: 127.0.0.1:{client}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n{more}\n",
        store.display()
    );
    if let Some((port, routes)) = route {
        let routes: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        config.push_str(&format!(
            "cluster {{\n  name: relledger-test\n  listen: 127.0.0.1:{port}\n  routes: [{}]\n}}\n",
            routes.join(", ")
        ));
    }
    config
}

/// A JetStream cluster on 127.0.0.1 (one node is a cluster of one).
pub struct Nats {
    nodes: Vec<Node>,
    /// Each node's client URL.
    pub urls: Vec<String>,
    /// Whether the nodes form a cluster (more than one).
    clustered: bool,
    /// Settings every node's configuration ends with.
    more: String,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// A cluster of `size` nodes, JetStream ready on each. Each node picks its own ports (no
    /// other process can take them between a pick and a start); the first is the others'
    /// seed, and once all have started each one's configuration names its ports and every
    /// route, for a restart.
    pub async fn cluster(size: usize) -> Nats {
        Nats::cluster_with(size, String::new()).await
    }

    /// A cluster of `size` nodes whose configurations end with the settings `more` (such as a
    /// `tls` block).
    pub async fn cluster_with(size: usize, more: String) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let mut nats = Nats {
            nodes: Vec::new(),
            urls: Vec::new(),
            clustered: size > 1,
            more,
            _dir: dir,
        };
        let mut seed: Vec<u16> = Vec::new();
        for i in 0..size {
            let store = nats._dir.path().join(format!("n{i}"));
            let path = nats._dir.path().join(format!("n{i}.conf"));
            nats.nodes.push(Node {
                config: path,
                store,
                child: None,
                said: None,
                ports: None,
            });
            // A cluster's JetStream needs routes even on its first node, so the seed listens
            // on a port picked here (and picked again if another process took it first); the
            // other nodes route to it, and every client port is the server's own pick.
            let said = loop {
                let route = match (size > 1, i) {
                    (false, _) => None,
                    (true, 0) => {
                        seed = vec![free_port()];
                        Some((i32::from(seed[0]), seed.as_slice()))
                    }
                    (true, _) => Some((-1, seed.as_slice())),
                };
                let node = &nats.nodes[i];
                let text = config(i, &node.store, -1, route, &nats.more);
                std::fs::write(&node.config, text).unwrap();
                nats.start(i);
                let listening = |s: &Said| s.client.is_some() && (size == 1 || s.route.is_some());
                match nats.said(i, listening).await {
                    Some(said) => break said,
                    None if i == 0 && size > 1 => nats.kill(i),
                    None => panic!("nats-server node {i} ended before it listened"),
                }
            };
            let (client, route) = (said.client.unwrap(), said.route.unwrap_or(0));
            nats.nodes[i].ports = Some((client, route));
            nats.urls.push(format!("nats://127.0.0.1:{client}"));
        }
        let routes: Vec<u16> = nats
            .nodes
            .iter()
            .filter_map(|n| n.ports)
            .map(|p| p.1)
            .collect();
        for (i, node) in nats.nodes.iter().enumerate() {
            let (client, route) = node.ports.unwrap();
            let route = (size > 1).then_some((i32::from(route), routes.as_slice()));
            let text = config(i, &node.store, i32::from(client), route, &nats.more);
            std::fs::write(&node.config, text).unwrap();
        }
        nats.ready().await;
        nats
    }

    /// Starts node `i` (again).
    pub fn start(&mut self, i: usize) {
        let clustered = self.clustered;
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
        // the node's ports and when it is ready.
        let log = child.stderr.take().expect("piped stderr");
        let (said_tx, said) = tokio::sync::watch::channel(Said::default());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
                said_tx.send_if_modified(|said| {
                    let before = *said;
                    said.client = said.client.or(listening(&line, "client"));
                    said.route = said.route.or(listening(&line, "route"));
                    said.ready |= ready_line(&line, clustered);
                    *said != before
                });
            }
        });
        node.child = Some(child);
        node.said = Some(said);
    }

    /// What node `i` has logged, once `enough` holds of it; `None` if it ended first.
    async fn said(&self, i: usize, enough: impl Fn(&Said) -> bool) -> Option<Said> {
        let mut said = self.nodes[i].said.clone().expect("node started");
        let waited = tokio::time::timeout(Duration::from_secs(60), said.wait_for(|s| enough(s)))
            .await
            .map(|said| said.map(|s| *s).ok());
        match waited {
            Ok(said) => said,
            Err(_) => panic!("nats-server node {i} did not say what was awaited in 60 s"),
        }
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nodes[i].said = None;
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
            if node.said.is_some() {
                let said = self.said(i, |s| s.ready).await;
                assert!(
                    said.is_some(),
                    "nats-server node {i} ended before it was ready"
                );
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
