//! Hostile frames: arbitrary bytes, and valid frames edited (bytes flipped, inserted or deleted,
//! the file cut, a length field rewritten, up to 4 GiB). Reading never panics, never allocates
//! more than the bytes left in the file (nor more than [`MAX_BODY`]), and whatever it still
//! reads as a frame is one that was written, at its place.

use proptest::prelude::*;

use super::*;
use crate::hostile_input::{byte_edit, index, ByteEdit};

/// What a reader of `bytes` (recovery's way: frame after frame with [`read_frame`], the file's
/// length known) takes as frames before it stops, and why it stopped.
fn read_all_frames(bytes: &[u8]) -> (Vec<(Vec<u8>, Part)>, BadFrame) {
    let mut reader = io::Cursor::new(bytes);
    let mut read = Vec::new();
    let mut at = 0u64;
    loop {
        let left = bytes.len() as u64 - at;
        // A fresh buffer for every frame, so its size says what this one read allocated.
        let mut body = Vec::new();
        let result = read_frame(&mut reader, left, &mut body);
        assert!(
            body.capacity() <= MAX_BODY && body.len() as u64 <= left.saturating_sub(8),
            "a frame allocated {} bytes with {left} left in the file",
            body.capacity()
        );
        match result {
            Ok((length, part)) => {
                assert_eq!(length, (FRAME_HEADER + body.len()) as u64);
                at += length;
                read.push((body, part));
            }
            Err(bad) => return (read, bad),
        }
    }
}

/// The same bytes through [`decode_frame`], the read path's decoder of a page already in
/// memory, up to a header of zeros (where the read path never looks: its offsets point at
/// frames): the same frames.
fn decode_all_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut decoded = Vec::new();
    let mut at = 0;
    while bytes.get(at..at + FRAME_HEADER) != Some(&[0; FRAME_HEADER][..]) {
        let Ok((body, length)) = decode_frame(&bytes[at..]) else {
            break;
        };
        assert_eq!(length, FRAME_HEADER + body.len());
        assert!(at + length <= bytes.len());
        decoded.push(body.to_vec());
        at += length;
    }
    decoded
}

