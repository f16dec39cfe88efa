//! The index on its own: lookups across the memtable and runs, merges, and what `open` keeps.

use std::path::Path;

use super::*;
use crate::domain::{AccountId, EventId};

fn account(n: u64) -> AccountId {
    AccountId::parse(format!("acct-{n:03}")).unwrap()
}

fn id(position: u64) -> EventId {
    EventId::from_uuid(uuid::Uuid::from_u64_pair(
        position.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        position,
    ))
    .unwrap()
}

/// The entries of positions `from..to` of a log of `accounts` accounts taking turns:
/// position `p` is account `p % accounts`'s revision `p / accounts`.
fn entries(accounts: u64, from: u64, to: u64) -> Vec<Entry> {
    (from..to)
        .map(|position| Entry {
            position,
            account: account(position % accounts),
            revision: position / accounts,
            id: id(position),
        })
        .collect()
}

/// An index holding positions `0..to`, written as runs of `per_run` records (the rest in the
/// memtable); each run's frame bytes are its end position times ten.
fn index_with(dir: &Path, accounts: u64, to: u64, per_run: u64) -> Index {
    let (index, covered) = Index::open(dir, FLUSH_RECORDS).unwrap();
    assert_eq!(covered, Covered { to: 0, to_bytes: 0 });
    let mut at = 0;
    while at < to {
        let end = (at + per_run).min(to);
        index.add(&entries(accounts, at, end));
        if end - at == per_run {
            index.flush(end * 10).unwrap();
        }
        at = end;
    }
    index
}

fn check_lookups(index: &Index, accounts: u64, to: u64) {
    for position in (0..to).step_by(3) {
        assert_eq!(
            index.position_of(&id(position), to).unwrap(),
            Some(position)
        );
    }
    assert_eq!(index.position_of(&id(to), u64::MAX).unwrap(), None);
    for n in 0..accounts {
        let revisions = (to - n).div_ceil(accounts);
        assert_eq!(
            index.last_revision(&account(n), to).unwrap(),
            revisions.checked_sub(1)
        );
        let positions = index.positions(&account(n), 0..revisions).unwrap();
        let expected: Vec<u64> = (0..revisions).map(|r| r * accounts + n).collect();
        assert_eq!(positions, expected, "account {n}");
    }
}

#[test]
fn entries_are_found_in_the_memtable_and_in_runs() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_with(dir.path(), 7, 1_000, 300);
    assert_eq!(
        index.run_ranges(),
        vec![(0, 300, 0), (300, 600, 0), (600, 900, 0)]
    );
    check_lookups(&index, 7, 1_000);
    // A read that began before the last records sees none of them.
    assert_eq!(index.position_of(&id(950), 900).unwrap(), None);
    assert_eq!(index.position_of(&id(650), 600).unwrap(), None);
    assert_eq!(index.last_revision(&account(3), 600).unwrap(), Some(85));
    assert_eq!(index.last_revision(&account(3), 4).unwrap(), Some(0));
    assert_eq!(index.last_revision(&account(3), 3).unwrap(), None);
    let missing = index.positions(&account(3), 140..144).unwrap_err();
    assert!(
        missing.to_string().contains("lacks revision 143"),
        "{missing}"
    );
}

#[test]
fn accounts_are_listed_in_id_order_from_every_part() {
    let dir = tempfile::tempdir().unwrap();
    // Account n's first record is at position n * 37: they appear in several runs and in the
    // memtable.
    let (index, _) = Index::open(dir.path(), FLUSH_RECORDS).unwrap();
    for n in 0..30u64 {
        index.add(&[Entry {
            position: n,
            account: account((n * 7) % 30),
            revision: 0,
            id: id(n),
        }]);
        if n % 8 == 7 {
            index.flush((n + 1) * 10).unwrap();
        }
    }
    let all = index.accounts(None, 100, 30).unwrap();
    assert_eq!(all, (0..30).map(account).collect::<Vec<_>>());
    let page = index.accounts(Some(&account(10)), 5, 30).unwrap();
    assert_eq!(page, (11..16).map(account).collect::<Vec<_>>());
    // Before position 8 only the first eight accounts had begun.
    let early = index.accounts(None, 100, 8).unwrap();
    let mut expected: Vec<_> = (0..8u64).map(|n| account((n * 7) % 30)).collect();
    expected.sort();
    assert_eq!(early, expected);
}

