//! The run file on its own: lookups, reading back in order, and what damage looks like.

use std::fs::OpenOptions;

use super::*;

fn id(n: u64) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    id
}

fn group(account: &str, first_revision: u64, positions: Vec<u64>) -> Group {
    Group {
        account: account.to_string(),
        first_revision,
        positions,
    }
}

/// A run of `accounts` accounts with `per` records each, interleaved: account `a`'s
/// revision `r` is at position `r * accounts + a`, its id `id(position)`.
fn sample(dir: &Path, accounts: u64, per: u64) -> Run {
    let mut ids: Vec<_> = (0..accounts * per).map(|p| (id(p), p)).collect();
    ids.sort();
    let mut groups: Vec<_> = (0..accounts)
        .map(|a| {
            group(
                &format!("acct-{a:05}"),
                0,
                (0..per).map(|r| r * accounts + a).collect(),
            )
        })
        .collect();
    groups.sort_by(|a, b| a.account.cmp(&b.account));
    let range = Range {
        from: 0,
        to: accounts * per,
        to_bytes: 1000,
        level: 0,
    };
    write(
        dir,
        range,
        ids.len() as u64,
        ids.into_iter().map(Ok),
        groups.into_iter().map(Ok),
        &|| false,
    )
    .unwrap()
}

#[test]
fn every_entry_is_found_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let run = sample(dir.path(), 700, 9);
    for position in (0..6300).step_by(7) {
        assert_eq!(run.position_of(&id(position)).unwrap(), Some(position));
    }
    assert_eq!(run.position_of(&id(6300)).unwrap(), None);
    assert_eq!(run.position_of(&[0xff; 16]).unwrap(), None);
    let at = run.group("acct-00421").unwrap().unwrap();
    assert_eq!((at.first_revision, at.count), (0, 9));
    assert_eq!(run.positions(&at, 2, 3).unwrap(), vec![1821, 2521, 3221]);
    assert!(run.positions(&at, 8, 2).is_err());
    assert_eq!(run.group("acct-00700").unwrap(), None);
    assert_eq!(run.group("acct-0042").unwrap(), None);
    assert_eq!(run.group("a").unwrap(), None);
    let firsts = run.first_accounts(Some("acct-00697"), 10).unwrap();
    assert_eq!(
        firsts,
        vec![
            ("acct-00698".to_string(), 698),
            ("acct-00699".to_string(), 699)
        ]
    );
    assert_eq!(run.first_accounts(None, 2).unwrap()[1].0, "acct-00001");
    assert!(
        run.streams.fences.len() > 1,
        "the sample spans several fences"
    );
}

#[test]
fn a_reopened_run_reads_back_what_was_written_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let run = sample(dir.path(), 30, 4);
    let reopened = Run::open(&run.path).unwrap();
    assert_eq!(reopened.range, run.range);
    let ids: Vec<_> = reopened.id_entries().map(Result::unwrap).collect();
    assert_eq!(ids.len(), 120);
    assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
    let groups: Vec<_> = reopened.groups().map(Result::unwrap).collect();
    assert_eq!(groups.len(), 30);
    assert_eq!(groups[3], group("acct-00003", 0, vec![3, 33, 63, 93]));
}

#[test]
fn a_damaged_or_misnamed_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = sample(dir.path(), 30, 4);
    let length = std::fs::metadata(&run.path).unwrap().len();
    // A bit of the Bloom filter (just before the footer) flipped.
    let file = OpenOptions::new().write(true).open(&run.path).unwrap();
    let at = length - FOOTER_BYTES - 3;
    let mut byte = [0];
    File::open(&run.path)
        .unwrap()
        .read_exact_at(&mut byte, at)
        .unwrap();
    file.write_all_at(&[byte[0] ^ 1], at).unwrap();
    let error = Run::open(&run.path).unwrap_err().to_string();
    assert!(error.contains("do not check"), "{error}");
    let renamed = dir.path().join(
        Range {
            from: 0,
            to: 99,
            to_bytes: 0,
            level: 0,
        }
        .file_name(),
    );
    std::fs::rename(&run.path, &renamed).unwrap();
    let error = Run::open(&renamed).unwrap_err().to_string();
    assert!(error.contains("not its name"), "{error}");
}

#[test]
fn a_damaged_id_block_is_reported_not_read_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let run = sample(dir.path(), 700, 9);
    // A byte of the first id entry of the second block (entries 256..512) changed.
    let at = MAGIC.len() as u64 + ID_BLOCK * ID_ENTRY + 3;
    let file = OpenOptions::new().write(true).open(&run.path).unwrap();
    let mut byte = [0];
    File::open(&run.path)
        .unwrap()
        .read_exact_at(&mut byte, at)
        .unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
    let run = Run::open(&run.path).unwrap();
    let ids: Vec<_> = run.id_entries().map(Result::unwrap).collect();
    let (in_second_block, _) = ids[300];
    let error = run.position_of(&in_second_block).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("block 1"), "{error}");
    // The other blocks still answer.
    let (in_first_block, position) = ids[10];
    assert_eq!(run.position_of(&in_first_block).unwrap(), Some(position));
}

#[test]
fn a_damaged_stream_entry_is_reported_not_read_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let run = sample(dir.path(), 30, 4);
    // The account id of one group changed (a letter of "acct-00012").
    let bytes = std::fs::read(&run.path).unwrap();
    let at = bytes.windows(10).position(|w| w == b"acct-00012").unwrap() as u64;
    let file = OpenOptions::new().write(true).open(&run.path).unwrap();
    file.write_all_at(b"b", at).unwrap();
    let run = Run::open(&run.path).unwrap();
    for account in ["acct-00012", "acct-00013"] {
        let error = run.group(account).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{account}");
        assert!(error.to_string().contains("does not check"), "{error}");
    }
    assert!(
        run.groups().any(|g| g.is_err()),
        "a merge would refuse it too"
    );
}

#[test]
fn unsorted_entries_are_refused_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let range = Range {
        from: 0,
        to: 2,
        to_bytes: 10,
        level: 0,
    };
    let ids = vec![Ok((id(2), 1)), Ok((id(1), 0))];
    let ids = if ids[0].as_ref().unwrap().0 < ids[1].as_ref().unwrap().0 {
        ids.into_iter().rev().collect()
    } else {
        ids
    };
    let groups = vec![Ok(group("a", 0, vec![0, 1]))];
    assert!(write(
        dir.path(),
        range,
        2,
        ids.into_iter(),
        groups.into_iter(),
        &|| false
    )
    .is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(Range::parse_file_name(&range.file_name()), Some((0, 2, 0)));
    assert_eq!(Range::parse_file_name("00-01-00.tmp"), None);
}
