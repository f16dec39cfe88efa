//! When the writer holds a short group back for a moment, so that more appends join it.
//!
//! The writer takes whatever appends are waiting when it is free. Under many concurrent
//! clients that makes groups of very uneven size: after a large group is answered, its clients'
//! next appends come back one by one while the CPU works through them, and the writer, free,
//! commits the first one alone. A group of one costs the writer as much as a group of twenty
//! (two writes, an `fdatasync`, and on a VM two exits to the hypervisor for the disk's doorbell);
//! (docs/decisions/0010-gathering-a-short-group.md).
//!
//! So when the groups have lately been large (the log is busy) and this one is short of half
//! the usual size, the writer waits in short steps, up to [`GATHER_MOST`], for the appends on
//! their way. With few clients the groups are small, the log is not busy and nothing waits: a
//! single client's append is committed as soon as it arrives.

use std::time::Duration;

/// How large groups must usually be (their running average) before a short one is held back.
const BUSY: f64 = 8.0;
/// How long the writer sleeps before it looks again for appends to add to a short group.
pub(crate) const GATHER_STEP: Duration = Duration::from_micros(25);
/// The longest a group is held back: a small share of an `fdatasync` (0.1 to 0.5 ms on the bench
/// machine), and of a 64-client append's latency (about 2 ms).
const GATHER_MOST: Duration = Duration::from_micros(100);
/// The weight of the newest group in the running average: about the last 16 groups count.
const WEIGHT: f64 = 1.0 / 16.0;

/// Makes the calling thread's sleeps end within a microsecond of when they are due: Linux
/// lets a sleep of a normal thread run 50 µs late by default (its timer slack), which would
/// double [`GATHER_STEP`]. The writer thread calls it once.
pub(crate) fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1_000)) {
        tracing::debug!(%error, "could not shorten the writer thread's timer slack");
    }
}

/// The running average of the groups' sizes, and what it says about the next group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gathering {
    usual: f64,
}

impl Gathering {
    pub(crate) fn new() -> Gathering {
        Gathering { usual: 1.0 }
    }

    /// Whether a group of `size` appends, held back for `waited` so far, should wait
    /// [`GATHER_STEP`] more for others to join it.
    pub(crate) fn should_wait(&self, size: usize, waited: Duration) -> bool {
        self.usual >= BUSY && (size as f64) * 2.0 < self.usual && waited < GATHER_MOST
    }

    /// Counts a committed group of `size` appends.
    pub(crate) fn committed(&mut self, size: usize) {
        self.usual += (size as f64 - self.usual) * WEIGHT;
    }

    /// The running average of the groups' sizes.
    #[cfg(test)]
    pub(crate) fn usual(&self) -> f64 {
        self.usual
    }
}

#[cfg(test)]
mod tests;