#[test]
fn runs_of_a_level_are_merged_and_everything_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_with(dir.path(), 5, 2_150, 100);
    index.wait_for_merges();
    // 21 runs of 100: five merges of four make runs of 400, four of which make one of 1,600.
    assert_eq!(
        index.run_ranges(),
        vec![(0, 1_600, 2), (1_600, 2_000, 1), (2_000, 2_100, 0)]
    );
    check_lookups(&index, 5, 2_150);
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 3, "the merged runs' files are removed");
}

#[test]
fn reopening_finds_the_runs_cover_and_drops_what_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_with(dir.path(), 5, 900, 100);
    index.wait_for_merges();
    let ranges = index.run_ranges();
    assert_eq!(ranges, vec![(0, 400, 1), (400, 800, 1), (800, 900, 0)]);
    drop(index);
    // What a crash between a merge's rename and its removals leaves: an input beside its
    // output (an old level 0 run), and an unfinished file.
    let kept = dir.path().join(
        Range {
            from: 0,
            to: 400,
            to_bytes: 4_000,
            level: 1,
        }
        .file_name(),
    );
    let input = dir
        .path()
        .join("00000000000000000000-00000000000000000100-00.run");
    std::fs::copy(&kept, &input).unwrap();
    std::fs::write(dir.path().join("half.tmp"), b"half").unwrap();

    let (index, covered) = Index::open(dir.path(), FLUSH_RECORDS).unwrap();
    assert_eq!(
        covered,
        Covered {
            to: 900,
            to_bytes: 9_000
        }
    );
    assert_eq!(index.run_ranges(), ranges);
    assert!(!input.exists() && !dir.path().join("half.tmp").exists());
    index.add(&entries(5, 900, 1_000));
    check_lookups(&index, 5, 1_000);
}

#[test]
fn a_damaged_run_ends_the_cover_and_is_removed_with_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_with(dir.path(), 5, 300, 100);
    drop(index);
    let middle = dir.path().join(
        Range {
            from: 100,
            to: 200,
            to_bytes: 2_000,
            level: 0,
        }
        .file_name(),
    );
    let mut bytes = std::fs::read(&middle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&middle, bytes).unwrap();
    let (index, covered) = Index::open(dir.path(), FLUSH_RECORDS).unwrap();
    assert_eq!(
        covered,
        Covered {
            to: 100,
            to_bytes: 1_000
        }
    );
    assert_eq!(index.run_ranges(), vec![(0, 100, 0)]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_frozen_memtable_is_written_by_the_index_thread_and_read_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = Index::open(dir.path(), 50).unwrap();
    index.add(&entries(3, 0, 60));
    assert!(index.is_full());
    index.freeze(600);
    // Frozen, the entries are still found while (or before) the run is written...
    check_lookups(&index, 3, 60);
    assert!(!index.is_full(), "one frozen memtable at a time");
    index.add(&entries(3, 60, 70));
    // ...and the index thread writes them without anyone asking again.
    index.wait_for_runs(1);
    assert_eq!(index.run_ranges(), vec![(0, 60, 0)]);
    check_lookups(&index, 3, 70);
    drop(index);
    let (_, covered) = Index::open(dir.path(), 50).unwrap();
    assert_eq!(
        covered,
        Covered {
            to: 60,
            to_bytes: 600
        }
    );
}

#[test]
fn a_merge_in_progress_holds_up_no_frozen_memtable() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = Index::open(dir.path(), 10).unwrap();
    // A merge that lasts: the merge thread cannot start one while this is held.
    let merging = index.shared.merging.lock().unwrap();
    for (at, from) in (0..50).step_by(10).enumerate() {
        index.add(&entries(3, from, from + 10));
        assert!(index.is_full());
        index.freeze((from + 10) * 10);
        // Four runs of level 0 make a merge due from the fourth on; the runs are written all
        // the same, so the writer's memtable never waits past its bound.
        index.wait_for_runs(at + 1);
    }
    assert_eq!(index.run_ranges().len(), 5);
    drop(merging);
    index.wait_for_merges();
    assert_eq!(index.run_ranges(), vec![(0, 40, 1), (40, 50, 0)]);
    check_lookups(&index, 3, 50);
}
