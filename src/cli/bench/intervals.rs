//! The mixed workload's report over time: every `--report-every` seconds, the calls of each
//! kind that succeeded per second, their p99, the errors, the subscriptions' deliveries and
//! the server's resident memory, printed to stderr as the run goes and kept for the report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::oneshot;

use super::report::{self, Latency};

/// The kinds of call the mixed workload makes, in the order of [`Counters`]' arrays.
pub(super) const KINDS: [&str; 6] = [
    "append",
    "read_stream",
    "read_all",
    "get_relationship",
    "list_relationships",
    "get_portfolio",
];

/// What every client adds to as it goes, read by the reporter.
pub(super) struct Counters {
    pub(super) ok: [AtomicU64; KINDS.len()],
    pub(super) errors: [AtomicU64; KINDS.len()],
    /// Events the subscriptions received, all together.
    pub(super) delivered: AtomicU64,
    /// The latency of each kind since the last report line.
    window: Mutex<Vec<Histogram<u64>>>,
}

impl Counters {
    pub(super) fn new() -> Counters {
        Counters {
            ok: Default::default(),
            errors: Default::default(),
            delivered: AtomicU64::new(0),
            window: Mutex::new(KINDS.iter().map(|_| report::histogram()).collect()),
        }
    }

    /// Counts one call of kind `kind` that took `elapsed`.
    pub(super) fn record(&self, kind: usize, ok: bool, elapsed: Duration) {
        let counter = if ok { &self.ok } else { &self.errors };
        counter[kind].fetch_add(1, Ordering::Relaxed);
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        report::record(&mut window[kind], elapsed);
    }

    fn take_window(&self) -> Vec<Histogram<u64>> {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(
            &mut *window,
            KINDS.iter().map(|_| report::histogram()).collect(),
        )
    }
}

/// One line of the report over time.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// Seconds from the start of the measured phase to the end of this interval.
    pub end_secs: f64,
    /// Successful calls per second, by kind, and `subscription_events`: events delivered per
    /// second over every subscription.
    pub per_sec: BTreeMap<String, f64>,
    /// The p99 latency of each kind over the interval, in milliseconds.
    pub p99_ms: BTreeMap<String, f64>,
    /// Failed calls over the interval, every kind together.
    pub errors: u64,
    /// The server's resident memory (VmRSS) at the end of the interval, in MiB.
    pub server_rss_mib: Option<f64>,
}

impl Interval {
    /// The interval as one line of text.
    pub(super) fn line(&self) -> String {
        let mut parts = vec![format!("[{:>6.0} s]", self.end_secs)];
        for kind in KINDS {
            parts.push(format!(
                "{kind} {:.0}/s p99 {:.2} ms",
                self.per_sec.get(kind).copied().unwrap_or(0.0),
                self.p99_ms.get(kind).copied().unwrap_or(0.0)
            ));
        }
        parts.push(format!(
            "subscription events {:.0}/s",
            self.per_sec
                .get("subscription_events")
                .copied()
                .unwrap_or(0.0)
        ));
        parts.push(format!("errors {}", self.errors));
        if let Some(rss) = self.server_rss_mib {
            parts.push(format!("server RSS {rss:.1} MiB"));
        }
        parts.join(" | ")
    }
}

/// The reporter's task: a line every `every`, and a last one for the rest when stopped.
pub(super) struct Reporter {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<Interval>>,
}

impl Reporter {
    pub(super) fn start(counters: Arc<Counters>, every: Duration, rss_pid: Option<u32>) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last = Snapshot::of(&counters, started);
            let mut intervals = Vec::new();
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                let stopping = tokio::select! {
                    _ = tick.tick() => false,
                    _ = &mut stopped => true,
                };
                let now = Snapshot::of(&counters, Instant::now());
                let window = counters.take_window();
                // A last sliver of less than a second says nothing about a rate.
                if !stopping || now.at.duration_since(last.at) >= Duration::from_secs(1) {
                    let interval = now.since(&last, started, &window, rss_pid);
                    eprintln!("{}", interval.line());
                    intervals.push(interval);
                }
                last = now;
                if stopping {
                    return intervals;
                }
            }
        });
        Reporter { stop, task }
    }

    /// Stops the reporter and returns its lines.
    pub(super) async fn finish(self) -> anyhow::Result<Vec<Interval>> {
        let _ = self.stop.send(());
        Ok(self.task.await?)
    }
}

/// The counters at one instant.
struct Snapshot {
    at: Instant,
    ok: [u64; KINDS.len()],
    errors: u64,
    delivered: u64,
}

impl Snapshot {
    fn of(counters: &Counters, at: Instant) -> Snapshot {
        Snapshot {
            at,
            ok: std::array::from_fn(|k| counters.ok[k].load(Ordering::Relaxed)),
            errors: counters
                .errors
                .iter()
                .map(|e| e.load(Ordering::Relaxed))
                .sum(),
            delivered: counters.delivered.load(Ordering::Relaxed),
        }
    }

    fn since(
        &self,
        earlier: &Snapshot,
        started: Instant,
        window: &[Histogram<u64>],
        rss_pid: Option<u32>,
    ) -> Interval {
        let secs = self
            .at
            .duration_since(earlier.at)
            .as_secs_f64()
            .max(f64::EPSILON);
        let mut per_sec = BTreeMap::new();
        let mut p99_ms = BTreeMap::new();
        for (k, kind) in KINDS.iter().enumerate() {
            per_sec.insert(kind.to_string(), (self.ok[k] - earlier.ok[k]) as f64 / secs);
            p99_ms.insert(kind.to_string(), Latency::of(&window[k]).p99);
        }
        per_sec.insert(
            "subscription_events".into(),
            (self.delivered - earlier.delivered) as f64 / secs,
        );
        Interval {
            end_secs: self.at.duration_since(started).as_secs_f64(),
            per_sec,
            p99_ms,
            errors: self.errors - earlier.errors,
            server_rss_mib: rss_pid.and_then(resident_mib),
        }
    }
}

/// The resident memory (VmRSS) of process `pid` in MiB, from `/proc/<pid>/status`; `None`
/// where there is no such file (not Linux, or the process is gone).
pub(super) fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib as f64 / 1024.0)
}
