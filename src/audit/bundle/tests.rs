//! Hostile bundles: garbage, cut or mutated lines, bogus signatures, impossible positions and
//! endless lines. The verifier must refuse what was changed, name a line, and never panic; the
//! line reader must never hold more than its limit of one line.

use std::collections::BTreeMap;
use std::io::Cursor;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::audit::checkpoint::sign_checkpoint;
use crate::audit::import::BundleLines;
use crate::domain::{AccountId, EventId, EventPayload, ProposedEvent, RecordedEvent, Visit};
use crate::hostile_input::{byte_edit, replace_number, ByteEdit};
use crate::store::codec::{canonical_part, seal, Place};

/// The key that signs the test bundles' checkpoints.
fn signer() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// `count` chained records from position 0, with their stored values.
fn records(count: u64) -> Vec<(RecordedEvent, Vec<u8>)> {
    let mut prev = ChainHash::GENESIS;
    (0..count)
        .map(|position| {
            let event = ProposedEvent {
                event_id: EventId::parse(&format!(
                    "0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d{position:02x}"
                ))
                .unwrap(),
                occurred_at: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
                actor: "li.wei".to_string(),
                metadata: BTreeMap::from([(
                    "note".to_string(),
                    "a \"quoted\" \\ line\n".to_string(),
                )]),
                payload: EventPayload::Visit(Visit {
                    contact_ids: vec!["c1".to_string()],
                    purpose: "deliver the test report".to_string(),
                    summary: "budget approved".to_string(),
                    next_visit_on: None,
                    next_visit_pretext: String::new(),
                }),
            };
            let account = AccountId::parse("acme-01").unwrap();
            // Every other record names its recorder, so bundles hold both record versions.
            let place = Place {
                position,
                account: &account,
                revision: position,
                recorded_by: (position % 2 == 1).then_some("etl"),
            };
            let sealed = seal(
                place,
                Timestamp::from_unix_nanos(1_700_000_100_000_000_000 + position as i64),
                event,
                prev,
            );
            prev = sealed.0.hash;
            sealed
        })
        .collect()
}

/// The text of a valid bundle of `count` records from position 0, a checkpoint after each,
/// and the stored value of each record.
fn bundle(count: u64) -> (String, Vec<Vec<u8>>) {
    let mut out = Vec::new();
    let mut writer = BundleWriter::start(
        &mut out,
        0,
        count,
        ChainHash::GENESIS,
        Timestamp::from_unix_nanos(1_700_000_200_000_000_000),
    )
    .unwrap();
    let mut values = Vec::new();
    for (record, value) in records(count) {
        writer
            .record(RecordLine::new(&record, canonical_part(&value)).unwrap())
            .unwrap();
        let signed_at = Timestamp::from_unix_nanos(1_700_000_300_000_000_000);
        writer
            .checkpoint(&sign_checkpoint(
                &signer(),
                record.position,
                record.hash,
                signed_at,
                // Every other checkpoint was asked for, so bundles hold both versions.
                (record.position % 2 == 0).then(|| "dpo".to_string()),
            ))
            .unwrap();
        values.push(value);
    }
    writer.finish().unwrap();
    (String::from_utf8(out).unwrap(), values)
}

/// Verifies `text` as `verify_bundle` reads a file (lines of at most `max` bytes): the summary
/// and the stored values of the records, or the first error.
fn verify(
    text: &[u8],
    max: usize,
    trusted: Option<ed25519_dalek::VerifyingKey>,
) -> Result<(BundleSummary, Vec<Vec<u8>>), String> {
    let mut lines = BundleLines::new(Cursor::new(text), max);
    let mut verifier = BundleVerifier::new(trusted);
    let mut values = Vec::new();
    while let Some(line) = lines.next_line() {
        let line = line.map_err(|e| e.to_string())?;
        assert!(line.len() <= max, "a line longer than the limit was read");
        if let BundleLine::Record(record) = verifier.push_line(&line).map_err(|e| e.to_string())? {
            values.push(
                record
                    .stored_value()
                    .expect("a verified record's hashes are hex"),
            );
        }
    }
    let summary = verifier.finish().map_err(|e| e.to_string())?;
    Ok((summary, values))
}

