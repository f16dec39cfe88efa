use super::*;

fn id(n: u64) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&n.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    id[8..].copy_from_slice(&n.to_le_bytes());
    id
}

#[test]
fn holds_what_was_added_and_rarely_what_was_not() {
    let mut bloom = Bloom::with_capacity(10_000);
    for n in 0..10_000 {
        bloom.insert(&id(n));
    }
    assert!((0..10_000).all(|n| bloom.may_contain(&id(n))));
    let false_positives = (10_000..110_000)
        .filter(|&n| bloom.may_contain(&id(n)))
        .count();
    // About 1% is expected of ten bits per id; 3% would mean the hash is poor.
    assert!(false_positives < 3_000, "{false_positives} false positives");
}

#[test]
fn the_stored_form_round_trips_and_a_bad_one_is_refused() {
    let mut bloom = Bloom::with_capacity(100);
    bloom.insert(&id(7));
    let stored = Bloom::from_words(bloom.words().to_vec()).unwrap();
    assert!(stored.may_contain(&id(7)));
    assert_eq!(stored, bloom);
    assert!(Bloom::from_words(vec![0; 3]).is_none());
    assert!(Bloom::from_words(Vec::new()).is_none());
}
