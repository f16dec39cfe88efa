//! When the projector reads its next page: its live loop ([`Projector::run`]), which paces
//! itself while it keeps up, catches up at once when it starts or falls far behind, and backs
//! off after a failed page.

use std::future::Future;

use tokio::sync::watch;

use super::{page, Projector, PACED_BACKLOG, PAGE};

/// What the projector does after a page (see [`next_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read the next page at once: catching up.
    Next,
    /// Wait [`pace_after`] the page's duration, then read the next page: there is more, but
    /// the projector keeps up, and what is appended meanwhile joins that page.
    PaceThenNext,
    /// Wait for the head to move, then [`pace_after`] the page's duration: at the head.
    AwaitHead,
}

/// What follows a page of `projected` records, when `live` (the projector has reached the head
/// since it started or since it last fell [`PACED_BACKLOG`] behind) and `backlog` records remain
/// past it.
///
/// A full page is not in itself a reason to hurry: under a steady stream of appends a paced
/// projector finds a full page after every wait, and without pacing it then refolded every
/// account for every 1,024 records, half of a core at 64 append clients. It catches up at full
/// speed only when it starts behind (a restart) or falls [`PACED_BACKLOG`] behind.
pub fn next_step(projected: u64, live: bool, backlog: u64) -> Step {
    if projected < PAGE {
        Step::AwaitHead
    } else if live && backlog <= PACED_BACKLOG {
        Step::PaceThenNext
    } else {
        Step::Next
    }
}

/// While it keeps up, the projector waits up to this many times as long as its last page took
/// before it reads the next one (see [`pace_after`]), so it spends at most about a tenth of
/// the time projecting the accounts appended to again and again.
pub const PACE_DUTY: u32 = 9;
/// The shortest such wait: even pages of cheap folds let a burst of appends gather, so that
/// a hot account is not refolded once per append.
pub const PACE_LEAST: std::time::Duration = std::time::Duration::from_millis(1);
/// The longest such wait: a bound on how far the change feed lags behind the log on account
/// of pacing, for accounts whose fold takes longer than a tenth of it.
pub const PACE_MOST: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the projector waits, after the head moves, before it reads the next page, given
/// that its last page's work took `last_page` (see [`page_work`]) and that `repeated` (0 to 1)
/// of the accounts it folded had been folded by the page before it too: from once that
/// (none repeated) to [`PACE_DUTY`] times it (all repeated), within
/// [`PACE_LEAST`]..=[`PACE_MOST`].
///
/// Why: a summary is evaluated once per account per page. Without a wait, a projector that
/// keeps up reads each append as a page of its own and summarizes the account for it, so with
/// one client appending to one stream its cost per append grows with the stream, on the cores
/// the appends need (it was a fifth of the server's CPU at 64 clients, and most of a core at
/// one). With the wait, the appends to one account that arrive meanwhile share one fold: the
/// longer the fold, the more of them. But the wait saves nothing when every append is to an
/// account not folded lately (appends spread over many accounts): each is folded once
/// whatever the page, and the wait only delays its change. So the wait grows with the share
/// of accounts folded again, which is what the last two pages show; once the page's duration
/// keeps the share of time spent on pages under a half.
pub fn pace_after(last_page: std::time::Duration, repeated: f64) -> std::time::Duration {
    let multiple = 1.0 + f64::from(PACE_DUTY - 1) * share(repeated);
    let wait = last_page.as_secs_f64() * multiple;
    if wait >= PACE_MOST.as_secs_f64() {
        return PACE_MOST;
    }
    std::time::Duration::from_secs_f64(wait).clamp(PACE_LEAST, PACE_MOST)
}

/// What is left of the wait `pace` when the head moves `idle` after the last page ended: the
/// next page starts no sooner than `pace` after the last one, which bounds the projector's
/// share of the time whatever the appends do, but an idle spell counts toward it. Counted
/// from the head's move instead, the pace of a catch-up's last, long page (up to
/// [`PACE_MOST`]) delayed the first appends after it by as much, however long the log had
/// been quiet, while the pages that followed took a few milliseconds.
pub fn pace_left(pace: std::time::Duration, idle: std::time::Duration) -> std::time::Duration {
    pace.saturating_sub(idle)
}

