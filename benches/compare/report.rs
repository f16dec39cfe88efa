//! The results: one table with each system's ratio to relledger, the issue's goals checked
//! against it, and the section of docs/BENCHMARKS.md they are written into.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use super::machine::Machine;
use super::run::{Cell, Plan};
use super::systems::{payload_len, Kind, Lag, Reads};

/// What one system did at one concurrency.
pub enum Outcome {
    Measured(Cell),
    /// The system was opened but this run failed; the reason.
    Failed(String),
    /// The system could not be opened (no server given, not reachable); the reason.
    Skipped(String),
}

impl Outcome {
    pub fn line(&self) -> String {
        match self {
            Outcome::Measured(c) => format!(
                "{:>9.0} appends/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({} appends)",
                c.throughput, c.p50_ms, c.p99_ms, c.max_ms, c.appends
            ),
            Outcome::Failed(reason) => format!("failed: {reason}"),
            Outcome::Skipped(reason) => format!("skipped: {reason}"),
        }
    }
}

/// Every system at every concurrency.
pub struct Results {
    pub kinds: Vec<Kind>,
    pub clients: Vec<usize>,
    cells: HashMap<(Kind, usize), Outcome>,
    details: HashMap<Kind, String>,
}

impl Results {
    pub fn new(kinds: &[Kind], clients: &[usize]) -> Results {
        Results {
            kinds: kinds.to_vec(),
            clients: clients.to_vec(),
            cells: HashMap::new(),
            details: HashMap::new(),
        }
    }

    pub fn describe(&mut self, kind: Kind, detail: String) {
        self.details.insert(kind, detail);
    }

    pub fn skip(&mut self, kind: Kind, reason: String) {
        for &n in &self.clients {
            self.cells
                .insert((kind, n), Outcome::Skipped(reason.clone()));
        }
    }

    pub fn record(&mut self, kind: Kind, clients: usize, outcome: Outcome) {
        self.cells.insert((kind, clients), outcome);
    }

    /// What happened at one cell, as a line of text.
    pub fn outcome_line(&self, kind: Kind, clients: usize) -> String {
        self.cells
            .get(&(kind, clients))
            .map_or_else(|| "no outcome recorded".into(), Outcome::line)
    }

    pub fn cell(&self, kind: Kind, clients: usize) -> Option<&Cell> {
        match self.cells.get(&(kind, clients)) {
            Some(Outcome::Measured(cell)) => Some(cell),
            _ => None,
        }
    }

