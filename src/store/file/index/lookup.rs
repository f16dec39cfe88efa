//! The index's questions: where an event id is, an account's last revision and the positions
//! of its revisions, which accounts there are. Each asks the memtable, then the frozen one,
//! then the runs from the newest, reading the runs outside the lock.

use std::io;
use std::ops::Range as Revisions;
use std::sync::Arc;

use super::memtable::Memtable;
use super::run::Run;
use super::{is_damage, Index};
use crate::domain::{AccountId, EventId};
use crate::store::StoreError;

fn failed(error: io::Error) -> StoreError {
    if is_damage(&error) {
        StoreError::Corrupt(format!("the log's index: {error}"))
    } else {
        StoreError::Unavailable(format!("cannot read the log's index: {error}"))
    }
}

impl Index {
    /// What `ask` finds in the memtable, or else in the frozen one; if neither answers, the
    /// runs to ask next. Only the memtable is read under the lock; the runs are read after it.
    fn in_memory<T>(&self, ask: impl Fn(&Memtable) -> Option<T>) -> Result<T, Arc<Vec<Arc<Run>>>> {
        let (runs, frozen) = {
            let state = self.shared.read();
            if let Some(found) = ask(&state.memtable) {
                return Ok(found);
            }
            (Arc::clone(&state.runs), state.frozen.clone())
        };
        match frozen.and_then(|frozen| ask(&frozen.memtable)) {
            Some(found) => Ok(found),
            None => Err(runs),
        }
    }

    /// The position of the record with event id `id` among those before `end`.
    pub(crate) fn position_of(&self, id: &EventId, end: u64) -> Result<Option<u64>, StoreError> {
        let id = id.as_bytes();
        let runs = match self.in_memory(|memtable| memtable.position_of(id, end)) {
            Ok(position) => return Ok(Some(position)),
            Err(runs) => runs,
        };
        for run in runs.iter().rev().filter(|run| run.range.from < end) {
            if let Some(position) = run.position_of(id).map_err(failed)? {
                return Ok((position < end).then_some(position));
            }
        }
        Ok(None)
    }

    /// The last revision of `account` among the records before `end`.
    pub(crate) fn last_revision(
        &self,
        account: &AccountId,
        end: u64,
    ) -> Result<Option<u64>, StoreError> {
        let runs = match self.in_memory(|memtable| memtable.last_revision(account, end)) {
            Ok(revision) => return Ok(Some(revision)),
            Err(runs) => runs,
        };
        for run in runs.iter().rev().filter(|run| run.range.from < end) {
            let Some(group) = run.group(account.as_str()).map_err(failed)? else {
                continue;
            };
            if run.range.to <= end {
                return Ok(Some(group.first_revision + group.count - 1));
            }
            // A run flushed after this read began may hold records past `end`.
            let positions = run.positions(&group, 0, group.count).map_err(failed)?;
            let below = positions.partition_point(|&p| p < end) as u64;
            if let Some(last) = below.checked_sub(1) {
                return Ok(Some(group.first_revision + last));
            }
        }
        Ok(None)
    }

    /// The positions of `account`'s `revisions`, in revision order; an error names the first
    /// revision the index lacks.
    pub(crate) fn positions(
        &self,
        account: &AccountId,
        revisions: Revisions<u64>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut found =
            Vec::with_capacity(usize::try_from(revisions.end - revisions.start).unwrap_or(0));
        let (runs, frozen) = {
            let state = self.shared.read();
            state.memtable.positions(account, &revisions, &mut found);
            (Arc::clone(&state.runs), state.frozen.clone())
        };
        if let Some(frozen) = frozen {
            frozen.memtable.positions(account, &revisions, &mut found);
        }
        for run in runs.iter() {
            if found.len() as u64 == revisions.end - revisions.start {
                break;
            }
            let Some(group) = run.group(account.as_str()).map_err(failed)? else {
                continue;
            };
            let first = revisions.start.max(group.first_revision);
            let last = revisions.end.min(group.first_revision + group.count);
            if first < last {
                let positions = run
                    .positions(&group, first - group.first_revision, last - first)
                    .map_err(failed)?;
                found.extend((first..last).zip(positions));
            }
        }
        found.sort_unstable();
        for (expected, (revision, _)) in revisions.clone().zip(&found) {
            if *revision != expected {
                return Err(missing(account, expected));
            }
        }
        if (found.len() as u64) < revisions.end - revisions.start {
            return Err(missing(account, revisions.start + found.len() as u64));
        }
        Ok(found.into_iter().map(|(_, position)| position).collect())
    }

    /// Up to `limit` accounts after `after`, in id order, whose first record is before `end`.
    pub(crate) fn accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
        end: u64,
    ) -> Result<Vec<AccountId>, StoreError> {
        let (mut found, runs, frozen) = {
            let state = self.shared.read();
            let found = state.memtable.first_accounts(after, end);
            (found, Arc::clone(&state.runs), state.frozen.clone())
        };
        if let Some(frozen) = frozen {
            found.extend(frozen.memtable.first_accounts(after, end));
        }
        for run in runs.iter().filter(|run| run.range.from < end) {
            let firsts = run
                .first_accounts(after.map(AccountId::as_str), limit)
                .map_err(failed)?;
            for (account, first) in firsts {
                if first < end {
                    let account = AccountId::parse(account).map_err(|e| {
                        StoreError::Corrupt(format!("an index run holds a bad account id: {e}"))
                    })?;
                    found.push(account);
                }
            }
        }
        found.sort_unstable();
        found.truncate(limit);
        Ok(found)
    }
}

fn missing(account: &AccountId, revision: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "the stream index of {account} lacks revision {revision}"
    ))
}
