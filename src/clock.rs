//! The server's clock: the one place that reads the system time as a [`Timestamp`].
//!
//! The domain never reads a clock (time is passed in, so its answers are pure functions of
//! their inputs); the edges do, here: the writer dating a group (`recorded_at`), validation
//! bounding how far in the future an event may be dated, a query that names no instant, a
//! subscription's ack, a signed checkpoint and an export bundle.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::Timestamp;

/// The current system time; the epoch if the clock is before it, and the end of the range if it
/// is past 2262.
pub fn now() -> Timestamp {
    let nanos = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    Timestamp::from_unix_nanos(nanos)
}

#[cfg(test)]
mod tests;
