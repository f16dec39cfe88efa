//! The write path's steps, and the seam where a test stops it at one of them as a crash would.
//!
//! A crash can come between any two steps of a group commit or of a clean close, and what the
//! next open finds depends on which. The steps are named here, in the order the writer takes
//! them, and the writer reports each one to an optional hook ([`CrashHook`], `None` outside
//! tests: one `Option` check per step). When the hook answers [`Crashed`], the writer stops
//! as a process that died there would: nothing more reaches the files (the log refuses every
//! later append and does not close cleanly, so no index run or `MANIFEST` is written after
//! it), and no append of the group is answered unless the step comes after the answers. The
//! files then hold exactly what that crash would leave; a test may change them further, from
//! the hook, to model what a power loss at that step could also lose (`tests/crash_steps`).

use std::sync::Mutex;

use super::Shared;
use crate::store::StoreError;

/// A step of the write path, named by what has just been done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A group's frames are written to `log/records`, not yet synced.
    FramesWritten,
    /// The group's offsets are written to `log/offsets`, not yet synced.
    OffsetsWritten,
    /// `log/records` is `fdatasync`ed: the group is durable, but not yet indexed.
    RecordsSynced,
    /// The group's index entries are in the memtable; the head has not moved and no append of
    /// the group is answered.
    Indexed,
    /// The group's appends are answered: acknowledged, so a crash from here on must keep them.
    Answered,
    /// Zeros are prepared and synced past the records (`RecordFiles::prepare`).
    SpacePrepared,
    /// `log/offsets` is synced, so that the memtable can be written as an index run (between
    /// groups when it is full, or at a clean close).
    OffsetsSynced,
    /// At a clean close, the memtable is written as an index run.
    RunWritten,
    /// At a clean close, the small stores are flushed and the `MANIFEST` is about to be
    /// replaced by one recording the head.
    ManifestWriting,
}

/// What a [`CrashHook`] answers to stop the writer at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crashed;

/// Told each [`Step`] as the writer reaches it; [`Crashed`] stops the writer there.
pub(crate) type CrashHook = Box<dyn FnMut(Step) -> Result<(), Crashed> + Send>;

/// The hook of a log, if it has one. A mutex, because the writer thread reports the steps of
/// the group commits and the close, and the dropping thread the `MANIFEST`'s.
pub(crate) type Crashes = Option<Mutex<CrashHook>>;

impl Shared {
    /// Reports `step` to the crash hook, if there is one: an error when the hook stops the
    /// writer there, which the writer handles as a failed write (it refuses every later
    /// append and skips the clean close, as a dead process would).
    pub(crate) fn reached(&self, step: Step) -> Result<(), StoreError> {
        let Some(hook) = &self.crashes else {
            return Ok(());
        };
        let mut hook = hook.lock().unwrap_or_else(|e| e.into_inner());
        (*hook)(step).map_err(|Crashed| {
            StoreError::Unavailable(format!("the writer stopped as a crash would, at {step:?}"))
        })
    }
}
