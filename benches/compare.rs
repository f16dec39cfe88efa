//! The side-by-side of issue 5: the same durable append workload against relledger and the
//! engines a user would pick instead, at 1, 8 and 64 concurrent clients, in one run on one
//! machine.
//!
//! Every system gets the same work: each client appends one event (the JSON of the `Visit`
//! that relledger's own clients send, a fresh event id each time) to its own stream, with the
//! stream's expected revision, and waits until the system says it is on disk before it sends
//! the next one. The systems (see `compare/systems/`):
//!
//! - **relledger**: a server in this process on 127.0.0.1:0 (sled in a temp dir, one fsync per
//!   group commit), driven over real gRPC by tonic clients, one connection per client; the
//!   same server driven by minimal gRPC clients on the h2 crate (`relledger-h2`: tonic's client
//!   costs about as much CPU per call as the server, and on one machine that CPU is taken from
//!   the server); and by tonic clients sharing 8 connections (`relledger-shared`);
//! - **PostgreSQL**: an `events` table with UNIQUE (stream, version); each append one
//!   `INSERT .. SELECT .. WHERE` statement, its own transaction, that writes only if the
//!   stream's last version is the expected one, `synchronous_commit = on`, one connection
//!   per client;
//! - **NATS JetStream**, single node, file storage, one subject per stream published with
//!   `Nats-Expected-Last-Subject-Sequence`, one connection per client: against a server with
//!   `sync_interval: always` (acknowledged once on disk, like the others) and against one with
//!   the default sync (acknowledged before fsync);
//! - **the floors**: sled alone in this process, with relledger's batching (one writer thread,
//!   every append waiting is one batch and one flush) and its three keys per event; the same
//!   with an fdatasync of sled's file after each flush (sled 0.34's flush is `sync_file_range`
//!   on Linux, which flushes neither the device's cache nor the file's metadata); and a bare
//!   write + fdatasync loop on a file on the same disk, batched the same way.
//!
//! Throughput is acknowledged appends per second; latency is per append, send to
//! acknowledgement (HdrHistogram). A system whose server is not given (or not reachable) is
//! reported as skipped, with the reason.
//!
//! Run it with `bench/compare.sh`, which installs and starts PostgreSQL and two nats-servers and
//! passes their addresses; alone, `cargo bench --bench compare` measures relledger and the
//! floors and skips the rest. `cargo test` runs it as well, without `--bench`: then it
//! measures a short comparison of the systems in this process and checks its report
//! (`compare/smoke.rs`), whatever the environment says. The knobs are environment variables:
//!
//! - `COMPARE_SUSTAINED` (default 20; 0 skips it) and `COMPARE_SUSTAINED_WARMUP` (default 10):
//!   the longer cell of relledger, PostgreSQL and JetStream (sync always) at the most clients,
//!   one pass, measured from the warmup's end (see `report::Sustained`);
//! - `COMPARE_SECONDS` (measured seconds per system, concurrency and pass, default 4),
//!   `COMPARE_WARMUP` (seconds not measured before that, default 1), `COMPARE_ROUNDS` (passes
//!   over every system and concurrency, merged, default 2),
//!   `COMPARE_CLIENTS` (default `1,8,64`), `COMPARE_ONLY` (a comma list of system keys:
//!   `relledger,relledger-h2,relledger-shared,postgres,nats-always,nats-default,sled,sled-fdatasync,fsync`);
//! - `COMPARE_PG` (a tokio-postgres connection string), `COMPARE_NATS_ALWAYS` and
//!   `COMPARE_NATS_DEFAULT` (nats:// URLs);
//! - `COMPARE_METRICS=1`: relledger records its metrics, as with `--metrics-listen`;
//! - `COMPARE_DATA_DIR`: where relledger's and the floors' temp dirs go (default: the system's
//!   temp dir); the script puts them beside the other servers' data, on one disk;
//! - `COMPARE_WRITE_DOCS=1` writes the results into docs/BENCHMARKS.md (its "Side by side"
//!   section, between markers) and the chart into docs/; `COMPARE_COMMAND` is the command line
//!   recorded there.

#[path = "common/mode.rs"]
mod mode;

