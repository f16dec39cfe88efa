//! The server's log: `tracing` events to stderr, filtered by `RUST_LOG` (`info` when unset),
//! and, with `--otlp-endpoint`, its RPCs' spans exported as OpenTelemetry traces.
//!
//! Every RPC has a span (tonic's `trace_fn` in `server`, and one per handler), at DEBUG: with
//! the fmt subscriber an enabled span formats and stores its fields when it opens and again
//! when a field is recorded, whether or not anything is logged inside it, and at INFO those two
//! spans per request cost the binary 6 to 8% of its appends at 64 clients (measured with
//! `relledger bench --workload append1 --clients 64` against `relledger serve` at `RUST_LOG=info`
//! and `warn`). tower-http's request spans default to DEBUG for the same reason.
//! `RUST_LOG=relledger=debug` shows them.
//!
//! Each output has its own filter: the traces take relledger's spans (not its events) at DEBUG
//! whatever `RUST_LOG` says of the log, and without `--otlp-endpoint` nothing is enabled for
//! them.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Whether traces are exported: without, an RPC reads no `traceparent`.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Why the traces cannot be exported.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to {endpoint}: {reason}")]
pub struct TracingError {
    endpoint: String,
    reason: String,
}

/// What `init` started; [`Logging::shutdown`] sends the spans not yet exported.
#[must_use]
pub struct Logging {
    traces: Option<SdkTracerProvider>,
}

impl Logging {
    /// Exports the spans still buffered (the batch exporter sends every few seconds).
    pub fn shutdown(self) {
        if let Some(traces) = self.traces {
            if let Err(error) = traces.shutdown() {
                eprintln!("the last traces were not exported: {error}");
            }
        }
    }
}

/// Sends the process's `tracing` output to stderr, as `relledger serve` logs. Does nothing if
/// the process already has a subscriber (a bench that runs the server in its own process).
pub fn log_to_stderr() {
    install(None);
}

/// The log to stderr and, given an OTLP/gRPC endpoint (`http://collector:4317`), the RPCs'
/// spans exported to it, continuing the W3C `traceparent` a request carries (see
/// [`continue_trace`]). Must run inside the Tokio runtime: the exporter's channel lives there.
pub fn init(otlp_endpoint: Option<&str>) -> Result<Logging, TracingError> {
    let traces = match otlp_endpoint {
        None => None,
        Some(endpoint) => {
            let error = |reason: String| TracingError {
                endpoint: endpoint.to_string(),
                reason,
            };
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| error(e.to_string()))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(Resource::builder().with_service_name("relledger").build())
                .build();
            opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
            EXPORTING.store(true, Ordering::Relaxed);
            Some(provider)
        }
    };
    install(traces.as_ref());
    Ok(Logging { traces })
}

/// Installs the subscriber, unless the process has one: the fmt layer under `RUST_LOG`, and
/// the traces' layer when `traces` is given.
fn install(traces: Option<&SdkTracerProvider>) {
    let env_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let Some(traces) = traces else {
        // The log alone: one global filter, which spares every disabled span and event the
        // per-layer filters' bookkeeping.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(env_filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
        return;
    };
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(env_filter());
    let traces = {
        tracing_opentelemetry::layer()
            .with_tracer(traces.tracer("relledger"))
            // Spans only: relledger's DEBUG events stay out of the traces, as out of the log.
            .with_filter(filter_fn(|meta| {
                meta.is_span()
                    && meta.target().starts_with("relledger")
                    && *meta.level() <= tracing::Level::DEBUG
            }))
    };
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .try_init();
}

/// Makes `span` (an RPC's) a child of the trace that `headers` carry in W3C `traceparent`,
/// when they carry one and traces are exported.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    });
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The ids an append made under the current span records in its events' metadata (see
/// `domain::CORRELATION_ID`): the trace's id, and the caller's span when its request carried
/// a `traceparent` (the header's value). `None` when no trace is exported.
pub fn trace_ids(traceparent: Option<&str>) -> Option<(String, Option<String>)> {
    if !EXPORTING.load(Ordering::Relaxed) {
        return None;
    }
    let current = tracing::Span::current().context();
    let trace = current.span().span_context().trace_id();
    if trace == opentelemetry::trace::TraceId::INVALID {
        return None;
    }
    let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Traceparent(traceparent))
    });
    let caller = caller.span().span_context().clone();
    let caller = caller.is_valid().then(|| caller.span_id().to_string());
    Some((trace.to_string(), caller))
}

/// A `traceparent` header alone, as the propagator reads it.
struct Traceparent<'a>(Option<&'a str>);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.filter(|_| key == "traceparent")
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The headers of a request, as the propagator reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
