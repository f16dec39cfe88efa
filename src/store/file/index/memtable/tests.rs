use super::*;

#[test]
fn a_new_memtable_has_room_for_the_ids_of_a_run_without_growing() {
    let table = Memtable::new(7, 1_000);
    assert!(table.ids.capacity() >= 1_000);
    assert_eq!((table.from, table.to), (7, 7));
    let most = Memtable::new(0, u64::MAX);
    assert!(most.ids.capacity() >= FLUSH_RECORDS as usize);
    assert!(
        most.ids.capacity() < 4 * FLUSH_RECORDS as usize,
        "a huge flush size reserves no more than a default run's ids"
    );
}