mod compare {
    pub mod chart;
    pub mod machine;
    pub mod report;
    pub mod run;
    pub mod smoke;
    pub mod systems;
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use compare::report::{CatchUpReads, Goals, Outcome, Results, RoundTrips, Sustained};
use compare::run::{histogram, measure, settle, Cell, Plan};
use compare::systems::{self, Kind};
use hdrhistogram::Histogram;

/// The server's allocator (src/main.rs), so that the relledger in this process runs as the
/// `relledger` binary does. The other systems' clients in this process use it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How many subscribers read the cluster's log at once in the reads cell.
const READERS: usize = 8;

/// One cell's passes so far: their latencies and measured time, or the first failure.
type Merged = Result<(Histogram<u64>, Duration), String>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn seconds(name: &str, default: f64) -> Duration {
    let value = env(name)
        .map(|v| {
            v.parse::<f64>()
                .unwrap_or_else(|_| panic!("{name} must be a number of seconds, not {v:?}"))
        })
        .unwrap_or(default);
    assert!(
        value.is_finite() && value >= 0.0,
        "{name} must be a non-negative number of seconds"
    );
    Duration::from_secs_f64(value)
}

#[tokio::main]
async fn main() {
    // As `relledger serve` sets it (src/main.rs).
    relledger::allocator::keep_freed_memory();
    // `cargo bench` passes `--bench`. `cargo test` runs this binary without it (Cargo.toml:
    // `test = true`), and then it measures a short comparison and checks what it reports.
    if mode::benching() {
        bench().await;
    } else {
        compare::smoke::check().await;
    }
}

/// What one comparison measures.
pub struct Options {
    pub plan: Plan,
    /// Passes over every system and concurrency, merged.
    pub rounds: usize,
    /// The concurrencies, in the table's order.
    pub clients: Vec<usize>,
    /// The systems, in the table's order.
    pub kinds: Vec<Kind>,
    /// Where relledger's and the floors' temp dirs go.
    pub data_dir: PathBuf,
    /// The longer cell of the systems the goals compare, at the most clients (see
    /// [`Sustained`]); `None` skips it.
    pub sustained: Option<Plan>,
}

/// What one comparison found.
pub struct Compared {
    pub results: Results,
    pub round_trips: RoundTrips,
    pub sustained: Option<Sustained>,
    /// Reads through one and two replicas of relledger on the cluster, when it was opened.
    pub reads: Option<CatchUpReads>,
}

/// The comparison `bench/compare.sh` runs, its knobs read from the environment; the results
/// printed and, with `COMPARE_WRITE_DOCS=1`, written into docs/.
async fn bench() {
    // The server in this process logs as `relledger serve` does (`RUST_LOG`, INFO when unset),
    // so that it pays for what the binary's logging costs.
    relledger::logging::log_to_stderr();
    let plan = Plan {
        warmup: seconds("COMPARE_WARMUP", 1.0),
        measured: seconds("COMPARE_SECONDS", 5.0),
    };
    assert!(!plan.measured.is_zero(), "COMPARE_SECONDS must be positive");
    let rounds: usize = env("COMPARE_ROUNDS")
        .map(|r| {
            r.parse()
                .ok()
                .filter(|&n: &usize| n > 0)
                .unwrap_or_else(|| panic!("COMPARE_ROUNDS: {r:?} is not a positive count"))
        })
        .unwrap_or(2);
    let clients: Vec<usize> = env("COMPARE_CLIENTS")
        .unwrap_or_else(|| "1,8,64".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .ok()
                .filter(|&n: &usize| n > 0)
                .unwrap_or_else(|| panic!("COMPARE_CLIENTS: {c:?} is not a positive count"))
        })
        .collect();
    let only: Option<Vec<String>> =
        env("COMPARE_ONLY").map(|o| o.split(',').map(|s| s.trim().to_string()).collect());
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| only.as_ref().is_none_or(|o| o.iter().any(|s| s == k.key())))
        .collect();
    let data_dir = env("COMPARE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let write_docs = env("COMPARE_WRITE_DOCS").is_some_and(|v| v == "1");
    // The longer cell: COMPARE_SUSTAINED measured seconds (0: none) after
    // COMPARE_SUSTAINED_WARMUP.
    let sustained = Plan {
        warmup: seconds("COMPARE_SUSTAINED_WARMUP", 10.0),
        measured: seconds("COMPARE_SUSTAINED", 20.0),
    };
    let options = Options {
        plan,
        rounds,
        clients,
        kinds,
        data_dir,
        sustained: (!sustained.measured.is_zero()).then_some(sustained),
    };

    let machine_before = compare::machine::Machine::read(&options.data_dir);
    let Compared {
        results,
        round_trips,
        sustained,
        reads,
    } = run(&options).await;
    let machine = machine_before.with_load_after(compare::machine::load_average());
    let goals = Goals::evaluate(
        &results,
        round_trips.one.as_ref(),
        sustained.as_ref(),
        reads.as_ref(),
    );
    println!();
    print!("{}", results.text_table());
    if let Some(sustained) = &sustained {
        println!();
        print!("{}", sustained.text());
    }
    if let Some(reads) = &reads {
        println!();
        print!("{}", reads.text());
    }
    println!();
    print!("{}", goals.text());
    if write_docs {
        let plan = &options.plan;
        let command = env("COMPARE_COMMAND").unwrap_or_else(|| {
            format!(
                "COMPARE_SECONDS={} COMPARE_WARMUP={} COMPARE_ROUNDS={rounds} cargo bench --bench compare",
                plan.measured.as_secs_f64(),
                plan.warmup.as_secs_f64()
            )
        });
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let chart = docs.join("compare-throughput.svg");
        compare::chart::chart(&results, &chart).expect("cannot draw the chart");
        let section = compare::report::markdown(
            &results,
            &goals,
            &round_trips,
            sustained.as_ref(),
            reads.as_ref(),
            &machine,
            &command,
            plan,
            rounds,
        );
        compare::report::write_section(&docs.join("BENCHMARKS.md"), &section)
            .expect("cannot write docs/BENCHMARKS.md");
        println!(
            "wrote {} and the section \"Side by side (issue 5)\" of docs/BENCHMARKS.md",
            chart.display()
        );
    }
}

