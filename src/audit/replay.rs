//! Replay: a range of the log streamed to an auditor with each record's canonical bytes, and
//! each stored checkpoint right after the record it signs, so that the auditor can recompute
//! the chain and check the signatures without trusting the server.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};

use super::{blocking, Audit, AuditError};
use crate::domain::RecordedEvent;
use crate::store::codec::{canonical_part, decode_record_at};
use crate::store::{SignedCheckpoint, StoreError};

/// One item of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayItem {
    /// A record with its canonical bytes exactly as stored.
    Record {
        /// The decoded record (boxed: it is much larger than a checkpoint).
        record: Box<RecordedEvent>,
        /// Its canonical bytes: `record.hash` is SHA-256(`record.prev_hash` || these).
        canonical: Vec<u8>,
    },
    /// A signed checkpoint of the record just before it.
    Checkpoint(SignedCheckpoint),
}

/// How many records one replay page reads on the blocking pool.
const REPLAY_PAGE: u64 = 256;

impl Audit {
    /// Streams `from..=to` (`to`: the head now) with each record's canonical bytes, and each
    /// stored checkpoint right after the record it signs. Reads in pages on the blocking pool.
    pub fn replay(
        self: &Arc<Self>,
        from: u64,
        to: Option<u64>,
    ) -> Result<BoxStream<'static, Result<ReplayItem, AuditError>>, AuditError> {
        let end = self.range_end(from, to)?;
        let audit = Arc::clone(self);
        let pages = stream::unfold(from, move |next| {
            let audit = Arc::clone(&audit);
            async move {
                if next >= end {
                    return None;
                }
                let page_end = end.min(next.saturating_add(REPLAY_PAGE));
                let page = blocking(move || audit.replay_page(next, page_end)).await;
                let (items, next): (Vec<_>, u64) = match page {
                    Ok(items) => (items.into_iter().map(Ok).collect(), page_end),
                    Err(error) => (vec![Err(error)], end),
                };
                Some((stream::iter(items), next))
            }
        });
        Ok(pages.flatten().boxed())
    }

    /// The items of a replay of `from..to` (see [`Audit::replay`]), blocking. An empty range
    /// has none.
    pub fn replay_page(&self, from: u64, to: u64) -> Result<Vec<ReplayItem>, AuditError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let mut checkpoints = self.checkpoints.range(from, to - 1).peekable();
        let mut items = Vec::new();
        let mut expected = from;
        for entry in self.log.stored_records(from, to) {
            let (at, value) = entry?;
            if at != expected {
                return Err(StoreError::Corrupt(format!(
                    "the record at position {expected} is missing"
                ))
                .into());
            }
            let record = decode_record_at(at, &value)?;
            let canonical = canonical_part(&value).to_vec();
            items.push(ReplayItem::Record {
                record: Box::new(record),
                canonical,
            });
            while let Some(Ok(checkpoint)) = checkpoints.peek() {
                if checkpoint.position != at {
                    break;
                }
                items.push(ReplayItem::Checkpoint(checkpoint.clone()));
                checkpoints.next();
            }
            if let Some(Err(_)) = checkpoints.peek() {
                checkpoints.next().transpose()?;
            }
            expected += 1;
        }
        if expected != to {
            return Err(StoreError::Corrupt(format!(
                "the record at position {expected} is missing"
            ))
            .into());
        }
        Ok(items)
    }
}
