//! A decoder for exactly the canonical bytes of a version 1 or 2 body, and nothing else.
//!
//! Every read of the log decodes every record it returns, and `serde_json`'s general parser
//! (keys matched at run time, any whitespace, any field order, an untagged union buffered for
//! each personal field) was the largest cost of a read after the hash. The canonical bytes are
//! fixed: `serde_json::to_vec` of the record types, so the keys come in declaration order,
//! without whitespace, with integers in plain decimal and strings escaped only where JSON
//! requires it. This decoder expects that layout literally, key by key, and builds the record
//! as it goes.
//!
//! It answers `None` the moment the input departs from the layout it knows (another key order,
//! whitespace, an escape `serde_json` never writes, an unknown payload, a malformed id, a
//! number that does not fit), and the caller then decodes the body with `serde_json` as
//! before. So the two can only differ if this one accepts a body and builds something other
//! than what `serde_json` builds from it; the tests beside it (`fast::tests`) check that it
//! does not, over random records of every payload and over random damage to their bytes.
//!
//! The record's envelope and the JSON tokens are read here; the payloads' fields in `payload`.

mod payload;

use std::collections::BTreeMap;

use super::DecodedRecord;
use crate::domain::{AccountId, EventId, ProposedEvent, Timestamp};

/// The record in `body`, if `body` is laid out exactly as the canonical encoding lays it out;
/// `None` otherwise (see the module docs: the caller falls back to `serde_json`).
pub(super) fn decode_body(body: &str) -> Option<DecodedRecord> {
    let mut c = Cursor { text: body, at: 0 };
    let v = if c.eat(b"{\"v\":1,") {
        super::RECORD_V1
    } else {
        c.lit(b"{\"v\":2,")?;
        super::RECORD_V2
    };
    c.lit(b"\"position\":")?;
    let position = c.u64()?;
    c.lit(b",\"account_id\":")?;
    let account_id = AccountId::parse(c.string()?).ok()?;
    c.lit(b",\"revision\":")?;
    let revision = c.u64()?;
    c.lit(b",\"recorded_at\":")?;
    let recorded_at = Timestamp::from_unix_nanos(c.i64()?);
    let recorded_by = match v {
        super::RECORD_V2 => {
            c.lit(b",\"recorded_by\":")?;
            Some(c.string()?)
        }
        _ => None,
    };
    c.lit(b",\"event\":{\"event_id\":")?;
    let event_id = EventId::parse(&c.string()?).ok()?;
    c.lit(b",\"occurred_at\":")?;
    let occurred_at = Timestamp::from_unix_nanos(c.i64()?);
    c.lit(b",\"actor\":")?;
    let actor = c.string()?;
    c.lit(b",\"metadata\":")?;
    let metadata = c.metadata()?;
    c.lit(b",\"payload\":")?;
    let payload = c.payload()?;
    c.lit(b"}}")?;
    if c.at != body.len() {
        return None;
    }
    Some(DecodedRecord {
        v,
        position,
        account_id,
        revision,
        recorded_at,
        recorded_by,
        event: ProposedEvent {
            event_id,
            occurred_at,
            actor,
            metadata,
            payload,
        },
    })
}

/// A position in the body being decoded.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    /// Consumes `lit` if the input continues with it.
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.at.checked_add(lit.len())?;
        if self.bytes().get(self.at..end)? == lit {
            self.at = end;
            Some(())
        } else {
            None
        }
    }

    /// Consumes `lit` and answers true if the input continues with it; consumes nothing and
    /// answers false otherwise.
    fn eat(&mut self, lit: &[u8]) -> bool {
        self.lit(lit).is_some()
    }

    /// The decimal digits of an unsigned integer as `serde_json` writes it: no sign, no
    /// leading zero, no fraction or exponent (what follows is checked by the next literal).
    fn u64(&mut self) -> Option<u64> {
        let bytes = self.bytes();
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(&b) = bytes.get(self.at) {
            if !b.is_ascii_digit() {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && bytes[start] == b'0') {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(value)
    }

    /// A signed integer: an optional minus, then as [`Cursor::u64`].
    fn i64(&mut self) -> Option<i64> {
        if self.eat(b"-") {
            let magnitude = self.u64()?;
            if magnitude == 0 {
                // `-0`: never written; left to serde_json.
                return None;
            }
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(self.u64()?).ok()
        }
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    fn bool(&mut self) -> Option<bool> {
        if self.eat(b"true") {
            Some(true)
        } else if self.eat(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// The text of a string without escapes, borrowed; `None` for anything else, including a
    /// string with escapes (used for keys, enum names and payload names, which have none).
    fn plain_str(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let bytes = self.bytes();
        let start = self.at;
        let len = bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = start + len;
        if bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        self.text.get(start..end)
    }

    /// A JSON string, unescaped into one exactly sized `String`. Handles the escapes
    /// `serde_json` writes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00XX` for other
    /// control characters) and the other simple ones JSON allows; a `\u` escape of a surrogate
    /// and a raw control character (which JSON forbids) answer `None`.
    fn string(&mut self) -> Option<String> {
        self.lit(b"\"")?;
        let bytes = self.bytes();
        let start = self.at;
        let len = bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let mut end = start + len;
        if bytes[end] == b'"' {
            self.at = end + 1;
            return self.text.get(start..end).map(str::to_owned);
        }
        // Escapes: rare (a note with a line break), so built in a second pass.
        let mut text = String::with_capacity(len + 16);
        let mut from = start;
        loop {
            match bytes[end] {
                b'"' => {
                    text.push_str(self.text.get(from..end)?);
                    self.at = end + 1;
                    return Some(text);
                }
                b'\\' => {
                    text.push_str(self.text.get(from..end)?);
                    let escape = *bytes.get(end + 1)?;
                    let mut next = end + 2;
                    match escape {
                        b'"' => text.push('"'),
                        b'\\' => text.push('\\'),
                        b'/' => text.push('/'),
                        b'b' => text.push('\u{8}'),
                        b'f' => text.push('\u{c}'),
                        b'n' => text.push('\n'),
                        b'r' => text.push('\r'),
                        b't' => text.push('\t'),
                        b'u' => {
                            let hex = self.text.get(next..next + 4)?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return None;
                            }
                            let code = u32::from_str_radix(hex, 16).ok()?;
                            // A surrogate (half of a pair, or alone): left to serde_json.
                            text.push(char::from_u32(code)?);
                            next += 4;
                        }
                        _ => return None,
                    }
                    from = next;
                }
                _ => return None,
            }
            let rest = bytes.get(from..)?;
            end = from
                + rest
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        }
    }

    /// `"key":`.
    fn key(&mut self, key: &str) -> Option<()> {
        self.lit(b"\"")?;
        self.lit(key.as_bytes())?;
        self.lit(b"\":")
    }

    /// The metadata map: keys strictly ascending, as a `BTreeMap` writes them (a repeated or
    /// unordered key is left to serde_json, whose map keeps the last value of a repeated key).
    fn metadata(&mut self) -> Option<BTreeMap<String, String>> {
        self.lit(b"{")?;
        let mut map = BTreeMap::new();
        if self.eat(b"}") {
            return Some(map);
        }
        loop {
            let key = self.string()?;
            self.lit(b":")?;
            let value = self.string()?;
            if map.last_key_value().is_some_and(|(last, _)| *last >= key) {
                return None;
            }
            map.insert(key, value);
            if self.eat(b"}") {
                return Some(map);
            }
            self.lit(b",")?;
        }
    }
}

#[cfg(test)]
mod tests;
