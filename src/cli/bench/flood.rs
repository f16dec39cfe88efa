//! The fairness workload's flood: clients of one principal appending back to back on a
//! runtime of their own, idle between the loaded phases.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::Serialize;
use tokio::sync::watch;
use tonic_types::StatusExt as _;

use super::{code_name, connect, one_visit, BenchArgs, ClientChannel, Setup};
use crate::api::proto::ledger_client::LedgerClient;

/// What a flood client does when it is refused for being over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloodRetry {
    /// Sends the next append at once: a hostile client.
    Immediate,
    /// Waits as long as the refusal's `google.rpc.RetryInfo` says: a polite client.
    RetryInfo,
}

impl FloodRetry {
    fn name(self) -> &'static str {
        match self {
            FloodRetry::Immediate => "immediate",
            FloodRetry::RetryInfo => "retry-info",
        }
    }
}

/// What the flood did over the loaded phases.
#[derive(Debug, Clone, Serialize)]
pub struct FloodReport {
    pub clients: usize,
    /// `immediate` or `retry-info`.
    pub retry: String,
    /// Appends the server took.
    pub accepted: u64,
    /// Appends refused with RESOURCE_EXHAUSTED.
    pub refused: u64,
    /// Calls that failed otherwise, by status code.
    pub other_errors: BTreeMap<String, u64>,
    /// Seconds the flood ran: the loaded phases, from its first answers to its last.
    pub elapsed_secs: f64,
    pub accepted_per_sec: f64,
    pub refused_per_sec: f64,
}

/// The flood's runtime. A runtime may not be dropped on an async thread, where its blocking
/// pool would be waited for, so this one is shut down without waiting, on every path.
struct FloodRuntime(Option<tokio::runtime::Runtime>);

impl FloodRuntime {
    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .as_ref()
            .expect("running until dropped")
            .spawn(future)
    }
}

impl Drop for FloodRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The flood's clients, on their runtime, idle until a loaded phase starts.
pub(super) struct Flood {
    runtime: FloodRuntime,
    pub(super) clients: usize,
    /// True while the flood should send.
    pub(super) phase: watch::Sender<bool>,
    /// How many clients are sending: each counts itself in after its first answer of a phase
    /// and out when it has stopped.
    sending: watch::Receiver<usize>,
    counts: Arc<FloodCounts>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the flood's clients counted.
#[derive(Default)]
struct FloodCounts {
    accepted: AtomicU64,
    refused: AtomicU64,
    other: Mutex<BTreeMap<String, u64>>,
}

impl Flood {
    pub(super) async fn start(args: &BenchArgs, url: &str, run_id: &str) -> anyhow::Result<Flood> {
        let runtime = FloodRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("bench-flood")
                .enable_all()
                .build()
                .context("cannot start the flood's runtime")?,
        ));
        let clients = usize::try_from(args.flood_clients).context("--flood-clients")?;
        // The flood's connections live on its runtime, which drives their IO.
        let mut flood_args = args.clone();
        if let Some(token) = &args.flood_token {
            flood_args.credentials.token = Some(token.clone());
        }
        let mut channels = Vec::with_capacity(clients);
        for _ in 0..clients {
            let (args, url) = (flood_args.clone(), url.to_string());
            let channel = runtime.spawn(async move { connect(&args, &url).await });
            channels.push(channel.await.context("a flood connection task failed")??);
        }
        let setup = Setup::open(run_id, args.flood_clients, false, &channels).await?;
        let (phase, phase_rx) = watch::channel(false);
        let (sending_tx, sending) = watch::channel(0usize);
        let sending_tx = Arc::new(sending_tx);
        let counts = Arc::new(FloodCounts::default());
        let tasks = channels
            .into_iter()
            .enumerate()
            .map(|(index, channel)| {
                runtime.spawn(flood_client(
                    LedgerClient::new(channel),
                    setup.accounts_of(index, clients),
                    args.flood_retry,
                    phase_rx.clone(),
                    Arc::clone(&sending_tx),
                    Arc::clone(&counts),
                ))
            })
            .collect();
        Ok(Flood {
            runtime,
            clients,
            phase,
            sending,
            counts,
            tasks,
        })
    }

    /// Waits until `n` clients are sending.
    pub(super) async fn wait_sending(&self, n: usize) -> anyhow::Result<()> {
        let mut sending = self.sending.clone();
        sending
            .wait_for(|count| *count == n)
            .await
            .context("the flood's clients ended")?;
        Ok(())
    }

    /// Ends the flood's clients and reports what they did over `secs` seconds of flooding.
    pub(super) async fn finish(self, retry: FloodRetry, secs: f64) -> anyhow::Result<FloodReport> {
        drop(self.phase);
        for task in self.tasks {
            task.await.context("a flood client failed")?;
        }
        // Its clients are done: the runtime goes, its threads stopped without waiting.
        drop(self.runtime);
        let accepted = self.counts.accepted.load(Ordering::Relaxed);
        let refused = self.counts.refused.load(Ordering::Relaxed);
        let other_errors = self
            .counts
            .other
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let secs_or_tiny = secs.max(f64::EPSILON);
        Ok(FloodReport {
            clients: self.clients,
            retry: retry.name().to_string(),
            accepted,
            refused,
            other_errors,
            elapsed_secs: secs,
            accepted_per_sec: accepted as f64 / secs_or_tiny,
            refused_per_sec: refused as f64 / secs_or_tiny,
        })
    }
}

/// One flood client: in every loaded phase, one-event appends back to back until the phase
/// ends; it makes at least one call per phase, so that every client is counted in.
async fn flood_client(
    mut ledger: LedgerClient<ClientChannel>,
    accounts: Vec<String>,
    retry: FloodRetry,
    mut phase: watch::Receiver<bool>,
    sending: Arc<watch::Sender<usize>>,
    counts: Arc<FloodCounts>,
) {
    let mut n = 0usize;
    while phase.wait_for(|on| *on).await.is_ok() {
        let mut first = true;
        loop {
            let account = accounts[n % accounts.len()].clone();
            n += 1;
            let result = ledger.append(one_visit(account)).await;
            match result {
                Ok(_) => {
                    counts.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    let delay = status.get_details_retry_info().and_then(|r| r.retry_delay);
                    if let (FloodRetry::RetryInfo, Some(delay)) = (retry, delay) {
                        tokio::time::sleep(delay).await;
                    }
                }
                Err(status) => {
                    *counts
                        .other
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(code_name(status.code()).to_string())
                        .or_default() += 1;
                }
            }
            if first {
                first = false;
                sending.send_modify(|count| *count += 1);
            }
            if !*phase.borrow() {
                break;
            }
        }
        sending.send_modify(|count| *count -= 1);
    }
}
