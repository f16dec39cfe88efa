//! The accounts of the log, walked through the stream index one account at a time.

use ::sled::Db;

use super::keys;
use super::read::sled_error;
use crate::domain::AccountId;
use crate::store::StoreError;

/// Up to `limit` accounts after `after`, in id order, whose first event is among the records
/// before `committed_end` (an account whose first append is being written is not yet one).
///
/// One seek per account: each found account's index is skipped whole by seeking just past it,
/// so the cost is the number of accounts, not of events.
pub(crate) fn accounts(
    db: &Db,
    after: Option<&AccountId>,
    limit: usize,
    committed_end: u64,
) -> Result<Vec<AccountId>, StoreError> {
    let mut seek = after.map_or_else(keys::stream_index_start, keys::after_stream);
    let mut found = Vec::new();
    while found.len() < limit {
        let Some(entry) = db.range(seek.as_slice()..).next() else {
            break;
        };
        let (key, value) = entry.map_err(sled_error)?;
        if !keys::is_stream_key(&key) {
            break;
        }
        let corrupt = || StoreError::Corrupt("a stream index key does not decode".into());
        let (id, _) = keys::stream_key_account(&key).ok_or_else(corrupt)?;
        let account = AccountId::parse(id).map_err(|_| corrupt())?;
        // The first key of an account's index is its revision 0: its first event.
        let first = keys::parse_position(&value).ok_or_else(corrupt)?;
        seek = keys::after_stream(&account);
        if first < committed_end {
            found.push(account);
        }
    }
    Ok(found)
}
