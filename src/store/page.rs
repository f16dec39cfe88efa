//! Lazy reads in pages, shared by the backends.
//!
//! A read visits a range of indexes (positions of the global log, or revisions of one stream)
//! fixed when the read starts: records committed after that are not part of it. The range is
//! fetched a page at a time. While the consumer takes the records of one page, the next is
//! fetched (a backend whose reads may wait for a disk reads it in the background, so that the
//! consumer's work on the records, such as encoding and sending them, runs beside the wait);
//! never more than that one, so a consumer that stops polling stops the reading and a long
//! read holds at most two pages in memory.

use std::future::Future;
use std::ops::Range;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use futures::FutureExt;

use super::{Direction, StoreError};
use crate::domain::RecordedEvent;

/// How many indexes one page visits.
pub(crate) const PAGE_LEN: u64 = super::READ_PAGE_LEN;

/// What remains of a read.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// The lowest index not yet visited.
    lo: u64,
    /// One past the highest index not yet visited.
    hi: u64,
    /// Which end the next page comes from.
    direction: Direction,
    /// How many more records the caller wants (`None`: all).
    remaining: Option<u64>,
}

impl Scan {
    /// A read of the indexes below `end` (the committed length when the read starts) from
    /// `from` (inclusive; `None`: the start forwards or the end backwards) in `direction`,
    /// returning at most `limit` records. Reading backwards from past the end starts at the end.
    pub(crate) fn new(
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        end: u64,
    ) -> Scan {
        let (lo, hi) = match direction {
            Direction::Forwards => (from.unwrap_or(0).min(end), end),
            Direction::Backwards => (0, from.map_or(end, |f| f.saturating_add(1).min(end))),
        };
        Scan {
            lo,
            hi,
            direction,
            remaining: limit,
        }
    }

    /// The next page of indexes to visit, or `None` when the read is done. The range is
    /// ascending; the page is to be read in the scan's direction.
    fn next_page(&mut self) -> Option<Range<u64>> {
        if self.lo >= self.hi || self.remaining == Some(0) {
            return None;
        }
        let page = match self.direction {
            Direction::Forwards => {
                let page = self.lo..self.hi.min(self.lo.saturating_add(PAGE_LEN));
                self.lo = page.end;
                page
            }
            Direction::Backwards => {
                let page = self.hi.saturating_sub(PAGE_LEN).max(self.lo)..self.hi;
                self.hi = page.start;
                page
            }
        };
        Some(page)
    }
}

/// What one page fetch read: the records the read keeps, in read order, and the error that
/// stopped the fetch early, if one did. The records before an error are still yielded, so a
/// reader learns everything up to the damage.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub records: Vec<RecordedEvent>,
    pub error: Option<StoreError>,
}

impl Fetched {
    /// A fetch that read `records` and then stopped with `outcome`'s error, if any.
    pub(crate) fn new(records: Vec<RecordedEvent>, outcome: Result<(), StoreError>) -> Fetched {
        Fetched {
            records,
            error: outcome.err(),
        }
    }

    /// A fetch that read nothing.
    pub(crate) fn failed(error: StoreError) -> Fetched {
        Fetched {
            records: Vec::new(),
            error: Some(error),
        }
    }
}

/// The state of a paged read between polls.
struct Paged<F> {
    scan: Scan,
    fetch: F,
    /// The error that stopped the last page, yielded after its records.
    error: Option<StoreError>,
    /// Set once the error is yielded: it ends the read.
    failed: bool,
    /// The fetch of the next page, started when the current one arrived (its work runs on
    /// its own from the call, see [`paged_pages`]; this is only its answer).
    prefetch: Option<BoxFuture<'static, Fetched>>,
}

impl<F, Fut> Paged<F>
where
    F: FnMut(Range<u64>, Direction) -> Fut,
    Fut: Future<Output = Fetched> + Send + 'static,
{
    /// Starts fetching the scan's next page in the background, unless the read is done or the
    /// records handed out already are all the caller asked for.
    fn start_next(&mut self) {
        if self.error.is_some() || self.scan.remaining == Some(0) {
            return;
        }
        if let Some(page) = self.scan.next_page() {
            self.prefetch = Some((self.fetch)(page, self.scan.direction).boxed());
        }
    }
}

/// Streams the records of `scan` a page at a time, fetching each page with
/// `fetch(range, direction)`, which returns the records of that range that the read keeps
/// (already filtered), in `direction`'s order. Each item is the kept records of one page (never
/// none: a page that keeps nothing is passed over), so a consumer that takes them whole moves
/// the page once rather than record by record. An error is yielded once, after the records
/// read before it, and ends the stream.
///
/// `fetch` must start its work when it is called, not when its future is first polled (the
/// sled backend reads the page in the call when the page cache holds it and hands it to the
/// blocking pool at once when not; the memory backend reads it in the call): that is what lets
/// the next page be read while the consumer works on this one. The future is then only the
/// wait for the answer, so it is kept here rather than spawned as a task of its own, which
/// saves a task and a wake-up per page.
pub(crate) fn paged_pages<F, Fut>(
    scan: Scan,
    fetch: F,
) -> BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>>
where
    F: FnMut(Range<u64>, Direction) -> Fut + Send + 'static,
    Fut: Future<Output = Fetched> + Send + 'static,
{
    let state = Paged {
        scan,
        fetch,
        error: None,
        failed: false,
        prefetch: None,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if state.failed {
                return None;
            }
            if let Some(error) = state.error.take() {
                state.failed = true;
                return Some((Err(error), state));
            }
            if state.scan.remaining == Some(0) {
                return None;
            }
            let fetched = match state.prefetch.take() {
                Some(prefetch) => prefetch.await,
                None => {
                    let page = state.scan.next_page()?;
                    (state.fetch)(page, state.scan.direction).await
                }
            };
            let mut records = fetched.records;
            if let Some(remaining) = state.scan.remaining.as_mut() {
                records.truncate(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= records.len() as u64;
            }
            state.error = fetched.error;
            state.start_next();
            if !records.is_empty() {
                return Some((Ok(records), state));
            }
        }
    })
    .boxed()
}

/// [`paged_pages`], a record at a time.
pub(crate) fn paged<F, Fut>(
    scan: Scan,
    fetch: F,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>>
where
    F: FnMut(Range<u64>, Direction) -> Fut + Send + 'static,
    Fut: Future<Output = Fetched> + Send + 'static,
{
    one_by_one(paged_pages(scan, fetch))
}

/// A read in pages, a record at a time.
pub(crate) fn one_by_one(
    pages: BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>>,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    pages
        .flat_map(|page| {
            let (records, error) = match page {
                Ok(records) => (records, None),
                Err(error) => (Vec::new(), Some(error)),
            };
            stream::iter(records.into_iter().map(Ok).chain(error.map(Err)))
        })
        .boxed()
}

#[cfg(test)]
mod tests;
