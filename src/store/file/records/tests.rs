//! The frames and the two files: round trips, torn and damaged frames, the check word's two
//! forms, and reads from the page cache.

use super::*;

mod hostile;

#[test]
fn a_frame_round_trips_and_a_cut_or_flipped_one_does_not() {
    let mut bytes = Vec::new();
    encode_frame(b"hello", Part::Last, &mut bytes);
    encode_frame(b"", Part::More, &mut bytes);
    assert_eq!(decode_frame(&bytes), Ok((&b"hello"[..], 13)));
    assert_eq!(decode_frame(&bytes[13..]), Ok((&b""[..], 8)));
    assert_eq!(decode_frame(&bytes[..12]), Err(BadFrame::Truncated));
    assert_eq!(decode_frame(&bytes[..3]), Err(BadFrame::Truncated));
    let mut flipped = bytes.clone();
    flipped[10] ^= 1;
    assert!(matches!(decode_frame(&flipped), Err(BadFrame::Damaged(_))));
    let mut huge = bytes.clone();
    huge[3] = 0xff;
    assert!(matches!(decode_frame(&huge), Err(BadFrame::Damaged(_))));
}

/// The check word says whether an append goes on past a record, and a frame that says so
/// checks as well as one that ends its append: the mark is covered like the body.
#[test]
fn a_frame_says_whether_its_append_goes_on() {
    let (mut last, mut more) = (Vec::new(), Vec::new());
    encode_frame(b"order won", Part::Last, &mut last);
    encode_frame(b"order won", Part::More, &mut more);
    assert_eq!(last[..4], more[..4], "the same length");
    assert_eq!(last[FRAME_HEADER..], more[FRAME_HEADER..], "the same body");
    assert_ne!(last[4..8], more[4..8]);
    let mut body = Vec::new();
    for (frame, part) in [(&last, Part::Last), (&more, Part::More)] {
        let left = frame.len() as u64;
        assert_eq!(
            read_frame(&mut io::Cursor::new(frame), left, &mut body),
            Ok((left, part))
        );
        assert_eq!(decode_frame(frame), Ok((&b"order won"[..], frame.len())));
    }
    // A frame written before the mark existed held the body's CRC-32: it ends its append.
    let mut old = 9u32.to_le_bytes().to_vec();
    old.extend_from_slice(&crc32fast::hash(b"order won").to_le_bytes());
    old.extend_from_slice(b"order won");
    assert_eq!(old, last);
    // A flipped bit of the check word is damage, not the other part.
    let mut flipped = more.clone();
    flipped[5] ^= 0x10;
    let left = flipped.len() as u64;
    assert!(matches!(
        read_frame(&mut io::Cursor::new(&flipped), left, &mut body),
        Err(BadFrame::Damaged(_))
    ));
    assert_eq!(
        (0..4).map(|i| Part::of(i, 4)).collect::<Vec<_>>(),
        [Part::More, Part::More, Part::More, Part::Last]
    );
}

/// Recovery reads frames one by one: zeros where a header belongs are the prepared space
/// past the records, told apart from a frame cut short or damaged.
#[test]
fn a_header_of_zeros_reads_as_unwritten_space() {
    let mut bytes = Vec::new();
    encode_frame(b"hello", Part::Last, &mut bytes);
    let whole = bytes.len();
    bytes.extend_from_slice(&[0; 64]);
    let mut reader = io::Cursor::new(&bytes);
    let mut body = Vec::new();
    let left = bytes.len() as u64;
    assert_eq!(
        read_frame(&mut reader, left, &mut body),
        Ok((whole as u64, Part::Last))
    );
    assert_eq!(body, b"hello");
    let left = left - whole as u64;
    assert_eq!(
        read_frame(&mut reader, left, &mut body),
        Err(BadFrame::Unwritten)
    );
    // A frame torn inside the prepared space: its header, then zeros where its body was.
    let mut torn = Vec::new();
    encode_frame(b"hello", Part::More, &mut torn);
    torn.truncate(FRAME_HEADER + 2);
    torn.extend_from_slice(&[0; 64]);
    let left = torn.len() as u64;
    assert!(matches!(
        read_frame(&mut io::Cursor::new(&torn), left, &mut body),
        Err(BadFrame::Damaged(_))
    ));
}

/// Record files in `dir` holding the frames of "one", "two!" and "three" (at bytes 0, 11
/// and 23), written but not synced; and the frames as written.
fn three_frames(dir: &Path) -> (RecordFiles, Vec<u8>) {
    let files = RecordFiles::open(dir).unwrap();
    let (mut frames, mut offsets) = (Vec::new(), Vec::new());
    for body in [&b"one"[..], b"two!", b"three"] {
        encode_offset(frames.len() as u64, &mut offsets);
        encode_frame(body, Part::Last, &mut frames);
    }
    files.write(0, &frames, 0, &offsets).unwrap();
    (files, frames)
}

#[test]
fn the_files_read_back_what_was_written_at_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (files, frames) = three_frames(dir.path());
    files.sync_records().unwrap();
    assert_eq!(files.offsets(1, 3, Wait::Allowed).unwrap(), vec![11, 23]);
    let tail = files.read(11, 1_000).unwrap();
    assert_eq!(decode_frame(&tail).unwrap().0, b"two!");
    assert_eq!(files.lengths().unwrap(), (frames.len() as u64, 24));
    files.truncate(11, 1).unwrap();
    assert_eq!(files.lengths().unwrap(), (11, 8));
}

/// What was just written is in the page cache, so a read that may not wait for the disk
/// reads it (on Linux, whose file systems take `RWF_NOWAIT` for buffered reads) and reads
/// the same as one that may.
#[cfg(target_os = "linux")]
#[test]
fn a_read_of_the_page_cache_only_reads_what_was_just_written() {
    let dir = tempfile::tempdir().unwrap();
    let (files, frames) = three_frames(dir.path());
    assert_eq!(files.offsets(0, 3, Wait::Cached).unwrap(), vec![0, 11, 23]);
    let mut cached = b"kept".to_vec();
    files
        .read_into(11, 1_000, Wait::Cached, &mut cached)
        .unwrap();
    assert_eq!(&cached[..4], b"kept", "appended to what the buffer held");
    assert_eq!(cached[4..], frames[11..]);
    // Past the end, both kinds of read find the file's end, not an error.
    assert_eq!(
        files.offsets(2, 4, Wait::Cached).map_err(|e| e.kind()),
        Err(io::ErrorKind::UnexpectedEof)
    );
    let mut past = Vec::new();
    files
        .read_into(1_000, 2_000, Wait::Cached, &mut past)
        .unwrap();
    assert!(past.is_empty());
}
