//! The three engines, filled with the same small workload, give the same answer to every
//! lookup, and the answer the workload says is right: the comparison measures engines that
//! do the same work.

use index_engines::{account_name, Workload, ENGINES, LOOKUPS};

#[test]
fn every_engine_gives_every_lookup_the_same_right_answer() {
    let workload = Workload {
        accounts: 1_000,
        per_account: 200,
        group: 64,
        lookups: 2_000,
        // Small runs, so that relledger's index writes 48 and merges them twice over.
        flush_records: 4_096,
    };
    let root = tempfile::tempdir().unwrap();
    let mut answers = Vec::new();
    for engine in ENGINES {
        let dir = root.path().join(engine);
        let mut opened = index_engines::open(engine, &dir, &workload).unwrap();
        index_engines::append_all(opened.as_mut(), &workload).unwrap();
        let opened = opened.as_ref();
        let mut found = Vec::new();
        // Each kind of lookup the benchmark times, its answer checked against the workload.
        for kind in 0..LOOKUPS.len() {
            for n in 0..workload.lookups {
                found.push(index_engines::lookup(opened, &workload, kind, n).unwrap());
            }
        }
        // And every id, every account's last revision, and ranges inside a stream.
        for position in 0..workload.events() {
            let id = workload.id(position);
            found.push(opened.position_of(&id).unwrap().into_iter().collect());
        }
        for account in 0..workload.accounts {
            let name = account_name(account);
            found.push(opened.last_revision(&name).unwrap().into_iter().collect());
            let range = opened.positions(&name, 37..163).unwrap();
            let expected: Vec<u64> = (37..163).map(|r| workload.position(account, r)).collect();
            assert_eq!(range, expected, "{engine}: account {account}");
            found.push(range);
        }
        assert_eq!(
            opened
                .last_revision(&account_name(workload.accounts))
                .unwrap(),
            None,
            "{engine}: an account without events"
        );
        answers.push((engine, found));
    }
    let (first, expected) = &answers[0];
    for (engine, found) in &answers[1..] {
        assert!(found == expected, "{engine} disagrees with {first}");
    }
}
