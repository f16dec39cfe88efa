//! Compares the log's index with fjall and redb holding the same two indexes: append rate,
//! lookup latency, resident memory and bytes on disk. Each engine runs in a child process of
//! its own (this binary with `--engine`), so that its resident memory is its own; the parent
//! prints one table. See README.md for the command.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use index_engines::{Workload, ENGINES, LOOKUPS};

// The server's allocator and its setting (src/main.rs), for every engine alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    workload: Workload,
    dir: PathBuf,
    engines: Vec<String>,
    engine: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        workload: Workload {
            accounts: 100_000,
            per_account: 200,
            group: 64,
            lookups: 100_000,
            flush_records: relledger::store::file::index_comparison::FLUSH_RECORDS,
        },
        dir: std::env::temp_dir().join("index-engines"),
        engines: ENGINES.iter().map(|e| e.to_string()).collect(),
        engine: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = || {
            value
                .replace('_', "")
                .parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number")))
        };
        match flag.as_str() {
            "--accounts" => args.workload.accounts = number(),
            "--per-account" => args.workload.per_account = number(),
            "--group" => args.workload.group = number().max(1),
            "--lookups" => args.workload.lookups = number().max(1),
            "--flush-records" => args.workload.flush_records = number(),
            "--dir" => args.dir = PathBuf::from(&value),
            "--engines" => args.engines = value.split(',').map(str::to_string).collect(),
            "--engine" => args.engine = Some(value),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: index-engines [--accounts 100000] [--per-account 200] [--group 64] \
         [--lookups 100000] [--flush-records 65536] [--dir DIR] [--engines relledger,fjall,redb]"
    );
    std::process::exit(2)
}

fn main() {
    relledger::allocator::keep_freed_memory();
    let args = parse_args();
    match &args.engine {
        Some(engine) => child(engine, &args),
        None => parent(&args),
    }
}

/// Runs one engine and prints its figures as one `RESULT` line.
fn child(engine: &str, args: &Args) {
    let dir = args.dir.join(engine);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the engine's dir");
    let workload = &args.workload;
    let run = || -> index_engines::Result<String> {
        let mut opened = index_engines::open(engine, &dir, workload)?;
        let (wall, finishing) = index_engines::append_all(opened.as_mut(), workload)?;
        let rate = workload.events() as f64 / wall.as_secs_f64();
        eprintln!("{engine}: appended in {wall:.1?} ({finishing:.1?} finishing), {rate:.0}/s");
        let disk = index_engines::disk_bytes(&dir);
        let latencies = index_engines::time_lookups(opened.as_ref(), workload)?;
        let (rss, hwm) = index_engines::resident_memory();
        let mut line = format!(
            "RESULT {engine} {:.3} {:.3} {rate:.0} {rss} {hwm} {disk}",
            wall.as_secs_f64(),
            finishing.as_secs_f64()
        );
        for latency in latencies {
            for d in [latency.p50, latency.p99, latency.max] {
                line.push_str(&format!(" {}", d.as_nanos()));
            }
        }
        drop(opened);
        Ok(line)
    };
    match run() {
        Ok(line) => println!("{line}"),
        Err(error) => {
            eprintln!("{engine}: {error}");
            std::process::exit(1);
        }
    }
}

fn parent(args: &Args) {
    let w = &args.workload;
    println!(
        "{} events: {} accounts x {}, groups of {} appends of one event, {} lookups of each kind; \
         relledger's memtable {} records",
        w.events(),
        w.accounts,
        w.per_account,
        w.group,
        w.lookups,
        w.flush_records
    );
    println!("load average at start: {}", load_average());
    let exe = std::env::current_exe().expect("this binary's path");
    let mut rows = Vec::new();
    for engine in &args.engines {
        let output = Command::new(&exe)
            .args(std::env::args().skip(1))
            .args(["--engine", engine])
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run an engine's process");
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
            Some(result) if output.status.success() => rows.push(result.to_string()),
            _ => {
                eprintln!("{engine} failed: {}", output.status);
                std::process::exit(1);
            }
        }
        let _ = std::fs::remove_dir_all(args.dir.join(engine));
    }
    println!("load average at end: {}", load_average());
    println!();
    print!("| engine | append: events/s | wall s (finishing) |");
    for kind in LOOKUPS {
        print!(" {kind}: p50 / p99 / max µs |");
    }
    println!(" VmRSS MiB | VmHWM MiB | disk MiB |");
    println!("|---|---|---|{}---|---|---|", "---|".repeat(LOOKUPS.len()));
    for row in rows {
        let f: Vec<&str> = row.split(' ').collect();
        let n = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        let mib = |i: usize| n(i) / (1024.0 * 1024.0);
        print!(
            "| {} | {} | {:.1} ({:.1}) |",
            f[0],
            thousands(n(3) as u64),
            n(1),
            n(2)
        );
        for kind in 0..LOOKUPS.len() {
            let at = 7 + kind * 3;
            let us = |i: usize| micros(Duration::from_nanos(n(i) as u64));
            print!(" {} / {} / {} |", us(at), us(at + 1), us(at + 2));
        }
        println!(" {:.0} | {:.0} | {:.0} |", mib(4), mib(5), mib(6));
    }
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10.0 {
        format!("{us:.1}")
    } else {
        thousands(us.round() as u64)
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
