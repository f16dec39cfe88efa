//! The byte edits that the hostile-input property tests apply to valid inputs (frames, stored
//! records, export bundles, wire messages): a bit flipped, bytes inserted or deleted, the input
//! cut short. Each test adds the edits that know its format (a frame's length, a bundle's lines,
//! a varint) around these.

use proptest::prelude::*;

/// One edit of a byte string, placed by a fraction `at` of its length.
#[derive(Clone, Debug)]
pub(crate) enum ByteEdit {
    /// Flips bit `bit` of one byte.
    Flip { at: f64, bit: u8 },
    /// Inserts `bytes`.
    Insert { at: f64, bytes: Vec<u8> },
    /// Deletes up to `len` bytes.
    Delete { at: f64, len: usize },
    /// Cuts the input short.
    Truncate { at: f64 },
}

/// Byte edits inserting 1 to `max_insert` bytes or deleting 1 to `max_delete`.
pub(crate) fn byte_edit(max_insert: usize, max_delete: usize) -> impl Strategy<Value = ByteEdit> {
    let at = || 0.0f64..1.0;
    prop_oneof![
        (at(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip { at, bit }),
        (at(), proptest::collection::vec(any::<u8>(), 1..=max_insert))
            .prop_map(|(at, bytes)| ByteEdit::Insert { at, bytes }),
        (at(), 1..=max_delete).prop_map(|(at, len)| ByteEdit::Delete { at, len }),
        at().prop_map(|at| ByteEdit::Truncate { at }),
    ]
}

/// The fraction `at` (0 to 1) of `len`, as an index from 0 to `len`.
pub(crate) fn index(at: f64, len: usize) -> usize {
    ((at * len as f64) as usize).min(len)
}

impl ByteEdit {
    /// Applies the edit to the whole of `bytes`.
    pub(crate) fn apply(&self, bytes: &mut Vec<u8>) {
        self.apply_within(bytes, bytes.len());
    }

    /// Applies the edit to `bytes[..end]` only (a cut keeps nothing past it): what follows
    /// `end`, such as the zeros prepared past a log's frames, is left as it was.
    pub(crate) fn apply_within(&self, bytes: &mut Vec<u8>, end: usize) {
        let len = end.min(bytes.len());
        match self {
            ByteEdit::Flip { at, bit } if len > 0 => bytes[index(*at, len - 1)] ^= 1 << bit,
            ByteEdit::Flip { .. } => {}
            ByteEdit::Insert {
                at,
                bytes: inserted,
            } => {
                let at = index(*at, len);
                bytes.splice(at..at, inserted.iter().copied());
            }
            ByteEdit::Delete { at, len: n } => {
                let from = index(*at, len);
                bytes.drain(from..(from + n).min(len));
            }
            ByteEdit::Truncate { at } => bytes.truncate(index(*at, len)),
        }
    }
}

/// Replaces the first run of ASCII digits at or after `from` with `number` (a huge one, a
/// negative one, one in exponent form): the edit that finds where a parser trusts a number.
pub(crate) fn replace_number(bytes: &mut Vec<u8>, from: usize, number: &str) {
    let len = bytes.len();
    let from = from.min(len);
    if let Some(start) = bytes[from..].iter().position(u8::is_ascii_digit) {
        let start = from + start;
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(len, |n| start + n);
        bytes.splice(start..end, number.bytes());
    }
}
