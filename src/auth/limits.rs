//! How much of the server one principal may take: a token bucket for appends and one for
//! reads, and a cap on the streams it holds open at once.
//!
//! Appends and reads are counted apart so that a dashboard's reads cannot use up a writer's
//! appends, nor the reverse. A bucket refills continuously at its rate up to its burst; a
//! request takes one token or is refused `RESOURCE_EXHAUSTED` with the wait until a token is
//! there (`google.rpc.RetryInfo`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Appends per second a principal may make by default: a busy integration's steady load, and
/// about a tenth of what the writer takes from all clients together on a two-core machine, so
/// that one principal at its limit leaves the others' latency within a few times its own
/// (docs/BENCHMARKS-ACCESS.md, "Fairness"). Raise it per principal for bulk loads.
pub const DEFAULT_APPENDS_PER_SECOND: u32 = 500;
/// Appends a principal may make at once after a quiet spell, by default.
pub const DEFAULT_APPEND_BURST: u32 = 1_000;
/// Reads (every other unary call and every stream opened) per second, by default.
pub const DEFAULT_READS_PER_SECOND: u32 = 5_000;
/// Reads a principal may make at once after a quiet spell, by default.
pub const DEFAULT_READ_BURST: u32 = 10_000;
/// Streams (reads, subscriptions, change feeds, replays) one principal may hold open at once,
/// by default: each holds a task and a buffer on the server for as long as it is open.
pub const DEFAULT_MAX_STREAMS: u32 = 64;

/// A principal's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Appends per second.
    pub appends_per_second: u32,
    /// Appends at once.
    pub append_burst: u32,
    /// Reads per second.
    pub reads_per_second: u32,
    /// Reads at once.
    pub read_burst: u32,
    /// Streams open at once.
    pub max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            appends_per_second: DEFAULT_APPENDS_PER_SECOND,
            append_burst: DEFAULT_APPEND_BURST,
            reads_per_second: DEFAULT_READS_PER_SECOND,
            read_burst: DEFAULT_READ_BURST,
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }
}

/// A principal's limits as the auth file gives them: each one missing takes its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsEntry {
    /// Appends per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appends_per_second: Option<u32>,
    /// Appends at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_burst: Option<u32>,
    /// Reads per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_per_second: Option<u32>,
    /// Reads at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_burst: Option<u32>,
    /// Streams open at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<u32>,
}

impl LimitsEntry {
    /// The limits, defaults filled in; every one must be at least 1 (a principal that may do
    /// nothing should lose its role instead).
    pub fn resolve(&self) -> Result<Limits, String> {
        let defaults = Limits::default();
        let pick = |value: Option<u32>, default: u32, name: &str| match value {
            Some(0) => Err(format!("limit {name} must be at least 1")),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        Ok(Limits {
            appends_per_second: pick(
                self.appends_per_second,
                defaults.appends_per_second,
                "appends_per_second",
            )?,
            append_burst: pick(self.append_burst, defaults.append_burst, "append_burst")?,
            reads_per_second: pick(
                self.reads_per_second,
                defaults.reads_per_second,
                "reads_per_second",
            )?,
            read_burst: pick(self.read_burst, defaults.read_burst, "read_burst")?,
            max_streams: pick(self.max_streams, defaults.max_streams, "max_streams")?,
        })
    }
}

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// An append.
    Append,
    /// Any other unary call.
    Read,
    /// A stream: counted as a read when opened, and against the open streams while it lasts.
    Stream,
}

/// A principal over one of its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("principal {principal:?} is over its limit of {limit}; retry in {} ms", retry_after.as_millis())]
pub struct Limited {
    /// The principal.
    pub principal: String,
    /// The limit, as the auth file names it, with its value (`appends_per_second = 2000`).
    pub limit: String,
    /// When a retry may succeed.
    pub retry_after: Duration,
}

/// The per-principal state of the limits.
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    state: Arc<Mutex<HashMap<String, PrincipalState>>>,
}

#[derive(Debug)]
struct PrincipalState {
    appends: Bucket,
    reads: Bucket,
    open_streams: u32,
}

impl Limiter {
    /// Takes what a request of `class` from `principal` costs, or says which limit it is over.
    /// A stream's permit must be held as long as the stream is open.
    pub fn admit(
        &self,
        principal: &str,
        limits: &Limits,
        class: Class,
    ) -> Result<Option<StreamPermit>, Limited> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state
            .entry(principal.to_string())
            .or_insert_with(|| PrincipalState {
                appends: Bucket::full(limits.append_burst, now),
                reads: Bucket::full(limits.read_burst, now),
                open_streams: 0,
            });
        let limited = |limit: String, retry_after: Duration| Limited {
            principal: principal.to_string(),
            limit,
            retry_after,
        };
        if class == Class::Stream && entry.open_streams >= limits.max_streams {
            // No rate says when a stream closes; a second is a polite first wait.
            return Err(limited(
                format!("max_streams = {}", limits.max_streams),
                Duration::from_secs(1),
            ));
        }
        let (bucket, rate, burst, name) = match class {
            Class::Append => (
                &mut entry.appends,
                limits.appends_per_second,
                limits.append_burst,
                "appends_per_second",
            ),
            Class::Read | Class::Stream => (
                &mut entry.reads,
                limits.reads_per_second,
                limits.read_burst,
                "reads_per_second",
            ),
        };
        bucket
            .take(now, rate, burst)
            .map_err(|wait| limited(format!("{name} = {rate}"), wait))?;
        if class != Class::Stream {
            return Ok(None);
        }
        entry.open_streams += 1;
        Ok(Some(StreamPermit {
            state: Arc::clone(&self.state),
            principal: principal.to_string(),
        }))
    }
}

/// One open stream of a principal; dropping it closes the stream's place.
#[derive(Debug)]
pub struct StreamPermit {
    state: Arc<Mutex<HashMap<String, PrincipalState>>>,
    principal: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = state.get_mut(&self.principal) {
            entry.open_streams = entry.open_streams.saturating_sub(1);
        }
    }
}

/// A token bucket, refilled by the time since it was last looked at.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            updated: now,
        }
    }

    /// Takes a token, or gives the wait until one is there.
    fn take(&mut self, now: Instant, rate: u32, burst: u32) -> Result<(), Duration> {
        let rate = f64::from(rate.max(1));
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst.max(1)));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}