/// What the wait after a page is a multiple of (see [`pace_after`]): the page's duration,
/// less the share of its time in the snapshot store (`in_store`) that its accounts were not
/// folded again (`1 - repeated`). When the same accounts are appended to again, the wait is
/// there to merge their folds, and the whole page, commit included, is what a page costs.
/// When they are not, the wait only keeps pages from following each other back to back, and a
/// stall of the store (a slow write took a page from a few milliseconds to 70) stretched it,
/// and delayed the next page's changes, as much again.
pub fn page_work(
    page: std::time::Duration,
    in_store: std::time::Duration,
    repeated: f64,
) -> std::time::Duration {
    page.saturating_sub(in_store.min(page).mul_f64(1.0 - share(repeated)))
}

/// `repeated` as a share from 0 to 1; one not known (NaN) counts as all repeated, the
/// cautious pace.
fn share(repeated: f64) -> f64 {
    if repeated.is_nan() {
        1.0
    } else {
        repeated.clamp(0.0, 1.0)
    }
}

/// The first wait before a failed page is projected again when the log does not move.
pub const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
/// The longest wait between two attempts at a failing page.
pub const RETRY_MOST: std::time::Duration = std::time::Duration::from_secs(30);

impl Projector {
    /// Catches up, then again whenever the log's head moves, until `shutdown` completes; a
    /// page in progress is abandoned at shutdown (nothing of it is committed, and the next
    /// start projects it again). An error is logged and the page retried when the head next
    /// moves or after a backoff (from [`RETRY_FIRST`], doubling up to [`RETRY_MOST`]),
    /// whichever comes first: projections are derived data, and a failed page is simply
    /// projected again, but a quiet log must not leave them stuck behind it.
    ///
    /// After a page that reached the head, the next one is read when the head moves, but no
    /// sooner than [`pace_after`] the last page's duration after that page ([`pace_left`]), so
    /// that the appends of that interval are judged together; after a full page, [`next_step`]
    /// says whether to pace or catch up at once.
    pub async fn run(
        &self,
        head: watch::Receiver<crate::store::LogHead>,
        shutdown: impl Future<Output = ()>,
    ) {
        // Both loops end with the one shutdown.
        let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
        tokio::join!(
            self.follow(head, shutdown.clone()),
            self.keep_rows(shutdown)
        );
    }

    /// The projector's pages, paced (see [`Projector::run`]).
    async fn follow(
        &self,
        mut head: watch::Receiver<crate::store::LogHead>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut retry_in = RETRY_FIRST;
        let mut pace = PACE_LEAST;
        // Whether it has reached the head since it started (or last fell far behind).
        let mut live = false;
        loop {
            let started = std::time::Instant::now();
            let page = tokio::select! {
                _ = &mut shutdown => return,
                page = self.project_page_folded() => page,
            };
            let retry = match page {
                Ok(page::Projected {
                    records: projected,
                    repeated,
                    in_store,
                }) => {
                    retry_in = RETRY_FIRST;
                    let next = self.progress.borrow().map_or(0, |p| p + 1);
                    let backlog = head.borrow().next_position.saturating_sub(next);
                    let step = next_step(projected, live, backlog);
                    live = step != Step::Next;
                    if projected > 0 {
                        pace =
                            pace_after(page_work(started.elapsed(), in_store, repeated), repeated);
                    }
                    match step {
                        Step::Next => continue,
                        Step::PaceThenNext => {
                            tokio::select! {
                                _ = &mut shutdown => return,
                                _ = tokio::time::sleep(pace) => continue,
                                _ = self.nudge.notified() => continue,
                            }
                        }
                        Step::AwaitHead => None,
                    }
                }
                Err(error) => {
                    tracing::error!(%error, retry_in = ?retry_in, "the projector could not project a page; retrying");
                    let wait = retry_in;
                    retry_in = (retry_in * 2).min(RETRY_MOST);
                    Some(wait)
                }
            };
            let backoff = async {
                match retry {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            let ended = std::time::Instant::now();
            let moved = tokio::select! {
                _ = &mut shutdown => return,
                moved = head.changed() => if moved.is_err() { return } else { true },
                _ = backoff => false,
            };
            if moved {
                // Let the appends that follow this one join its page (see `pace_after`), unless a
                // question waits for the head.
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(pace_left(pace, ended.elapsed())) => {}
                    _ = self.nudge.notified() => {}
                }
            }
        }
    }
}
