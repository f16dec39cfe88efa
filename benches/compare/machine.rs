//! What the figures were taken on, read from /proc and /sys: they mean nothing without it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Machine {
    pub date: String,
    pub cores: usize,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub disk: String,
    pub load_before: String,
    pub load_after: String,
    pub commit: String,
}

impl Machine {
    /// Reads the machine, with the data dir's disk and the load average now.
    pub fn read(data_dir: &Path) -> Machine {
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            date: today(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            memory,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            disk: disk_of(data_dir),
            load_before: load_average(),
            load_after: String::new(),
            commit,
        }
    }

    pub fn with_load_after(self, load_after: String) -> Machine {
        Machine { load_after, ..self }
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The filesystem that holds `dir`: its device, type, and whether the block device says it
/// is rotational.
fn disk_of(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    // /proc/self/mounts: device, mount point, type, ...; the longest mount point that
    // contains the dir is its filesystem.
    let mounts = read("/proc/self/mounts");
    let best = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && dir.starts_with(f[1])).then(|| (f[0], f[1], f[2]))
        })
        .max_by_key(|(_, point, _)| point.len());
    let Some((device, point, kind)) = best else {
        return "unknown".into();
    };
    let name = device.rsplit('/').next().unwrap_or(device);
    let block = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let rotational = [name, block]
        .iter()
        .find_map(|n| std::fs::read_to_string(format!("/sys/block/{n}/queue/rotational")).ok())
        .map(|r| match r.trim() {
            "0" => ", non-rotational",
            "1" => ", rotational",
            _ => "",
        })
        .unwrap_or("");
    format!("{device} ({kind} on {point}{rotational})")
}

/// Today's date (UTC), from the civil-from-days algorithm (no date crate for one line).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m) = ((secs % 86_400) / 3_600, (secs % 3_600) / 60);
    format!("{year}-{month:02}-{day:02} {h:02}:{m:02} UTC")
}