    /// The header and rows of the table: per concurrency, appends/s and p99, each with its
    /// ratio to relledger's.
    fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["system".to_string()];
        for n in &self.clients {
            header.push(format!("{}: appends/s (× relledger)", clients(*n)));
            header.push(format!("{}: p99 ms (× relledger)", clients(*n)));
        }
        let mut rows = Vec::new();
        for &kind in &self.kinds {
            let mut row = vec![kind.label().to_string()];
            for &n in &self.clients {
                let base = self.cell(Kind::Relledger, n);
                match self.cells.get(&(kind, n)) {
                    Some(Outcome::Measured(c)) => {
                        let ratio = |value: f64, of: Option<f64>| match of {
                            Some(of) if kind != Kind::Relledger && of > 0.0 => {
                                format!(" ({:.2}×)", value / of)
                            }
                            _ => String::new(),
                        };
                        row.push(format!(
                            "{}{}",
                            thousands(c.throughput),
                            ratio(c.throughput, base.map(|b| b.throughput))
                        ));
                        row.push(format!(
                            "{:.2}{}",
                            c.p99_ms,
                            ratio(c.p99_ms, base.map(|b| b.p99_ms))
                        ));
                    }
                    Some(Outcome::Failed(_)) => row.extend(["failed".into(), "failed".into()]),
                    Some(Outcome::Skipped(_)) | None => {
                        row.extend(["skipped".into(), "skipped".into()])
                    }
                }
            }
            rows.push(row);
        }
        (header, rows)
    }

    /// Why a row is skipped or a cell failed, one line each.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for &kind in &self.kinds {
            let mut seen = Vec::new();
            for &n in &self.clients {
                let note = match self.cells.get(&(kind, n)) {
                    Some(Outcome::Skipped(r)) => format!("skipped: {r}"),
                    Some(Outcome::Failed(r)) => format!("failed at {n} clients: {r}"),
                    _ => continue,
                };
                if !seen.contains(&note) {
                    seen.push(note);
                }
            }
            notes.extend(seen.into_iter().map(|n| format!("{}: {n}", kind.label())));
        }
        notes
    }

    pub fn text_table(&self) -> String {
        let (header, rows) = self.table();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                std::iter::once(&header)
                    .chain(&rows)
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        for note in self.notes() {
            let _ = writeln!(out, "{note}");
        }
        out
    }

    fn markdown_table(&self) -> String {
        let (header, rows) = self.table();
        let mut out = format!("| {} |\n", header.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for row in rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

/// "1 client", "8 clients".
fn clients(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

/// `12345.6` as `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One of the issue's goals, checked.
pub struct Goal {
    pub name: String,
    /// `None` when a figure it needs is missing.
    pub met: Option<bool>,
    pub evidence: String,
}

pub struct Goals(pub Vec<Goal>);

impl Goals {
    /// The goals, judged on the short cells; `sustained` adds its figures to the evidence of
    /// the throughput goals (the verdict stays the short cells', as the issue's table is).
    pub fn evaluate(
        results: &Results,
        round_trip: Option<&Cell>,
        sustained: Option<&Sustained>,
        reads: Option<&CatchUpReads>,
    ) -> Goals {
        let most = results.clients.iter().copied().max().unwrap_or(0);
        let least = results.clients.iter().copied().min().unwrap_or(0);
        let ours = results.cell(Kind::Relledger, most);
        let missing = |what: &str| Goal {
            name: String::new(),
            met: None,
            evidence: format!("{what} was not measured"),
        };
        let mut goals = Vec::new();

        let name = format!(
            "durable append throughput at {} ≥ 2× PostgreSQL",
            clients(most)
        );
        goals.push(match (ours, results.cell(Kind::Postgres, most)) {
            (Some(r), Some(p)) => {
                // Judged on tonic clients, what most callers use; the lean client's figure says
                // how much of the gap is the clients' own CPU on this one machine.
                let lean = results
                    .cell(Kind::RelledgerH2, most)
                    .map(|h| {
                        format!(
                            "; driven by minimal h2 clients, relledger {} appends/s: {:.2}×",
                            thousands(h.throughput),
                            h.throughput / p.throughput
                        )
                    })
                    .unwrap_or_default();
                let longer = sustained
                    .map(|s| s.evidence(Kind::Postgres, "PostgreSQL"))
                    .unwrap_or_default();
                Goal {
                    name,
                    met: Some(r.throughput >= 2.0 * p.throughput),
                    evidence: format!(
                        "relledger {} vs PostgreSQL {} appends/s: {:.2}×{lean}{longer}",
                        thousands(r.throughput),
                        thousands(p.throughput),
                        r.throughput / p.throughput
                    ),
                }
            }
            _ => Goal {
                name,
                ..missing("relledger or PostgreSQL")
            },
        });

        let name = format!(
            "durable append throughput at {} ≥ JetStream single node (sync always)",
            clients(most)
        );
        goals.push(match (ours, results.cell(Kind::NatsAlways, most)) {
            (Some(r), Some(n)) => {
                let default = results
                    .cell(Kind::NatsDefault, most)
                    .map(|d| {
                        format!(
                            "; against its default sync (acknowledged before fsync), {} appends/s: {:.2}×",
                            thousands(d.throughput),
                            r.throughput / d.throughput
                        )
                    })
                    .unwrap_or_default();
                let longer = sustained
                    .map(|s| s.evidence(Kind::NatsAlways, "JetStream"))
                    .unwrap_or_default();
                Goal {
                    name,
                    met: Some(r.throughput >= n.throughput),
                    evidence: format!(
                        "relledger {} vs JetStream {} appends/s: {:.2}×{default}{longer}",
                        thousands(r.throughput),
                        thousands(n.throughput),
                        r.throughput / n.throughput
                    ),
                }
            }
            _ => Goal {
                name,
                ..missing("relledger or JetStream with sync always")
            },
        });

        let name = format!(
            "append p99 at {} ≤ 2× (fsync floor p99 + one loopback gRPC round trip p99)",
            clients(least)
        );
        goals.push(
            match (
                results.cell(Kind::Relledger, least),
                results.cell(Kind::FsyncFloor, least),
                round_trip,
            ) {
                (Some(r), Some(f), Some(t)) => {
                    let bound = 2.0 * (f.p99_ms + t.p99_ms);
                    Goal {
                        name,
                        met: Some(r.p99_ms <= bound),
                        evidence: format!(
                            "relledger p99 {:.2} ms vs 2 × ({:.2} + {:.2}) = {:.2} ms: {:.2}× the floor + round trip",
                            r.p99_ms,
                            f.p99_ms,
                            t.p99_ms,
                            bound,
                            r.p99_ms / (f.p99_ms + t.p99_ms)
                        ),
                    }
                }
                _ => Goal {
                    name,
                    ..missing("relledger, the fsync floor or the round trip")
                },
            },
        );

        let name = format!(
            "relledger on JetStream R3 through one and through two replicas ≥ 80% of plain \
             JetStream R3 publishes at {}",
            clients(most)
        );
        goals.push(
            match (
                results.cell(Kind::RelledgerCluster, most),
                results.cell(Kind::RelledgerClusterPair, most),
                results.cell(Kind::NatsCluster, most),
            ) {
                (Some(one), Some(two), Some(plain)) if plain.throughput > 0.0 => Goal {
                    name,
                    met: Some(
                        one.throughput >= 0.8 * plain.throughput
                            && two.throughput >= 0.8 * plain.throughput,
                    ),
                    evidence: format!(
                        "one replica {} and two replicas {} vs plain publishes {} appends/s: \
                         {:.2}× and {:.2}×",
                        thousands(one.throughput),
                        thousands(two.throughput),
                        thousands(plain.throughput),
                        one.throughput / plain.throughput,
                        two.throughput / plain.throughput
                    ),
                },
                _ => Goal {
                    name,
                    ..missing("relledger on the cluster or plain JetStream R3")
                },
            },
        );

        let name = "subscribers catching up read ≥ 1.5× as many events a second through two \
                    replicas as through one"
            .to_string();
        goals.push(match reads {
            Some(CatchUpReads {
                one: Ok(one),
                two: Ok(two),
                ..
            }) if one.throughput > 0.0 => Goal {
                name,
                met: Some(two.throughput >= 1.5 * one.throughput),
                evidence: format!(
                    "{} vs {} events/s: {:.2}×",
                    thousands(two.throughput),
                    thousands(one.throughput),
                    two.throughput / one.throughput
                ),
            },
            _ => Goal {
                name,
                ..missing("reading through one and two replicas")
            },
        });
        Goals(goals)
    }

    fn verdict(goal: &Goal) -> &'static str {
        match goal.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not evaluated",
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for goal in &self.0 {
            let _ = writeln!(
                out,
                "goal: {}: {} ({})",
                goal.name,
                Goals::verdict(goal),
                goal.evidence
            );
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        for goal in &self.0 {
            let _ = writeln!(
                out,
                "- {}: **{}**. {}.",
                goal.name,
                Goals::verdict(goal),
                goal.evidence
            );
        }
        out
    }
}

/// Loopback gRPC round trips that touch no disk (a rejected append), measured on relledger.
#[derive(Default)]
pub struct RoundTrips {
    /// From one client: the round trip in the one-client latency goal.
    pub one: Option<Cell>,
    /// From the most clients measured, and how many: the most requests the server answers
    /// when an append costs it nothing.
    pub ceiling: Option<(usize, Cell)>,
}

/// The systems the goals name, measured once more at the most clients over a longer window
/// that starts later: appends to the same streams for half a minute show what the short cells
/// do not (relledger's live projector refolds longer histories as the streams grow, and past
/// its history cache's budget reads them back; PostgreSQL's table and index grow).
pub struct Sustained {
    pub clients: usize,
    pub plan: Plan,
    /// In the table's order; systems not opened are absent.
    pub cells: Vec<(Kind, Outcome)>,
    /// How far relledger's projector and change feed were behind its log during the cell, or
    /// why that was not measured.
    pub lag: Option<Result<Lag, String>>,
}

impl Sustained {
    /// The kinds measured: those the goals compare.
    pub const KINDS: [Kind; 3] = [Kind::Relledger, Kind::Postgres, Kind::NatsAlways];

    pub fn cell(&self, kind: Kind) -> Option<&Cell> {
        self.cells.iter().find_map(|(k, outcome)| match outcome {
            Outcome::Measured(cell) if *k == kind => Some(cell),
            _ => None,
        })
    }

    /// "64 clients from second 10 to second 30".
    fn window(&self) -> String {
        let seconds = |s: f64| {
            if s.fract() == 0.0 {
                format!("{s:.0}")
            } else {
                format!("{s:.1}")
            }
        };
        let from = self.plan.warmup.as_secs_f64();
        format!(
            "{} from second {} to second {}",
            clients(self.clients),
            seconds(from),
            seconds(from + self.plan.measured.as_secs_f64())
        )
    }

    /// One line per system, with its ratio to relledger's throughput.
    fn rows(&self) -> Vec<(String, String)> {
        let base = self.cell(Kind::Relledger).map(|c| c.throughput);
        self.cells
            .iter()
            .map(|(kind, outcome)| {
                let figures = match outcome {
                    Outcome::Measured(c) => {
                        let ratio = match base {
                            Some(b) if *kind != Kind::Relledger && b > 0.0 => {
                                format!(" ({:.2}× relledger)", c.throughput / b)
                            }
                            _ => String::new(),
                        };
                        format!(
                            "{} appends/s{ratio}, p99 {:.2} ms",
                            thousands(c.throughput),
                            c.p99_ms
                        )
                    }
                    other => other.line(),
                };
                (kind.label().to_string(), figures)
            })
            .collect()
    }

    pub fn text(&self) -> String {
        let mut out = format!("sustained, {}:\n", self.window());
        for (label, figures) in self.rows() {
            let _ = writeln!(out, "  {label:<26} {figures}");
        }
        if let Some(lag) = self.lag_line() {
            let _ = writeln!(out, "  relledger's {lag}");
        }
        out
    }

    /// The projections' lag, as a line.
    fn lag_line(&self) -> Option<String> {
        let rate = self.cell(Kind::Relledger).map(|c| c.throughput);
        Some(match self.lag.as_ref()? {
            Ok(lag) => lag.line(rate),
            Err(e) => format!("projection lag: not measured: {e}"),
        })
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "Sustained: the same append, {} (one pass, {} s not counted first):\n\n",
            self.window(),
            self.plan.warmup.as_secs_f64()
        );
        for (label, figures) in self.rows() {
            let _ = writeln!(out, "- {label}: {figures}");
        }
        if let Some(lag) = self.lag_line() {
            let _ = writeln!(out, "- relledger's {lag}");
        }
        out
    }

    /// ", and sustained (…): relledger X vs Y: Z×" for a goal comparing relledger with `other`.
    fn evidence(&self, other: Kind, name: &str) -> String {
        match (self.cell(Kind::Relledger), self.cell(other)) {
            (Some(r), Some(o)) if o.throughput > 0.0 => format!(
                "; sustained ({}): relledger {} vs {name} {} appends/s: {:.2}×",
                self.window(),
                thousands(r.throughput),
                thousands(o.throughput),
                r.throughput / o.throughput
            ),
            _ => String::new(),
        }
    }
}

/// Subscribers of relledger on the cluster reading the log from its start until caught up,
/// again and again: all of them through one replica, then spread over two.
pub struct CatchUpReads {
    pub subscribers: usize,
    pub plan: Plan,
    pub one: Result<Reads, String>,
    pub two: Result<Reads, String>,
}

impl CatchUpReads {
    fn lines(&self) -> Vec<String> {
        let line = |replicas: &str, reads: &Result<Reads, String>| match reads {
            Ok(r) => format!(
                "through {replicas}: {} events/s ({} events delivered, the log holding {})",
                thousands(r.throughput),
                thousands(r.events as f64),
                thousands(r.log_events as f64)
            ),
            Err(e) => format!("through {replicas}: failed: {e}"),
        };
        vec![
            line("one replica", &self.one),
            line("two replicas", &self.two),
        ]
    }

    pub fn text(&self) -> String {
        let mut out = format!(
            "{} subscribers catching up from the start of relledger's log on the cluster:\n",
            self.subscribers
        );
        for line in self.lines() {
            let _ = writeln!(out, "  {line}");
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "Reads on the cluster: {} subscribers of the two-replica relledger, each reading the \
             log from its start until caught up (batches of 256), again and again for {} s \
             after {} s not counted; all through one replica, then spread over both:\n\n",
            self.subscribers,
            self.plan.measured.as_secs_f64(),
            self.plan.warmup.as_secs_f64()
        );
        for line in self.lines() {
            let _ = writeln!(out, "- {line}");
        }
        out
    }
}

/// The generated part of the section, between its markers.
#[allow(clippy::too_many_arguments)]
pub fn markdown(
    results: &Results,
    goals: &Goals,
    round_trips: &RoundTrips,
    sustained: Option<&Sustained>,
    reads: Option<&CatchUpReads>,
    machine: &Machine,
    command: &str,
    plan: &Plan,
    rounds: usize,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(
        out,
        "Generated by `benches/compare.rs` on {}, at commit {} ({} profile):\n",
        machine.date,
        machine.commit,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let _ = writeln!(out, "```sh\n{command}\n```\n");
    let _ = writeln!(
        out,
        "Machine: {} cores ({}), {} RAM, kernel {}, data on {}. Load average (1, 5, 15 min) {} \
         before the run and {} after it (work on the machine other than this run shows in the \
         first); every server and client shares the same cores.\n",
        machine.cores,
        machine.cpu,
        machine.memory,
        machine.kernel,
        machine.disk,
        machine.load_before,
        machine.load_after
    );
    let _ = writeln!(
        out,
        "Each cell: {rounds} {} over all systems and concurrencies, each with {} s of \
         warmup, then {} s measured, merged; every client appends one event ({} bytes \
         of JSON for the other systems; the same `Visit` as a proto for relledger) to its own \
         stream with the expected revision and waits for the acknowledgement.\n",
        if rounds == 1 { "pass" } else { "passes" },
        plan.warmup.as_secs_f64(),
        plan.measured.as_secs_f64(),
        payload_len()
    );
    for &kind in &results.kinds {
        if let Some(detail) = results.details.get(&kind) {
            let _ = writeln!(out, "- {}: {detail}", kind.label());
        }
    }
    let _ = writeln!(out);
    out.push_str(&results.markdown_table());
    let notes = results.notes();
    if !notes.is_empty() {
        let _ = writeln!(out);
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    let _ = writeln!(out);
    if let Some(t) = &round_trips.one {
        let _ = writeln!(
            out,
            "One loopback gRPC round trip (the same append with an empty account id, answered \
             INVALID_ARGUMENT before the log), one client: p50 {:.3} ms, p99 {:.3} ms.\n",
            t.p50_ms, t.p99_ms
        );
    }
    if let Some((n, t)) = &round_trips.ceiling {
        let _ = writeln!(
            out,
            "The same rejected append from {n} tonic clients at once, the most requests the \
             server answers when an append costs it nothing (the ceiling of relledger's \
             {n}-client cell on this machine): {} requests/s, p50 {:.3} ms, p99 {:.3} ms.\n",
            thousands(t.throughput),
            t.p50_ms,
            t.p99_ms
        );
    }
    if let Some(sustained) = sustained {
        let _ = writeln!(out, "{}", sustained.markdown());
    }
    if let Some(reads) = reads {
        let _ = writeln!(out, "{}", reads.markdown());
    }
    let _ = writeln!(out, "The issue's goals, as measured in this run:\n");
    out.push_str(&goals.markdown());
    let _ = writeln!(
        out,
        "\n![appends per second against concurrent clients](compare-throughput.svg)"
    );
    let _ = writeln!(out, "{END}");
    out
}

const HEADING: &str = "## Side by side (issue 5)";
const BEGIN: &str =
    "<!-- compare:begin: written by benches/compare.rs; edit outside the markers -->";
const END: &str = "<!-- compare:end -->";

/// Replaces the generated part of the section in `path`, or appends the section.
pub fn write_section(path: &Path, generated: &str) -> std::io::Result<()> {
    let doc = std::fs::read_to_string(path)?;
    let updated = match (doc.find(BEGIN), doc.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let end = end + END.len();
            let rest = doc[end..].strip_prefix('\n').unwrap_or(&doc[end..]);
            format!("{}{generated}{rest}", &doc[..begin])
        }
        _ => format!("{}\n\n{HEADING}\n\n{generated}", doc.trim_end()),
    };
    std::fs::write(path, updated)
}
