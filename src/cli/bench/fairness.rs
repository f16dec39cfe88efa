//! The fairness workload: whether one principal flooding appends starves another.
//!
//! Two principals share the server. `steady` (the clients of `--token`) appends one event at a
//! time at a fixed `--rate`, spread over `--clients`; `flood` (`--flood-clients` clients of
//! `--flood-token`) appends as fast as its answers come back, and on RESOURCE_EXHAUSTED
//! retries at once or after the RetryInfo delay (`--flood-retry`). Each of `--rounds` rounds
//! measures steady alone (unloaded) and then steady beside the flood (loaded), `--duration`
//! seconds each; the report gives steady's latency in both and their ratio, and what the flood
//! had accepted and refused. Steady appends alone for up to two seconds first, uncounted.
//!
//! The flood ([`flood`](super::flood)) runs on a runtime of its own with one thread, so that
//! steady's answers never wait in a run queue behind the flood's tasks: the latency measured
//! is the server's, not this process's scheduling. Both still share the machine's cores with
//! the server.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::flood::{Flood, FloodReport};
use super::report::{self, latency_rows, Latency};
use super::{one_visit, BenchArgs, Budget, ClientChannel, Progress, Setup, Tally};
use crate::api::proto::ledger_client::LedgerClient;

/// How long steady appends alone before the first round, uncounted.
const WARM_UP: Duration = Duration::from_secs(2);

/// Steady's calls in one kind of phase, every round together.
#[derive(Debug, Clone, Serialize)]
pub struct SteadyPhase {
    pub ok: u64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    /// Latency of every call, from send to answer.
    pub latency_ms: Latency,
}

/// Steady's p99 in one round, unloaded then loaded, to show how much the rounds spread.
#[derive(Debug, Clone, Serialize)]
pub struct RoundP99 {
    pub unloaded_ms: f64,
    pub loaded_ms: f64,
}

/// The fairness workload's report.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub rounds: u64,
    /// Seconds of each phase.
    pub phase_secs: f64,
    /// Steady's appends per second, all its clients together.
    pub steady_rate: u64,
    pub unloaded: SteadyPhase,
    pub loaded: SteadyPhase,
    /// Loaded p50 over unloaded p50.
    pub p50_ratio: f64,
    /// Loaded p99 over unloaded p99: the goal is at most 3.
    pub p99_ratio: f64,
    pub per_round: Vec<RoundP99>,
    pub flood: FloodReport,
}

impl FairnessReport {
    /// The report's rows of the text table.
    pub(super) fn rows(&self, rows: &mut Vec<(String, String)>) {
        let phase = |rows: &mut Vec<(String, String)>, name: &str, p: &SteadyPhase| {
            rows.push((
                format!("steady {name}"),
                format!("{} ok, {} errors", p.ok, p.errors),
            ));
            latency_rows(rows, &format!("steady {name}"), &p.latency_ms);
        };
        phase(rows, "unloaded", &self.unloaded);
        phase(rows, "loaded", &self.loaded);
        rows.push((
            "loaded / unloaded".into(),
            format!("p50 {:.2}x, p99 {:.2}x", self.p50_ratio, self.p99_ratio),
        ));
        let rounds: Vec<String> = self
            .per_round
            .iter()
            .map(|r| format!("{:.3} -> {:.3}", r.unloaded_ms, r.loaded_ms))
            .collect();
        rows.push(("p99 per round (ms)".into(), rounds.join(", ")));
        let f = &self.flood;
        rows.push((
            "flood".into(),
            format!(
                "{} clients, retry {}: {} accepted ({:.1}/s), {} refused ({:.1}/s), {} other errors",
                f.clients,
                f.retry,
                f.accepted,
                f.accepted_per_sec,
                f.refused,
                f.refused_per_sec,
                f.other_errors.values().sum::<u64>()
            ),
        ));
    }
}