/// Opens every system, measures every cell in `options.rounds` passes, then the loopback round
/// trips on relledger, and closes the systems.
pub async fn run(options: &Options) -> Compared {
    let Options {
        plan,
        rounds,
        clients,
        kinds,
        data_dir,
        sustained,
    } = options;
    let rounds = *rounds;
    println!(
        "compare: {rounds} passes of {} measured s per cell, each after {} s warmup, clients {:?}, data in {}",
        plan.measured.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        clients,
        data_dir.display()
    );

    // Each system is opened once (its server checked, its schema or stream made) and keeps
    // that for every concurrency; one that cannot be opened is skipped with the reason.
    let mut results = Results::new(kinds, clients);
    let mut opened = Vec::new();
    for kind in kinds {
        let system = systems::open(*kind, data_dir).await;
        match &system {
            Ok(s) => {
                println!("{:<28} ready: {}", kind.label(), s.detail());
                results.describe(*kind, s.detail());
            }
            Err(reason) => {
                println!("{:<28} skipped: {reason}", kind.label());
                results.skip(*kind, reason.clone());
            }
        }
        opened.push((*kind, system));
    }

    // The concurrencies are the inner loop and the systems the innermost, and every cell is
    // measured in `rounds` passes some minutes apart, merged: a change of load on the shared
    // machine then touches every system rather than all the cells of one.
    let mut measured: HashMap<(Kind, usize), Merged> = HashMap::new();
    for pass in 0..rounds {
        for (r, &n) in clients.iter().enumerate() {
            for (kind, system) in &mut opened {
                let Ok(system) = system else { continue };
                let round = pass * clients.len() + r;
                let settling = std::time::Instant::now();
                settle().await;
                if settling.elapsed() > Duration::from_secs(1) {
                    println!(
                        "waited {:.1} s for this process to go idle",
                        settling.elapsed().as_secs_f64()
                    );
                }
                let outcome = measure_cell(system.as_mut(), round, n, plan).await;
                match &outcome {
                    Ok(latency) => println!(
                        "pass {}/{rounds} {:<28} {n:>3} clients: {}",
                        pass + 1,
                        kind.label(),
                        Outcome::Measured(Cell::of(latency, plan.measured)).line()
                    ),
                    Err(e) => println!(
                        "pass {}/{rounds} {:<28} {n:>3} clients: failed: {e}",
                        pass + 1,
                        kind.label()
                    ),
                }
                let cell = measured
                    .entry((*kind, n))
                    .or_insert_with(|| Ok((histogram(), Duration::ZERO)));
                match (cell, outcome) {
                    (Ok((all, window)), Ok(latency)) => {
                        all.add(&latency).expect("same bounds");
                        *window += plan.measured;
                    }
                    (cell, Err(e)) => *cell = Err(e),
                    (Err(_), Ok(_)) => {}
                }
            }
        }
    }
    for ((kind, n), cell) in measured {
        let outcome = match cell {
            Ok((latency, window)) => Outcome::Measured(Cell::of(&latency, window)),
            Err(e) => Outcome::Failed(e),
        };
        results.record(kind, n, outcome);
    }

    let most = clients.iter().copied().max().unwrap_or(1);
    let sustained = match sustained {
        Some(long) => {
            // Fresh streams (a round no pass used), so each starts empty as in the short cells.
            let round = rounds * clients.len();
            let mut cells = Vec::new();
            let mut lag = None;
            for (kind, system) in &mut opened {
                let Ok(system) = system else { continue };
                if !Sustained::KINDS.contains(kind) {
                    continue;
                }
                settle().await;
                let watch = system.watch_lag().await;
                let outcome = match measure_cell(system.as_mut(), round, most, long).await {
                    Ok(latency) => Outcome::Measured(Cell::of(&latency, long.measured)),
                    Err(e) => Outcome::Failed(e),
                };
                println!(
                    "sustained {:<28} {most:>3} clients: {}",
                    kind.label(),
                    outcome.line()
                );
                let measured = match watch {
                    Some(Ok(watch)) => Some(watch.finish().await.map_err(|e| format!("{e:#}"))),
                    Some(Err(e)) => Some(Err(format!("{e:#}"))),
                    None => None,
                };
                if let Some(measured) = measured {
                    let rate = match &outcome {
                        Outcome::Measured(cell) => Some(cell.throughput),
                        _ => None,
                    };
                    match &measured {
                        Ok(lag) => println!("  {}", lag.line(rate)),
                        Err(e) => println!("  projection lag: not measured: {e}"),
                    }
                    lag = Some(measured);
                }
                cells.push((*kind, outcome));
            }
            Some(Sustained {
                clients: most,
                plan: *long,
                cells,
                lag,
            })
        }
        None => None,
    };

    // One loopback gRPC round trip without the disk, for the single-client latency goal; and
    // the same from the most clients measured, the most the server answers when an append
    // costs it nothing (the ceiling the 64-client goal is under).
    let relledger = opened.iter().find_map(|(k, system)| match system {
        Ok(system) if *k == Kind::Relledger => Some(system),
        _ => None,
    });
    let mut round_trips = RoundTrips::default();
    if let Some(system) = relledger {
        for n in std::iter::once(1).chain((most > 1).then_some(most)) {
            settle().await;
            match system.round_trip(plan, n).await {
                Ok(cell) => {
                    println!(
                        "loopback gRPC round trips (a rejected append, no disk), {n} clients: \
                         {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms",
                        cell.throughput, cell.p50_ms, cell.p99_ms
                    );
                    match n {
                        1 => round_trips.one = Some(cell),
                        _ => round_trips.ceiling = Some((n, cell)),
                    }
                }
                Err(e) => println!("round trips from {n} clients: failed: {e:#}"),
            }
        }
    }
    // Subscribers catching up through one replica of relledger on the cluster, then two, on
    // the log its cells wrote.
    let pair = opened.iter().find_map(|(k, system)| match system {
        Ok(system) if *k == Kind::RelledgerClusterPair => Some(system),
        _ => None,
    });
    let mut reads = None;
    if let Some(system) = pair {
        let mut through = Vec::new();
        for replicas in [1, 2] {
            settle().await;
            let measured = system
                .catch_up_reads(plan, READERS, replicas)
                .await
                .map_err(|e| format!("{e:#}"));
            match &measured {
                Ok(r) => println!(
                    "{READERS} subscribers catching up through {replicas} replica(s): {:.0} events/s",
                    r.throughput
                ),
                Err(e) => println!("reads through {replicas} replica(s): failed: {e}"),
            }
            through.push(measured);
        }
        let two = through.pop().expect("measured");
        let one = through.pop().expect("measured");
        reads = Some(CatchUpReads {
            subscribers: READERS,
            plan: *plan,
            one,
            two,
        });
    }

    for (_, system) in opened {
        if let Ok(system) = system {
            system.close().await;
        }
    }

    Compared {
        results,
        round_trips,
        sustained,
        reads,
    }
}

/// `n` fresh clients of `system` (streams named for `round`) measured over `plan`: their
/// latencies, or why the cell failed.
async fn measure_cell(
    system: &mut dyn systems::System,
    round: usize,
    n: usize,
    plan: &Plan,
) -> Result<Histogram<u64>, String> {
    match system.clients(round, n).await {
        Ok(appenders) => measure(appenders, plan).await.map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("cannot start {n} clients: {e:#}")),
    }
}
