//! Instants as the domain sees them: whole nanoseconds since the Unix epoch, UTC.
//!
//! An integer instant keeps projections deterministic (no float clock) and round-trips the
//! wire's `google.protobuf.Timestamp` exactly for every instant between 1677 and 2262.

use serde::{Deserialize, Serialize};

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Nanoseconds in one day (86,400 s): the unit of every age in the scoring rules.
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// An instant: nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The instant `nanos` nanoseconds after the epoch (before it when negative).
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// The instant from whole seconds and a nanosecond part, as `google.protobuf.Timestamp`
    /// carries it; `None` when it falls outside the range an `i64` of nanoseconds holds.
    pub fn from_parts(seconds: i64, nanos: i32) -> Option<Self> {
        if !(0..NANOS_PER_SECOND as i32).contains(&nanos) {
            return None;
        }
        seconds
            .checked_mul(NANOS_PER_SECOND)
            .and_then(|n| n.checked_add(i64::from(nanos)))
            .map(Timestamp)
    }

    /// Whole seconds and the nanosecond part (always `0..1e9`), for the wire.
    pub fn to_parts(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(NANOS_PER_SECOND);
        let nanos = self.0.rem_euclid(NANOS_PER_SECOND) as i32;
        (seconds, nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// The day number since the epoch (floor), the basis of fixed N-day windows.
    pub const fn day_number(self) -> i64 {
        self.0.div_euclid(NANOS_PER_DAY)
    }

    /// This instant moved by `nanos` nanoseconds, saturating at the ends of the range.
    pub const fn plus_nanos(self, nanos: i64) -> Self {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// This instant moved by whole days, saturating at the ends of the range.
    pub const fn plus_days(self, days: i64) -> Self {
        Timestamp(self.0.saturating_add(days.saturating_mul(NANOS_PER_DAY)))
    }

    /// Calendar days from `earlier` to `self`: the difference of their UTC day numbers, so
    /// that everything dated on one day is the same number of days old.
    pub const fn calendar_days_since(self, earlier: Timestamp) -> i64 {
        self.day_number() - earlier.day_number()
    }

    /// Whole days from `earlier` to `self`: `floor((self - earlier) / 86400 s)`.
    pub fn days_since(self, earlier: Timestamp) -> i64 {
        match self.0.checked_sub(earlier.0) {
            Some(nanos) => nanos.div_euclid(NANOS_PER_DAY),
            // Instants more than 292 years apart: their difference needs 128 bits.
            None => (i128::from(self.0) - i128::from(earlier.0))
                .div_euclid(i128::from(NANOS_PER_DAY)) as i64,
        }
    }
}

#[cfg(test)]
mod tests;
