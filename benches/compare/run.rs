//! The closed loop every system is measured with: N clients, each appending and waiting for
//! the acknowledgement before it sends the next append, released together; a warmup that is
//! not counted, then a measured window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use hdrhistogram::Histogram;
use tokio::sync::Barrier;

/// One client of one system: it owns one stream and knows its expected revision.
#[async_trait]
pub trait Appender: Send + 'static {
    /// Appends one event to this client's stream with the expected revision, returning once
    /// the system has acknowledged it (durably, for every system but NATS in default mode).
    /// A refused expected revision is an error: each stream has one writer, so a refusal
    /// means the check or the bench is wrong.
    async fn append(&mut self) -> anyhow::Result<()>;
}

/// How long each cell runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Appends are made but not counted for this long, so that connections, caches and
    /// files are warm.
    pub warmup: Duration,
    /// The window counted.
    pub measured: Duration,
}

/// What one system did at one concurrency.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Appends acknowledged that were sent inside the measured window.
    pub appends: u64,
    /// Acknowledged appends per second over the measured window.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Cell {
    pub fn of(latency: &Histogram<u64>, window: Duration) -> Cell {
        let ms = |us: u64| us as f64 / 1000.0;
        Cell {
            appends: latency.len(),
            throughput: latency.len() as f64 / window.as_secs_f64(),
            p50_ms: ms(latency.value_at_quantile(0.50)),
            p99_ms: ms(latency.value_at_quantile(0.99)),
            max_ms: ms(latency.max()),
        }
    }
}

/// Latencies in µs, 1 µs to 60 s, 3 significant digits (as `relledger bench` records them).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(us.max(1));
}

/// Waits until this process is nearly idle: below a fifth of a core over a quarter of a second,
/// for at most 15 s. The in-process relledger server goes on working after its clients stop
/// (the live projector catches up with the appends: about 1.7 CPU-seconds after a 64-client
/// cell), and that work must not land in the next system's window. Where /proc is missing it
/// returns at once.
pub async fn settle() {
    fn cpu_ticks() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    }
    let give_up = Instant::now() + Duration::from_secs(15);
    let Some(mut before) = cpu_ticks() else {
        return;
    };
    while Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(now) = cpu_ticks() else { return };
        // Clock ticks are 1/100 s on Linux: 5 ticks in 250 ms is 20% of one core.
        if now.saturating_sub(before) <= 5 {
            return;
        }
        before = now;
    }
}

/// Runs `appenders` together for the plan's warmup and measured window and returns the
/// latencies of the appends sent inside the window (their count over the window's length is
/// the throughput). The first error of any client fails the cell.
pub async fn measure(
    appenders: Vec<Box<dyn Appender>>,
    plan: &Plan,
) -> anyhow::Result<Histogram<u64>> {
    let barrier = Arc::new(Barrier::new(appenders.len() + 1));
    let mut tasks = Vec::with_capacity(appenders.len());
    for mut appender in appenders {
        let barrier = Arc::clone(&barrier);
        let (warmup, measured) = (plan.warmup, plan.measured);
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            barrier.wait().await;
            let start = Instant::now();
            let (counted_from, end) = (start + warmup, start + warmup + measured);
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                appender.append().await?;
                if sent >= counted_from {
                    record(&mut latency, sent.elapsed());
                }
            }
            anyhow::Ok(latency)
        }));
    }
    barrier.wait().await;
    let mut all = histogram();
    for task in tasks {
        let latency = task.await.context("a client task panicked")??;
        all.add(&latency).expect("same bounds");
    }
    Ok(all)
}
