//! The thread the projector's folds run on: its own, at a lower CPU priority than the threads
//! that serve requests and write the log.
//!
//! Folds are derived work, and a page's folds can take a core for milliseconds (a summary is
//! evaluated over every event of its account). On the blocking pool they competed with the request path as equals,
//! and on a busy machine the milliseconds they took showed in the appends' tail latency. At a
//! nice value ten above the server's the kernel gives the thread about a tenth of the weight of
//! a request thread while they compete, and whatever CPU nothing else wants. (RocksDB lowers the
//! priority of its compaction threads for the same reason.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

/// Work handed to the thread.
type Job = Box<dyn FnOnce() + Send>;

/// How much lower than the server's own threads the fold thread runs, in nice values.
const NICER_BY: i32 = 10;

/// The fold thread; it ends when this is dropped.
pub(super) struct FoldThread {
    jobs: mpsc::Sender<Job>,
}

impl FoldThread {
    /// Starts the thread.
    pub(super) fn start() -> std::io::Result<FoldThread> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("relledger-fold".into())
            .spawn(move || {
                lower_priority();
                // Ends when the sender, owned by the projector, is dropped.
                for job in queue {
                    job();
                }
            })?;
        Ok(FoldThread { jobs })
    }

    /// Runs `work` on the thread, after the work handed to it before: its result, or `None`
    /// if it panicked (the thread goes on with the next job).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(catch_unwind(AssertUnwindSafe(work)).ok());
        });
        self.jobs.send(job).ok()?;
        answer.await.ok().flatten()
    }
}

/// Raises the calling thread's nice value by [`NICER_BY`] (at most to 19). On Linux a nice
/// value is a thread's own, so this leaves the rest of the process as it was.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let thread = Some(rustix::thread::gettid());
    let lowered = getpriority_process(thread)
        .and_then(|nice| setpriority_process(thread, (nice + NICER_BY).min(19)));
    if let Err(error) = lowered {
        tracing::warn!(%error, "could not lower the fold thread's priority: it runs at the server's");
    }
}

/// Elsewhere the thread runs at the process's priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests;
