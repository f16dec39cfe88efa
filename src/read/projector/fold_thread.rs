//! The thread the projector's folds run on: its own, at a lower CPU priority than the threads
//! that serve requests and write the log.
//!
//! Folds are derived work, and a page's folds can take a core for milliseconds (a fold is of an
//! account's whole history). On the blocking pool they competed with the request path as equals,
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
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_thread_and_a_panic_is_reported_not_fatal() {
        let thread = FoldThread::start().unwrap();
        let here = std::thread::current().id();
        let ran_on = thread.run(|| std::thread::current().id()).await.unwrap();
        assert_ne!(ran_on, here);
        assert_eq!(thread.run(|| -> u32 { panic!("a bad fold") }).await, None);
        assert_eq!(
            thread.run(|| 6 * 7).await,
            Some(42),
            "still serving after a panic"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_thread_runs_nicer_than_the_rest_of_the_process() {
        use rustix::process::getpriority_process;
        let nice = || getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let ours = nice();
        let theirs = FoldThread::start().unwrap().run(nice).await.unwrap();
        assert_eq!(theirs, (ours + NICER_BY).min(19));
        assert_eq!(nice(), ours, "the caller's own priority is unchanged");
    }
}
