//! The keys of the sled tree that once held the log, and now holds its format version.
//!
//! | key | value |
//! |-----|-------|
//! | `M` | format version (one byte, [`FORMAT_V3`]) |
//!
//! Format 1 kept the records in this tree (`L` + position, u64 BE), format 2 the stream index
//! (`S` + account id + `0x00` + revision, u64 BE → position), the event-id index (`E` + id →
//! position and content digest) and an index watermark (`W`: next position and frame bytes,
//! both u64 BE, up to which the record files were durable and indexed). `open` moves both to
//! format 3, where the records live in the record files (`records`) and the indexes in index
//! runs (`index`), and removes these keys.

#[cfg(test)]
use crate::domain::{AccountId, EventId};

/// The key of the format version.
pub(crate) const META: &[u8] = b"M";
/// The layout before the records moved to their own files: records under `L` keys.
pub(crate) const FORMAT_V1: u8 = 1;
/// The layout before the indexes moved to their own files: `S` and `E` keys, and `W`.
pub(crate) const FORMAT_V2: u8 = 2;
/// The layout of today: nothing of the log in sled but this version.
pub(crate) const FORMAT_V3: u8 = 3;
/// The key of format 2's index watermark.
pub(crate) const WATERMARK: &[u8] = b"W";
/// The prefixes of the keys older formats kept and format 3 removes.
pub(crate) const OLD_PREFIXES: [&[u8]; 3] = [&[LOG], &[STREAM], &[EVENT_ID]];

const LOG: u8 = b'L';
const STREAM: u8 = b'S';
const EVENT_ID: u8 = b'E';

/// The key of the record at `position` in format 1 (tests build such logs to move them).
#[cfg(test)]
pub(crate) fn record_key(position: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = LOG;
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The prefix of every record key.
pub(crate) fn record_prefix() -> [u8; 1] {
    [LOG]
}

/// The position of a record key, if it is one.
pub(crate) fn record_key_position(key: &[u8]) -> Option<u64> {
    match key {
        [LOG, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
/// The prefix of every key of `account`'s stream index.
pub(crate) fn stream_prefix(account: &AccountId) -> Vec<u8> {
    let id = account.as_str().as_bytes();
    let mut key = Vec::with_capacity(1 + id.len() + 1 + 8);
    key.push(STREAM);
    key.extend_from_slice(id);
    key.push(0);
    key
}

#[cfg(test)]
/// The smallest key above every key of `account`'s stream index: where the next account's
/// index starts (ids hold no NUL, so `S id 0 ...` < `S id 1` <= any longer or greater id).
pub(crate) fn after_stream(account: &AccountId) -> Vec<u8> {
    let mut key = stream_prefix(account);
    if let Some(separator) = key.last_mut() {
        *separator = 1;
    }
    key
}

#[cfg(test)]
/// The account of a stream index key and the key's prefix, if it is one.
pub(crate) fn stream_key_account(key: &[u8]) -> Option<(&str, &[u8])> {
    let rest = key.strip_prefix(&[STREAM])?;
    let end = rest.iter().position(|&b| b == 0)?;
    let account = std::str::from_utf8(&rest[..end]).ok()?;
    Some((account, &key[..end + 2]))
}

#[cfg(test)]
/// The key of `account`'s stream index entry for `revision`.
pub(crate) fn stream_key(account: &AccountId, revision: u64) -> Vec<u8> {
    let mut key = stream_prefix(account);
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

#[cfg(test)]
/// The revision of a stream key that starts with `prefix`, if it is one.
pub(crate) fn stream_key_revision(prefix: &[u8], key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(prefix)?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

#[cfg(test)]
/// The key of the id index entry for `id`.
pub(crate) fn event_id_key(id: &EventId) -> [u8; 17] {
    let mut key = [0; 17];
    key[0] = EVENT_ID;
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// The value of the index watermark: `next_position` records, whose frames take `bytes`.
pub(crate) fn watermark_value(next_position: u64, bytes: u64) -> [u8; 16] {
    let mut value = [0; 16];
    value[..8].copy_from_slice(&next_position.to_be_bytes());
    value[8..].copy_from_slice(&bytes.to_be_bytes());
    value
}

/// Reads a value stored by [`watermark_value`].
pub(crate) fn parse_watermark(value: &[u8]) -> Option<(u64, u64)> {
    let value: &[u8; 16] = value.try_into().ok()?;
    let next_position = u64::from_be_bytes(value[..8].try_into().ok()?);
    Some((
        next_position,
        u64::from_be_bytes(value[8..].try_into().ok()?),
    ))
}

#[cfg(test)]
/// A position as stored in index values.
pub(crate) fn position_value(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

#[cfg(test)]
/// The id index value: where the event is and what its content digest is.
pub(crate) fn event_id_value(position: u64, digest: &[u8; 32]) -> [u8; 40] {
    let mut value = [0; 40];
    value[..8].copy_from_slice(&position.to_be_bytes());
    value[8..].copy_from_slice(digest);
    value
}

#[cfg(test)]
/// Reads a value stored by [`event_id_value`].
pub(crate) fn parse_event_id_value(value: &[u8]) -> Option<(u64, [u8; 32])> {
    if value.len() != 40 {
        return None;
    }
    let position = u64::from_be_bytes(value[..8].try_into().ok()?);
    Some((position, value[8..].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_after_a_stream_sorts_above_its_entries_and_below_the_next_account() {
        let a = AccountId::parse("acme").unwrap();
        let longer = AccountId::parse("acme-2").unwrap();
        let after = after_stream(&a);
        assert!(stream_key(&a, u64::MAX).as_slice() < after.as_slice());
        assert!(after.as_slice() <= stream_key(&longer, 0).as_slice());
        assert_eq!(
            stream_key_account(&stream_key(&longer, 7)),
            Some(("acme-2", stream_prefix(&longer).as_slice()))
        );
        assert_eq!(stream_key_account(&record_key(3)), None);
    }

    #[test]
    fn keys_sort_in_numeric_order_and_round_trip() {
        assert!(record_key(255) < record_key(256));
        assert_eq!(record_key_position(&record_key(300)), Some(300));
        assert_eq!(record_key_position(META), None);
        let account = AccountId::parse("acme").unwrap();
        let prefix = stream_prefix(&account);
        assert!(stream_key(&account, 255) < stream_key(&account, 256));
        assert_eq!(
            stream_key_revision(&prefix, &stream_key(&account, 9)),
            Some(9)
        );
        let longer = AccountId::parse("acme2").unwrap();
        assert!(!stream_key(&longer, 0).starts_with(&prefix));
        let digest = [7; 32];
        assert_eq!(
            parse_event_id_value(&event_id_value(5, &digest)),
            Some((5, digest))
        );
        assert_eq!(parse_watermark(&watermark_value(7, 900)), Some((7, 900)));
        assert_eq!(parse_watermark(&[0; 15]), None);
    }
}
