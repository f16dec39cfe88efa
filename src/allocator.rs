//! The allocator's settings. The binaries (and the benches that run a server in their process)
//! declare mimalloc as the global allocator; this tunes it for a server's pattern of use.

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set_default, mi_option_t};

/// mimalloc's `mi_option_purge_delay` (`mi_option_e` in mimalloc.h, the same number in its v2
/// and v3): libmimalloc-sys names only some options.
const PURGE_DELAY: mi_option_t = 15;

/// How long, in milliseconds, memory the process has freed stays mapped before mimalloc hands it
/// back to the system (mimalloc's default is 10; its arenas wait ten times as long).
pub const PURGE_DELAY_MS: c_long = 1_000;

/// Keeps freed memory for [`PURGE_DELAY_MS`] before returning it to the system, unless the
/// operator chose otherwise with `MIMALLOC_PURGE_DELAY`. Call it first thing in `main`, before
/// other threads allocate (mimalloc's options are not synchronized).
///
/// Why: the live projector builds and drops its page's vectors about once a second, and the
/// request path frees buffers in bursts; with mimalloc's 10 ms default that memory went back
/// to the system between pages and was faulted in (and zeroed) again by the next one. The cost
/// is that up to a second's worth of freed memory stays resident
/// (docs/decisions/0003-mimalloc-with-a-one-second-purge-delay.md).
pub fn keep_freed_memory() {
    // SAFETY: sets one option's value; it does not set one the environment already set.
    unsafe { mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) }
}

/// The purge delay mimalloc uses now, in milliseconds.
pub fn purge_delay_ms() -> c_long {
    // SAFETY: reads one option (and reads the environment for it the first time).
    unsafe { mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests;
