//! What `relledger bench` measured: counts, throughput and latency percentiles, printed as a
//! text table or as one JSON document.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{FairnessReport, MixedReport};

/// A latency histogram in microseconds, from 1 µs to 10 minutes with 3 significant digits.
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records `elapsed` in `histogram`, saturating at its highest trackable value.
pub(super) fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros);
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// How many latencies were recorded.
    pub samples: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub(super) fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            samples: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// A hot account's stream after a contention run, read back from the server.
#[derive(Debug, Clone, Serialize)]
pub struct HotAccount {
    pub account_id: String,
    /// The revision of the stream's last event.
    pub final_revision: u64,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    /// The server's URL, or `self-started` for a server on a temp dir in this process.
    pub server: String,
    pub clients: usize,
    /// Wall time of the measured phase, in seconds.
    pub elapsed_secs: f64,
    /// Calls made in the measured phase: `ok + conflicts + errors`.
    pub requests: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Appends refused with ABORTED because the expected revision did not hold (contention).
    pub conflicts: u64,
    /// Calls that failed otherwise.
    pub errors: u64,
    /// The failed calls by status code.
    pub error_codes: BTreeMap<String, u64>,
    /// Events appended by the successful calls.
    pub events: u64,
    /// Successful calls per second.
    pub throughput_per_sec: f64,
    /// Appended events per second.
    pub events_per_sec: f64,
    /// Latency of every call, successful or not.
    pub latency_ms: Latency,
    /// Subscribe workload: subscribers following from the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<usize>,
    /// Subscribe workload: (event, subscriber) deliveries received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<u64>,
    /// Subscribe workload: deliveries expected but not received in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_deliveries: Option<u64>,
    /// Subscribe workload: from the writer seeing the append's ack to a subscriber receiving
    /// the event (0 when the event arrived first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_latency_ms: Option<Latency>,
    /// Contention workload: the events each account had before the measured phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening_events_per_account: Option<u64>,
    /// Contention workload: the hot accounts as read back after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hot_accounts: Option<Vec<HotAccount>>,
    /// Fairness workload: steady's latency unloaded and loaded, and the flood's counts. The
    /// fields above count steady's calls, both phases together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fairness: Option<FairnessReport>,
    /// Mixed workload: each kind of call, the subscriptions, the resident memory and the
    /// report over time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixed: Option<MixedReport>,
}

impl Report {
    /// The report as a text table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            ("workload".into(), self.workload.clone()),
            ("server".into(), self.server.clone()),
            ("clients".into(), self.clients.to_string()),
            ("elapsed".into(), format!("{:.2} s", self.elapsed_secs)),
            ("requests".into(), self.requests.to_string()),
            ("ok".into(), self.ok.to_string()),
        ];
        if self.workload == "contention" {
            rows.push(("conflicts (ABORTED)".into(), self.conflicts.to_string()));
        }
        let codes = self
            .error_codes
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push((
            "errors".into(),
            if codes.is_empty() {
                self.errors.to_string()
            } else {
                format!("{} ({codes})", self.errors)
            },
        ));
        rows.push((
            "throughput".into(),
            format!("{:.1} ok requests/s", self.throughput_per_sec),
        ));
        if self.events > 0 {
            rows.push((
                "events".into(),
                format!("{} ({:.1} events/s)", self.events, self.events_per_sec),
            ));
        }
        latency_rows(&mut rows, "latency", &self.latency_ms);
        if let (Some(subscribers), Some(deliveries)) = (self.subscribers, self.deliveries) {
            rows.push(("subscribers".into(), subscribers.to_string()));
            rows.push((
                "deliveries".into(),
                format!(
                    "{deliveries} ({} missing)",
                    self.missing_deliveries.unwrap_or(0)
                ),
            ));
        }
        if let Some(delivery) = &self.delivery_latency_ms {
            latency_rows(&mut rows, "ack->delivery", delivery);
        }
        if let Some(hot) = &self.hot_accounts {
            let opening = self.opening_events_per_account.unwrap_or(0);
            let appended: u64 = hot
                .iter()
                .map(|a| a.final_revision + 1 - opening.min(a.final_revision + 1))
                .sum();
            rows.push((
                "hot accounts".into(),
                format!("{} ({appended} events appended, read back)", hot.len()),
            ));
        }
        if let Some(fairness) = &self.fairness {
            fairness.rows(&mut rows);
        }
        if let Some(mixed) = &self.mixed {
            mixed.rows(&mut rows);
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            out.push_str(&format!("{key:<width$}  {value}\n"));
        }
        out
    }
}

pub(super) fn latency_rows(rows: &mut Vec<(String, String)>, what: &str, latency: &Latency) {
    rows.push((
        format!("{what} p50 / p90"),
        format!("{:.3} ms / {:.3} ms", latency.p50, latency.p90),
    ));
    rows.push((
        format!("{what} p99 / p99.9"),
        format!("{:.3} ms / {:.3} ms", latency.p99, latency.p99_9),
    ));
    rows.push((
        format!("{what} max / mean"),
        format!(
            "{:.3} ms / {:.3} ms ({} samples)",
            latency.max, latency.mean, latency.samples
        ),
    ));
}
