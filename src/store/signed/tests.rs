use super::*;
use crate::store::FileLog;

fn checkpoint(position: u64, key: u8) -> SignedCheckpoint {
    SignedCheckpoint {
        position,
        hash: ChainHash([position as u8; 32]),
        signed_at: Timestamp::from_unix_nanos(-5),
        public_key: [key; 32],
        signature: [9; 64],
        // The checkpoints of key 2 were asked for, so both stored versions are compared.
        requested_by: (key == 2).then(|| "dpo".to_string()),
    }
}

/// Every question the audit layer asks, answered by `store` after the same inserts
/// (including a replacement of one position and key, and the ends of the position range).
fn answers(store: &dyn SignedCheckpointStore) -> Vec<String> {
    let mut answers = Vec::new();
    let ranges = [
        (0, u64::MAX),
        (5, 5),
        (6, 299),
        (5, 300),
        (301, u64::MAX),
        (7, 3),
    ];
    for (from, to) in ranges {
        let found: Vec<_> = store.range(from, to).map(Result::unwrap).collect();
        answers.push(format!("range {from}..={to}: {found:?}"));
        let newest = store.range(from, to).next_back().map(Result::unwrap);
        answers.push(format!("newest of {from}..={to}: {newest:?}"));
    }
    for position in [0, 4, 5, 6, 299, 300, u64::MAX - 1, u64::MAX] {
        let found = store.at_or_before(position).unwrap();
        answers.push(format!("at or before {position}: {found:?}"));
    }
    for (position, key) in [(5, 1), (5, 2), (5, 3), (6, 1), (300, 1), (u64::MAX, 2)] {
        let found = store.get(position, &[key; 32]).unwrap();
        answers.push(format!("get {position} of key {key}: {found:?}"));
    }
    answers
}

#[test]
fn the_sled_store_answers_like_the_memory_model() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    let sled = log.signed_checkpoints().unwrap();
    let memory = MemorySignedCheckpoints::new();
    let mut replaced = checkpoint(5, 2);
    replaced.signature = [1; 64];
    let inserts = [
        checkpoint(300, 1),
        checkpoint(5, 2),
        checkpoint(5, 1),
        replaced.clone(),
        checkpoint(u64::MAX, 2),
    ];
    for c in &inserts {
        sled.insert(c).unwrap();
        memory.insert(c).unwrap();
    }
    let expected = answers(&memory);
    assert_eq!(answers(&sled), expected);
    // The model itself answers what the contract says.
    assert_eq!(
        memory
            .range(0, u64::MAX)
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
        [
            checkpoint(5, 1),
            replaced.clone(),
            checkpoint(300, 1),
            checkpoint(u64::MAX, 2)
        ]
    );
    assert_eq!(memory.at_or_before(299).unwrap(), Some(replaced.clone()));
    assert_eq!(memory.at_or_before(4).unwrap(), None);
    assert_eq!(memory.get(5, &[2; 32]).unwrap(), Some(replaced));
    assert_eq!(memory.range(7, 3).count(), 0);
}

#[test]
fn checkpoints_are_kept_in_position_order_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path()).unwrap();
        let store = log.signed_checkpoints().unwrap();
        for c in [checkpoint(300, 1), checkpoint(5, 1), checkpoint(5, 2)] {
            store.insert(&c).unwrap();
        }
    }
    let log = FileLog::open(dir.path()).unwrap();
    let store = log.signed_checkpoints().unwrap();
    let all: Vec<_> = store.range(0, u64::MAX).map(Result::unwrap).collect();
    assert_eq!(
        all,
        [checkpoint(5, 1), checkpoint(5, 2), checkpoint(300, 1)]
    );
    assert_eq!(store.range(6, 299).count(), 0);
    assert_eq!(store.at_or_before(299).unwrap(), Some(checkpoint(5, 2)));
    assert_eq!(store.at_or_before(4).unwrap(), None);
    assert_eq!(
        store.at_or_before(u64::MAX).unwrap(),
        Some(checkpoint(300, 1))
    );
    assert_eq!(store.get(5, &[1; 32]).unwrap(), Some(checkpoint(5, 1)));
    assert_eq!(store.get(6, &[1; 32]).unwrap(), None);
}
