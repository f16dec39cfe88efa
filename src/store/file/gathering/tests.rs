use super::*;

fn after(sizes: &[usize]) -> Gathering {
    let mut gathering = Gathering::new();
    for &size in sizes {
        gathering.committed(size);
    }
    gathering
}

#[test]
fn nothing_waits_while_groups_are_small() {
    // One client, then eight: groups of one, then of a few.
    for sizes in [vec![1; 100], [3, 5, 2, 6, 4, 7, 3, 5].repeat(20)] {
        let gathering = after(&sizes);
        assert!(gathering.usual() < BUSY, "{}", gathering.usual());
        assert!(!gathering.should_wait(1, Duration::ZERO));
    }
}

#[test]
fn a_short_group_waits_while_groups_are_large_but_not_for_ever() {
    let gathering = after(&[20; 100]);
    assert!(gathering.should_wait(1, Duration::ZERO));
    assert!(gathering.should_wait(9, GATHER_MOST - GATHER_STEP));
    // Half the usual size is enough, and so is the longest wait.
    assert!(!gathering.should_wait(10, Duration::ZERO));
    assert!(!gathering.should_wait(1, GATHER_MOST));
}

#[test]
fn the_usual_size_follows_the_recent_groups() {
    let mut gathering = after(&[20; 100]);
    assert!((gathering.usual() - 20.0).abs() < 0.1);
    for _ in 0..100 {
        gathering.committed(1);
    }
    assert!(gathering.usual() < 1.1);
    assert!(!gathering.should_wait(1, Duration::ZERO));
}