/// One edit of a bundle's bytes or lines.
#[derive(Clone, Debug)]
enum Edit {
    Bytes(ByteEdit),
    SwapLines {
        a: f64,
        b: f64,
    },
    DropLine {
        at: f64,
    },
    RepeatLine {
        at: f64,
    },
    /// Replaces the first run of digits after `at` with another number (a huge one among them).
    Number {
        at: f64,
        number: String,
    },
    /// Replaces a hex digit after `at` with another character.
    Hex {
        at: f64,
        digit: char,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = || 0.0f64..1.0;
    prop_oneof![
        byte_edit(1, 39).prop_map(Edit::Bytes),
        (at(), at()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
        at().prop_map(|at| Edit::DropLine { at }),
        at().prop_map(|at| Edit::RepeatLine { at }),
        (
            at(),
            prop_oneof![
                Just(u64::MAX.to_string()),
                Just("18446744073709551616".to_string()),
                Just("-1".to_string()),
                Just("1e400".to_string()),
                Just("4294967296".to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                (0u64..4).prop_map(|n| n.to_string()),
            ]
        )
            .prop_map(|(at, number)| Edit::Number { at, number }),
        (
            at(),
            proptest::sample::select(vec!['0', 'f', 'F', 'g', '"', ' '])
        )
            .prop_map(|(at, digit)| Edit::Hex { at, digit }),
    ]
}

fn index(at: f64, len: usize) -> usize {
    ((at * len as f64) as usize).min(len.saturating_sub(1))
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len();
    match *edit {
        Edit::Bytes(ref edit) => edit.apply(bytes),
        Edit::SwapLines { .. } | Edit::DropLine { .. } | Edit::RepeatLine { .. } => {
            let mut lines: Vec<Vec<u8>> =
                bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let count = lines.len();
            match *edit {
                Edit::SwapLines { a, b } => lines.swap(index(a, count), index(b, count)),
                Edit::DropLine { at } => drop(lines.remove(index(at, count))),
                Edit::RepeatLine { at } => {
                    let i = index(at, count);
                    lines.insert(i, lines[i].clone());
                }
                _ => unreachable!("only line edits reach here"),
            }
            *bytes = lines.join(&b'\n');
        }
        Edit::Number { at, ref number } => replace_number(bytes, index(at, len), number),
        Edit::Hex { at, digit } => {
            let from = index(at, len);
            if let Some(i) = bytes[from..].iter().position(u8::is_ascii_hexdigit) {
                bytes[from + i] = digit as u8;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes at all: refused or not, never a panic, never a line past the limit.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), max in 1usize..200) {
        let _ = verify(&bytes, max, None);
        let _ = verify(&bytes, MAX_LINE_BYTES, Some(signer().verifying_key()));
    }

    /// Lines that look like bundle lines but hold anything: the same.
    #[test]
    fn arbitrary_lines_never_panic(lines in proptest::collection::vec(
        prop_oneof![
            ".{0,80}",
            "\\{\"type\":\"(header|record|checkpoint)\",\"[a-z_]{1,12}\":[0-9a-f\"\\[\\]{},:-]{0,60}\\}",
        ],
        0..6,
    )) {
        let _ = verify(lines.join("\n").as_bytes(), MAX_LINE_BYTES, None);
    }

    /// A valid bundle, edited: whatever still verifies holds exactly the records that were
    /// exported, each at its own position (no edit forges a record), and whatever is refused
    /// is refused with a reason, not a panic.
    #[test]
    fn an_edited_bundle_verifies_only_with_the_exported_records(
        count in 0u64..4,
        edits in proptest::collection::vec(edit(), 1..4),
        trusted in any::<bool>(),
    ) {
        let (text, originals) = bundle(count);
        let mut bytes = text.into_bytes();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        let key = trusted.then(|| signer().verifying_key());
        if let Ok((summary, values)) = verify(&bytes, MAX_LINE_BYTES, key) {
            let from = summary.header.from_position;
            for (i, value) in values.iter().enumerate() {
                let position = usize::try_from(from).unwrap() + i;
                prop_assert_eq!(Some(value), originals.get(position), "record {} was changed", position);
            }
        }
    }

    /// A bundle signed by another key never verifies for an auditor who trusts this one.
    #[test]
    fn a_stranger_s_signatures_do_not_count(count in 1u64..4, seed in any::<[u8; 32]>()) {
        prop_assume!(seed != [7; 32]);
        let (text, _) = bundle(count);
        let stranger = SigningKey::from_bytes(&seed).verifying_key();
        prop_assert!(verify(text.as_bytes(), MAX_LINE_BYTES, Some(stranger)).is_err());
    }
}

#[test]
fn the_test_bundle_verifies_with_its_key() {
    let (text, originals) = bundle(3);
    let (summary, values) = verify(
        text.as_bytes(),
        MAX_LINE_BYTES,
        Some(signer().verifying_key()),
    )
    .unwrap();
    assert_eq!((summary.records, summary.covered_to), (3, Some(2)));
    assert_eq!(values, originals);
}

/// Regression: a record claiming position `u64::MAX` (with a hash that checks) made the
/// position after it overflow, a panic in a debug build and a wrap to 0 in a release build.
#[test]
fn a_record_at_the_last_u64_position_is_refused() {
    let account = AccountId::parse("acme-01").unwrap();
    let place = Place {
        position: u64::MAX,
        account: &account,
        revision: 0,
        recorded_by: None,
    };
    let (record, value) = seal(
        place,
        Timestamp::from_unix_nanos(1),
        records(1).remove(0).0.event,
        ChainHash::GENESIS,
    );
    let header = serde_json::to_string(&BundleLine::Header(Header {
        format: BUNDLE_FORMAT.to_string(),
        version: BUNDLE_VERSION,
        from_position: u64::MAX,
        to_position: Some(u64::MAX),
        record_count: 1,
        prev_hash: ChainHash::GENESIS.to_hex(),
        exported_at: 0,
    }))
    .unwrap();
    let line = RecordLine::new(&record, canonical_part(&value)).unwrap();
    let line = serde_json::to_string(&BundleLine::Record(line)).unwrap();
    let error = verify(
        format!("{header}\n{line}\n").as_bytes(),
        MAX_LINE_BYTES,
        None,
    )
    .unwrap_err();
    assert!(
        error.contains("line 2") && error.contains("past the last position"),
        "{error}"
    );
}

/// A line nested far deeper than any bundle line is refused by the JSON parser's depth limit,
/// not by running out of stack.
#[test]
fn a_deeply_nested_line_is_refused() {
    let line = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = verify(line.as_bytes(), MAX_LINE_BYTES, None).unwrap_err();
    assert!(error.contains("line 1"), "{error}");
}

/// A line longer than the limit is an error as soon as the limit is passed: the reader never
/// gathers the rest of it (here an endless line, which would never end).
#[test]
fn an_endless_line_is_refused_at_the_limit() {
    let endless = std::io::BufReader::new(std::io::repeat(b'x'));
    let mut lines = BundleLines::new(endless, 1024);
    let error = lines.next_line().unwrap().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        error
            .to_string()
            .contains("line 1 is longer than 1024 bytes"),
        "{error}"
    );
    assert!(
        lines.next_line().is_none(),
        "nothing is read past the error"
    );
}

#[test]
fn lines_up_to_the_limit_are_read_whole() {
    let text = b"abcd\r\nefgh\nij\nklmno\n";
    let mut lines = BundleLines::new(Cursor::new(&text[..]), 4);
    for expected in ["abcd", "efgh", "ij"] {
        assert_eq!(lines.next_line().unwrap().unwrap(), expected);
    }
    assert!(
        lines.next_line().unwrap().is_err(),
        "five bytes, over the limit"
    );
    let mut lines = BundleLines::new(Cursor::new(&b"last line without a newline"[..]), 100);
    assert_eq!(
        lines.next_line().unwrap().unwrap(),
        "last line without a newline"
    );
    assert!(lines.next_line().is_none());
}
