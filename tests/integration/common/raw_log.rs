//! A stopped log's record files, read and rewritten behind its back: for the tests that tamper
//! with a data dir the way a failing disk or an attacker would. The frame layout is the one
//! ARCHITECTURE.md documents ("Storage layout").
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use relledger::store::file::{
    encode_frame, log_path, Part, FRAME_HEADER, OFFSETS_FILE, OFFSET_BYTES, RECORDS_FILE,
};

fn records_file(dir: &Path) -> PathBuf {
    log_path(dir).join(RECORDS_FILE)
}

fn offsets_file(dir: &Path) -> PathBuf {
    log_path(dir).join(OFFSETS_FILE)
}

/// The frame offsets of every stored record, in position order.
pub fn frame_offsets(dir: &Path) -> Vec<u64> {
    std::fs::read(offsets_file(dir))
        .unwrap()
        .chunks_exact(OFFSET_BYTES as usize)
        .map(|entry| u64::from_le_bytes(entry.try_into().unwrap()))
        .collect()
}

/// The stored value of every record, in position order.
pub fn stored_values(dir: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(records_file(dir)).unwrap();
    frame_offsets(dir)
        .into_iter()
        .map(|offset| {
            let at = offset as usize;
            let length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            bytes[at + FRAME_HEADER..at + FRAME_HEADER + length].to_vec()
        })
        .collect()
}

/// Rewrites both files to hold `values`, each in a sound frame with its checksum (each an
/// append of its own): what an attacker who knows the layout writes.
pub fn rewrite(dir: &Path, values: &[Vec<u8>]) {
    let (mut frames, mut offsets) = (Vec::new(), Vec::new());
    for value in values {
        offsets.extend_from_slice(&(frames.len() as u64).to_le_bytes());
        encode_frame(value, Part::Last, &mut frames);
    }
    std::fs::write(records_file(dir), frames).unwrap();
    std::fs::write(offsets_file(dir), offsets).unwrap();
}

/// Flips one bit of the stored value of the record at `position`, `from_end` bytes before the
/// end of its frame, and leaves the frame's checksum as it was: what a failing disk does.
pub fn flip_a_stored_bit(dir: &Path, position: u64, from_end: usize) {
    let offsets = frame_offsets(dir);
    let mut bytes = std::fs::read(records_file(dir)).unwrap();
    let at = offsets[position as usize] as usize;
    let length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    bytes[at + FRAME_HEADER + length - from_end] ^= 0x01;
    std::fs::write(records_file(dir), bytes).unwrap();
}

/// Where the frame of the record at `position` ends in the record file.
pub fn frame_end(dir: &Path, position: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let at = frame_offsets(dir)[position as usize];
    let mut length = [0; 4];
    std::fs::File::open(records_file(dir))
        .unwrap()
        .read_exact_at(&mut length, at)
        .unwrap();
    at + FRAME_HEADER as u64 + u64::from(u32::from_le_bytes(length))
}

/// Cuts the record file at byte `at`: what is left on disk when a crash interrupted the write
/// of the bytes past it.
pub fn cut_records(dir: &Path, at: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(records_file(dir))
        .unwrap();
    file.set_len(at).unwrap();
}

/// Leaves a cleanly closed dir as a crash during the appends from `position` on leaves it:
/// only the first `records_len` bytes of the record file reached the disk (and zeros after
/// them up to the file's end, when `zeros`: the space the writer prepares past the records),
/// only the first `offsets_len` bytes of the offsets file, no index run covers a record from
/// `position` on (runs are written only for records long durable), and the manifest says the
/// log was open.
pub fn crash_during_appends_from(
    dir: &Path,
    position: u64,
    records_len: u64,
    zeros: bool,
    offsets_len: u64,
) {
    let records = records_file(dir);
    let length = std::fs::metadata(&records).unwrap().len();
    cut_records(dir, records_len);
    if zeros {
        cut_records(dir, length.max(records_len));
    }
    let offsets = std::fs::OpenOptions::new()
        .write(true)
        .open(offsets_file(dir))
        .unwrap();
    offsets.set_len(offsets_len).unwrap();
    // Run files are named FROM-TO-LEVEL.run, for the positions FROM..TO.
    for entry in std::fs::read_dir(relledger::store::file::index_path(dir)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(range) = name.strip_suffix(".run") else {
            continue;
        };
        let to: u64 = range.split('-').nth(1).unwrap().parse().unwrap();
        if to > position {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::fs::write(
        dir.join(relledger::store::file::MANIFEST_FILE),
        r#"{"format":1,"closed_at":null}"#,
    )
    .unwrap();
}
