//! The walk over every account that lists, the portfolio and the gift register take: the
//! accounts in id order from `Log::accounts`, each account's history read and folded on its own.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::{occurred, Cut};
use crate::domain::{AccountId, AccountScope, RecordedEvent, Timestamp};
use crate::ledger::LedgerError;
use crate::store::{Direction, Log, StoreError};

/// One account's events that `cut` admits, in stream order.
pub(super) async fn read_account(
    log: &dyn Log,
    account: &AccountId,
    cut: &Cut,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let cut = *cut;
    log.read_stream(account, None, Direction::Forwards, None)
        .try_filter(move |r| futures::future::ready(cut.admits(r)))
        .try_collect()
        .await
}

/// How many accounts a walk over every account asks the log for at once.
const ACCOUNTS_PAGE: usize = 256;
/// How many accounts a walk reads and folds at once.
const READ_AHEAD: usize = 4;

/// Folds, with `fold`, the events `cut` admits of every account that has some, in id order, a
/// few accounts at a time (read from the log, folded on the blocking pool): a walk over a
/// ledger of any size holds a few accounts' histories at once, never the log. The histories
/// cache is left alone, so that one walk does not evict what live questions keep asking for.
pub(super) fn walk<T: Send + 'static>(
    log: &Arc<dyn Log>,
    cut: Cut,
    scope: AccountScope,
    fold: impl Fn(&AccountId, &[RecordedEvent]) -> T + Send + Sync + 'static,
) -> BoxStream<'static, Result<T, LedgerError>> {
    let fold = Arc::new(fold);
    let pages = stream::try_unfold(
        (Arc::clone(log), None::<AccountId>),
        |(log, after)| async move {
            let page = log.accounts(after.as_ref(), ACCOUNTS_PAGE).await?;
            let last = page.last().cloned();
            Ok::<_, StoreError>(last.map(|last| (page, (log, Some(last)))))
        },
    );
    let log = Arc::clone(log);
    pages
        .map_err(LedgerError::from)
        .map_ok(move |page| {
            let (log, fold) = (Arc::clone(&log), Arc::clone(&fold));
            // Accounts outside the caller's scope are skipped before their history is read.
            let page: Vec<AccountId> = page.into_iter().filter(|a| scope.covers(a)).collect();
            stream::iter(page)
                .map(move |account| {
                    let (log, fold) = (Arc::clone(&log), Arc::clone(&fold));
                    async move {
                        let events = read_account(&*log, &account, &cut).await?;
                        if events.is_empty() {
                            return Ok(None);
                        }
                        blocking_fold(move || fold(&account, &events))
                            .await
                            .map(Some)
                    }
                })
                .buffered(READ_AHEAD)
        })
        .try_flatten()
        .try_filter_map(|folded| futures::future::ready(Ok(folded)))
        .boxed()
}

/// The newest `occurred_at` of `events`.
pub(super) fn newest(events: &[RecordedEvent]) -> Option<Timestamp> {
    occurred(events).max()
}

/// Runs a fold on the blocking pool: a fold of a long history takes milliseconds of CPU, and on
/// a runtime worker it would hold up the requests queued behind it. At most
/// [`fold_slots`] folds run at once, whatever the number of questions: the blocking pool
/// starts a thread for every task that finds none idle (up to 512), and a soak of concurrent
/// lists grew the server to 238 threads and 1.9 GiB, each thread holding a history and its
/// allocator's pages (docs/BENCHMARKS-ACCESS.md, "Soak"), for no more CPU than the cores give.
pub(super) async fn blocking_fold<T: Send + 'static>(
    fold: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LedgerError> {
    let unavailable = |why: String| LedgerError::from(StoreError::Unavailable(why));
    let _slot = fold_slots()
        .acquire()
        .await
        .map_err(|e| unavailable(format!("no projection slot: {e}")))?;
    tokio::task::spawn_blocking(fold)
        .await
        .map_err(|e| unavailable(format!("a projection task failed: {e}")))
}

/// The folds that may run at once: two per core, so that a fold waiting for memory or a page
/// fault leaves its core to another.
fn fold_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(fold_slot_count()))
}

fn fold_slot_count() -> usize {
    2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests;
