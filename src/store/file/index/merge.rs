//! Merging runs: which runs merge next, and the k-way merge of their sections.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::run::{self, Group, IdEntry, Range, Run};
use super::{IndexShared, FANOUT};
use crate::store::file::sync_dir;

impl IndexShared {
    /// The first `FANOUT` adjacent runs of one level, lowest level first.
    pub(super) fn next_merge(&self) -> Option<Vec<Arc<Run>>> {
        let runs = Arc::clone(&self.read().runs);
        let mut best: Option<(u32, usize)> = None;
        for (at, window) in runs.windows(FANOUT).enumerate() {
            let level = window[0].range.level;
            if window.iter().all(|r| r.range.level == level) && best.is_none_or(|(l, _)| level < l)
            {
                best = Some((level, at));
            }
        }
        best.map(|(_, at)| runs[at..at + FANOUT].to_vec())
    }

    /// Does the next merge; `false` if it failed (logged; retried after the next flush).
    pub(super) fn merge_once(&self) -> bool {
        let _one_at_a_time = self.merging.lock().unwrap_or_else(|e| e.into_inner());
        let Some(inputs) = self.next_merge() else {
            return true;
        };
        match self.merge(&inputs) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => false,
            Err(error) => {
                tracing::error!(%error, "merging index runs failed; the runs stay as they are");
                false
            }
        }
    }

    fn merge(&self, inputs: &[Arc<Run>]) -> io::Result<()> {
        let first = &inputs[0].range;
        let last = &inputs[inputs.len() - 1].range;
        let range = Range {
            from: first.from,
            to: last.to,
            to_bytes: last.to_bytes,
            level: first.level + 1,
        };
        let ids: u64 = inputs.iter().map(|r| r.id_count()).sum();
        let stop = || self.stopping.load(Ordering::Acquire);
        let merged = run::write(
            &self.dir,
            range,
            ids,
            merge_ids(
                inputs
                    .iter()
                    .map(|r| Box::new(r.id_entries()) as _)
                    .collect(),
            ),
            merge_groups(inputs.iter().map(|r| Box::new(r.groups()) as _).collect()),
            &stop,
        )?;
        let mut state = self.write();
        let at = state
            .runs
            .iter()
            .position(|r| Arc::ptr_eq(r, &inputs[0]))
            .filter(|&at| {
                state.runs[at..]
                    .iter()
                    .zip(inputs)
                    .all(|(r, i)| Arc::ptr_eq(r, i))
            });
        let Some(at) = at else {
            // Cannot happen (only merging removes runs, one merge at a time); the merged file is
            // superseded.
            drop(state);
            return std::fs::remove_file(&merged.path);
        };
        let mut runs = state.runs.as_ref().clone();
        runs.splice(at..at + inputs.len(), [Arc::new(merged)]);
        state.runs = Arc::new(runs);
        drop(state);
        self.runs_changed();
        // Readers that still hold the inputs read them through their open files.
        for input in inputs {
            std::fs::remove_file(&input.path)?;
        }
        sync_dir(&self.dir)?;
        tracing::debug!(
            from = range.from,
            to = range.to,
            level = range.level,
            "merged index runs"
        );
        Ok(())
    }
}

/// One section of each of several runs.
type Inputs<'a, T> = Vec<Box<dyn Iterator<Item = io::Result<T>> + 'a>>;

/// The items of several sorted inputs in `order`, an item of an earlier input first among
/// equals; an input's error is handed on as soon as it is read, and ends nothing by itself.
fn kmerge<'a, T: 'a>(
    mut inputs: Inputs<'a, T>,
    order: impl Fn(&T, &T) -> std::cmp::Ordering + 'a,
) -> impl Iterator<Item = io::Result<T>> + 'a {
    let mut heads: Vec<Option<io::Result<T>>> = inputs.iter_mut().map(|i| i.next()).collect();
    std::iter::from_fn(move || {
        let at = match heads.iter().position(|h| matches!(h, Some(Err(_)))) {
            Some(failed) => failed,
            // `min_by` keeps the first of equals: the earliest input.
            None => {
                heads
                    .iter()
                    .enumerate()
                    .filter_map(|(at, head)| Some((at, head.as_ref()?.as_ref().ok()?)))
                    .min_by(|a, b| order(a.1, b.1))?
                    .0
            }
        };
        let next = inputs[at].next();
        std::mem::replace(&mut heads[at], next)
    })
}

/// The ids of several runs, merged in id order.
fn merge_ids<'a>(inputs: Inputs<'a, IdEntry>) -> impl Iterator<Item = io::Result<IdEntry>> + 'a {
    kmerge(inputs, |a, b| a.0.cmp(&b.0))
}

/// The stream groups of adjacent runs, merged in account order; an account's groups are
/// concatenated oldest first (their revisions continue one another).
fn merge_groups<'a>(inputs: Inputs<'a, Group>) -> impl Iterator<Item = io::Result<Group>> + 'a {
    let mut groups = kmerge(inputs, |a, b| a.account.cmp(&b.account)).peekable();
    std::iter::from_fn(move || {
        let mut merged = match groups.next()? {
            Ok(group) => group,
            Err(error) => return Some(Err(error)),
        };
        while let Some(Ok(next)) = groups.peek() {
            if next.account != merged.account {
                break;
            }
            if merged.first_revision + merged.positions.len() as u64 != next.first_revision {
                return Some(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the index runs of {} do not continue one another",
                        merged.account
                    ),
                )));
            }
            if let Some(Ok(next)) = groups.next() {
                merged.positions.extend(next.positions);
            }
        }
        Some(Ok(merged))
    })
}