/// One edit of a record file's bytes.
#[derive(Clone, Debug)]
enum Edit {
    Bytes(ByteEdit),
    /// Rewrites the length field of frame `frame` (modulo the frames written).
    Length {
        frame: usize,
        length: u32,
    },
    /// Zeros from `at` on: a sector that never reached the disk.
    Zeros {
        at: f64,
        len: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = || 0.0f64..1.0;
    prop_oneof![
        byte_edit(11, 19).prop_map(Edit::Bytes),
        (
            0usize..8,
            prop_oneof![
                Just(u32::MAX),
                Just(MAX_BODY as u32),
                Just(MAX_BODY as u32 + 1),
                Just(0),
                any::<u32>(),
                0u32..64,
            ]
        )
            .prop_map(|(frame, length)| Edit::Length { frame, length }),
        (at(), 1usize..600).prop_map(|(at, len)| Edit::Zeros { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, starts: &[usize], edit: &Edit) {
    let len = bytes.len();
    match edit {
        Edit::Bytes(edit) => edit.apply(bytes),
        Edit::Length { frame, length } if !starts.is_empty() => {
            let start = starts[frame % starts.len()];
            if start + 4 <= len {
                bytes[start..start + 4].copy_from_slice(&length.to_le_bytes());
            }
        }
        Edit::Zeros { at, len: n } => {
            let from = index(*at, len);
            bytes[from..(from + n).min(len)].fill(0);
        }
        _ => {}
    }
}

/// Bodies of a few sizes, never empty (no record is: see `records`), so that frames and their
/// headers fall at every alignment.
fn bodies() -> impl Strategy<Value = Vec<(Vec<u8>, Part)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 1..80),
            prop_oneof![Just(Part::Last), Just(Part::More)],
        ),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: no panic, no allocation past what is left; a frame read is a whole frame.
    #[test]
    fn arbitrary_bytes_read_without_panic_or_overallocation(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let (read, _) = read_all_frames(&bytes);
        let decoded = decode_all_frames(&bytes);
        prop_assert_eq!(read.into_iter().map(|(body, _)| body).collect::<Vec<_>>(), decoded);
    }

    /// Any header: a length past [`MAX_BODY`] is damage, and one past the bytes left is a
    /// truncation, both found before the body is allocated (the buffer stays empty); a length
    /// within both is allocated, and is no more than the file still holds.
    #[test]
    fn a_length_is_checked_before_it_is_allocated(
        length in prop_oneof![Just(u32::MAX), any::<u32>(), (MAX_BODY as u32 - 2)..=(MAX_BODY as u32 + 2), 1u32..1_000],
        check in any::<u32>(),
        left in 8u64..100_000,
    ) {
        let mut header = length.to_le_bytes().to_vec();
        header.extend_from_slice(&check.to_le_bytes());
        let mut body = Vec::new();
        let result = read_frame(&mut io::Cursor::new(&header), left, &mut body);
        let length = length as usize;
        if length > MAX_BODY {
            prop_assert!(matches!(result, Err(BadFrame::Damaged(_))), "{:?}", result);
            prop_assert_eq!(body.capacity(), 0);
        } else if (FRAME_HEADER + length) as u64 > left {
            prop_assert_eq!(result, Err(BadFrame::Truncated));
            prop_assert_eq!(body.capacity(), 0);
        } else {
            prop_assert!(body.len() == length && length as u64 <= left - FRAME_HEADER as u64);
            // The cursor holds the header only: the body's bytes are missing.
            prop_assert!(length == 0 || result == Err(BadFrame::Truncated));
        }
        prop_assert!(length == 0 || decode_frame(&header).is_err());
    }

    /// Valid frames, edited: the frames still read are the first ones written, unchanged and
    /// in order, and reading stops at the first edited one (a check word would have to be
    /// forged to pass an edit).
    #[test]
    fn edited_frames_read_back_as_a_prefix_of_the_written_ones(
        frames in bodies(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for (body, part) in &frames {
            starts.push(bytes.len());
            encode_frame(body, *part, &mut bytes);
        }
        for edit in &edits {
            apply(&mut bytes, &starts, edit);
        }
        let (read, _) = read_all_frames(&bytes);
        prop_assert!(read.len() <= frames.len());
        for (i, ((body, part), (written, written_part))) in read.iter().zip(&frames).enumerate() {
            prop_assert_eq!(body, written, "frame {} changed", i);
            prop_assert_eq!(part, written_part);
        }
        let decoded = decode_all_frames(&bytes);
        prop_assert_eq!(decoded, read.into_iter().map(|(body, _)| body).collect::<Vec<_>>());
    }
}

/// Regression cases for the lengths nearest the limits, written out.
#[test]
fn the_largest_lengths_are_refused_without_allocating() {
    for length in [u32::MAX, MAX_BODY as u32 + 1] {
        let mut frame = length.to_le_bytes().to_vec();
        frame.extend_from_slice(&[1, 2, 3, 4]);
        let mut body = Vec::new();
        let result = read_frame(&mut io::Cursor::new(&frame), u64::MAX, &mut body);
        assert!(matches!(result, Err(BadFrame::Damaged(_))), "{result:?}");
        assert_eq!(body.capacity(), 0);
    }
    // Within the limit but past the file's end: cut short, and nothing allocated either.
    let mut frame = (MAX_BODY as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&[1, 2, 3, 4]);
    let mut body = Vec::new();
    let result = read_frame(&mut io::Cursor::new(&frame), 1_000, &mut body);
    assert_eq!(result, Err(BadFrame::Truncated));
    assert_eq!(body.capacity(), 0);
}
