use super::*;

#[test]
fn the_clock_reads_the_system_time() {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let read = now().unix_nanos() as u128;
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert!(
        before <= read && read <= after,
        "{before} <= {read} <= {after}"
    );
}