/// Runs the rounds. `steady` holds the accounts opened over `channels` (steady's connections).
pub(super) async fn run(
    args: &BenchArgs,
    url: &str,
    run_id: &str,
    steady: &Setup,
    channels: &[ClientChannel],
    phase: Duration,
    progress: &Progress,
) -> anyhow::Result<(Tally, FairnessReport)> {
    let flood = Flood::start(args, url, &format!("{run_id}f")).await?;
    // Not counted: the server's first appends to new accounts, and this process's first
    // calls on each connection, are slower than any that follow.
    steady_phase(
        args,
        &steady.accounts,
        channels,
        WARM_UP.min(phase),
        progress,
    )
    .await?;
    let mut unloaded = Tally::new();
    let mut loaded = Tally::new();
    let mut per_round = Vec::new();
    let mut flood_secs = 0.0;
    for _ in 0..args.rounds {
        let alone = steady_phase(args, &steady.accounts, channels, phase, progress).await?;
        flood.phase.send_replace(true);
        // Measured only once every flood client has had an answer: the flood in full swing.
        let flood_started = Instant::now();
        flood.wait_sending(flood.clients).await?;
        let beside = steady_phase(args, &steady.accounts, channels, phase, progress).await?;
        flood.phase.send_replace(false);
        flood.wait_sending(0).await?;
        flood_secs += flood_started.elapsed().as_secs_f64();
        per_round.push(RoundP99 {
            unloaded_ms: Latency::of(&alone.latency).p99,
            loaded_ms: Latency::of(&beside.latency).p99,
        });
        unloaded.merge(alone);
        loaded.merge(beside);
    }
    let flood_report = flood.finish(args.flood_retry, flood_secs).await?;

    let summary = |tally: &Tally| SteadyPhase {
        ok: tally.ok,
        errors: tally.errors.values().sum(),
        error_codes: tally.errors.clone(),
        latency_ms: Latency::of(&tally.latency),
    };
    let (unloaded_phase, loaded_phase) = (summary(&unloaded), summary(&loaded));
    let ratio = |loaded: f64, unloaded: f64| loaded / unloaded.max(0.001);
    let fairness = FairnessReport {
        rounds: args.rounds,
        phase_secs: phase.as_secs_f64(),
        steady_rate: args.rate,
        p50_ratio: ratio(loaded_phase.latency_ms.p50, unloaded_phase.latency_ms.p50),
        p99_ratio: ratio(loaded_phase.latency_ms.p99, unloaded_phase.latency_ms.p99),
        unloaded: unloaded_phase,
        loaded: loaded_phase,
        per_round,
        flood: flood_report,
    };
    let mut tally = unloaded;
    tally.merge(loaded);
    Ok((tally, fairness))
}

/// One phase of steady's appends: one event each, at `--rate`, round robin over the accounts
/// and connections, each on its own task so that a slow answer never delays the next send.
async fn steady_phase(
    args: &BenchArgs,
    accounts: &[String],
    channels: &[ClientChannel],
    phase: Duration,
    progress: &Progress,
) -> anyhow::Result<Tally> {
    let budget = Budget {
        issued: AtomicU64::new(0),
        limit: args.requests,
        deadline: Instant::now() + phase,
    };
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut calls = Vec::new();
    let mut i = 0usize;
    while budget.take() {
        tick.tick().await;
        let mut ledger = LedgerClient::new(channels[i % channels.len()].clone());
        let account = accounts[i % accounts.len()].clone();
        i += 1;
        let done = Arc::clone(&progress.done);
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let result = ledger.append(one_visit(account)).await;
            done.fetch_add(1, Ordering::Relaxed);
            (started.elapsed(), result.map(|_| ()))
        }));
    }
    let mut tally = Tally::new();
    for call in calls {
        let (elapsed, result) = call.await.context("a steady append task failed")?;
        report::record(&mut tally.latency, elapsed);
        match result {
            Ok(()) => {
                tally.ok += 1;
                tally.events += 1;
            }
            Err(status) => tally.error(&status),
        }
    }
    Ok(tally)
}
