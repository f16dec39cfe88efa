//! What `cargo test` runs of this bench (Cargo.toml gives it `test = true`; only `cargo bench`
//! passes `--bench`): a short comparison of the systems that run in this process (relledger
//! driven three ways, and the three floors) at 1 and 4 clients, checked. Every cell must be
//! measured (each relledger append acknowledged with the next revision of its stream, see
//! `systems/server.rs`), the goals judged where their figures exist and said to be not
//! evaluated where they do not (PostgreSQL and JetStream are not started here), and the
//! section and chart must be written, into a temp dir rather than docs/. The figures
//! themselves are not judged: a debug build on a busy CI machine says nothing about speed.

use std::path::Path;
use std::time::Duration;

use super::chart::chart;
use super::machine::{load_average, Machine};
use super::report::{markdown, write_section, Goals};
use super::run::Plan;
use super::systems::Kind;
use crate::{run, Compared, Options};

/// The systems measured here: those that need no server started by bench/compare.sh.
const IN_PROCESS: [Kind; 6] = [
    Kind::Relledger,
    Kind::RelledgerH2,
    Kind::RelledgerShared,
    Kind::SledFloor,
    Kind::SledFdatasyncFloor,
    Kind::FsyncFloor,
];

/// Runs the short comparison and panics (failing `cargo test`) on the first thing it reports
/// wrong.
pub async fn check() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clients = vec![1, 4];
    let options = Options {
        plan: Plan {
            warmup: Duration::from_millis(100),
            measured: Duration::from_millis(400),
        },
        rounds: 1,
        clients: clients.clone(),
        kinds: IN_PROCESS.to_vec(),
        data_dir: dir.path().to_path_buf(),
        sustained: Some(Plan {
            warmup: Duration::from_millis(100),
            measured: Duration::from_millis(300),
        }),
    };
    let machine = Machine::read(dir.path());
    let Compared {
        results,
        round_trips,
        sustained,
        reads,
    } = run(&options).await;
    assert!(
        reads.is_none(),
        "reads are measured on the cluster only, which is not started here"
    );

    for kind in IN_PROCESS {
        for &n in &clients {
            let cell = results.cell(kind, n).unwrap_or_else(|| {
                panic!(
                    "{} at {n} clients was not measured: {}",
                    kind.label(),
                    results.outcome_line(kind, n)
                )
            });
            assert!(
                cell.appends > 0 && cell.throughput > 0.0,
                "{} at {n} clients acknowledged no append in its window",
                kind.label()
            );
            assert!(
                cell.p50_ms <= cell.p99_ms && cell.p99_ms <= cell.max_ms,
                "{} at {n} clients: percentiles out of order: {cell:?}",
                kind.label()
            );
        }
    }
    let one = round_trips
        .one
        .as_ref()
        .expect("the one-client round trip was measured");
    assert!(one.appends > 0, "no rejected append was answered");
    match &round_trips.ceiling {
        Some((4, ceiling)) => assert!(ceiling.appends > 0, "no rejected append was answered"),
        other => panic!(
            "the ceiling is measured at the most clients (4), got {:?}",
            other.as_ref().map(|(n, _)| n)
        ),
    }

    // Of the systems the goals compare only relledger runs here: its longer cell is measured,
    // at the most clients, and nothing else.
    let sustained = sustained.expect("the longer cell was asked for");
    assert_eq!(sustained.clients, 4);
    let measured: Vec<Kind> = sustained.cells.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(measured, [Kind::Relledger], "{}", sustained.text());
    match &sustained.lag {
        Some(Ok(lag)) => assert!(lag.samples > 0, "{}", sustained.text()),
        other => panic!(
            "the projections' lag was measured: {:?}",
            other.as_ref().map(|l| l.as_ref().err())
        ),
    }
    assert!(
        sustained
            .cell(Kind::Relledger)
            .is_some_and(|c| c.appends > 0),
        "{}",
        sustained.text()
    );

    let goals = Goals::evaluate(&results, round_trips.one.as_ref(), Some(&sustained), None);
    let verdicts: Vec<Option<bool>> = goals.0.iter().map(|g| g.met).collect();
    assert!(
        matches!(verdicts[..], [None, None, Some(_), None, None]),
        "without PostgreSQL and JetStream only the latency goal can be judged: {}",
        goals.text()
    );
    assert!(goals.text().contains("PostgreSQL was not measured"));

    let machine = machine.with_load_after(load_average());
    let section = markdown(
        &results,
        &goals,
        &round_trips,
        Some(&sustained),
        None,
        &machine,
        "cargo test --bench compare",
        &options.plan,
        options.rounds,
    );
    for kind in IN_PROCESS {
        assert!(
            section.contains(&format!("| {} | ", kind.label())),
            "the table has no row for {}:\n{section}",
            kind.label()
        );
    }
    assert!(section.contains("**not evaluated**"), "{section}");
    assert!(
        section.contains("Sustained: the same append, 4 clients from second 0.1 to second 0.4")
            && section.contains("- relledger (gRPC, sled): "),
        "{section}"
    );
    sections_are_replaced_between_their_markers(dir.path(), &section);

    let svg = dir.path().join("chart.svg");
    chart(&results, &svg).expect("the chart is drawn");
    let drawn = std::fs::read_to_string(&svg).expect("the chart was written");
    assert!(drawn.starts_with("<svg"), "not an SVG: {drawn:.80}");
    for kind in IN_PROCESS {
        assert!(
            drawn.contains(kind.label()),
            "the chart's legend has no {}",
            kind.label()
        );
    }
    println!("compare: the short comparison measured every cell and wrote its report");
}

/// The section goes between the markers of the real docs/BENCHMARKS.md (a copy), leaving every
/// other byte as it was, and writing it twice changes nothing; a document without the markers
/// gets the section at its end.
fn sections_are_replaced_between_their_markers(dir: &Path, section: &str) {
    let original =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/BENCHMARKS.md"))
            .expect("docs/BENCHMARKS.md is readable");
    let begin = section.lines().next().expect("the section has lines");
    let end = section.lines().last().expect("the section has lines");
    let (before, _) = original
        .split_once(begin)
        .expect("the doc has the begin marker");
    let (_, after) = original
        .split_once(end)
        .expect("the doc has the end marker");

    let doc = dir.join("BENCHMARKS.md");
    std::fs::write(&doc, &original).expect("a copy of the doc");
    write_section(&doc, section).expect("the section is written");
    let written = std::fs::read_to_string(&doc).expect("the doc is readable");
    let after = after.strip_prefix('\n').unwrap_or(after);
    assert_eq!(written, format!("{before}{section}{after}"));
    write_section(&doc, section).expect("the section is written again");
    assert_eq!(std::fs::read_to_string(&doc).expect("readable"), written);

    let bare = dir.join("bare.md");
    std::fs::write(&bare, "# Benchmarks\n\nNothing yet.\n").expect("a bare doc");
    write_section(&bare, section).expect("the section is appended");
    assert_eq!(
        std::fs::read_to_string(&bare).expect("readable"),
        format!("# Benchmarks\n\nNothing yet.\n\n## Side by side (issue 5)\n\n{section}")
    );
}
