use super::*;

#[test]
fn parts_round_trip_including_before_the_epoch() {
    for (s, n) in [
        (0, 0),
        (1, 5),
        (-1, 999_999_999),
        (1_700_000_000, 123_456_789),
    ] {
        let t = Timestamp::from_parts(s, n).unwrap();
        assert_eq!(t.to_parts(), (s, n));
    }
    assert_eq!(
        Timestamp::from_parts(-1, 0).unwrap().unix_nanos(),
        -NANOS_PER_SECOND
    );
}

#[test]
fn out_of_range_parts_are_refused() {
    assert!(Timestamp::from_parts(i64::MAX, 0).is_none());
    assert!(Timestamp::from_parts(0, -1).is_none());
    assert!(Timestamp::from_parts(0, 1_000_000_000).is_none());
}

#[test]
fn ages_are_whole_days_rounded_down() {
    let t0 = Timestamp::from_unix_nanos(0);
    let almost_two = Timestamp::from_unix_nanos(2 * NANOS_PER_DAY - 1);
    assert_eq!(almost_two.days_since(t0), 1);
    assert_eq!(t0.days_since(almost_two), -2);
    assert_eq!(Timestamp::from_unix_nanos(-1).day_number(), -1);
}

#[test]
fn calendar_days_count_midnights_crossed() {
    let late = Timestamp::from_unix_nanos(NANOS_PER_DAY - 1);
    let early_next = Timestamp::from_unix_nanos(NANOS_PER_DAY);
    assert_eq!(early_next.calendar_days_since(late), 1);
    assert_eq!(early_next.days_since(late), 0);
    let end_of_next = Timestamp::from_unix_nanos(2 * NANOS_PER_DAY - 1);
    assert_eq!(end_of_next.calendar_days_since(early_next), 0);
    assert_eq!(late.calendar_days_since(Timestamp::from_unix_nanos(-1)), 1);
}

#[test]
fn days_between_the_ends_of_the_range_do_not_overflow() {
    let (min, max) = (
        Timestamp::from_unix_nanos(i64::MIN),
        Timestamp::from_unix_nanos(i64::MAX),
    );
    let span = (i128::from(i64::MAX) - i128::from(i64::MIN)) / i128::from(NANOS_PER_DAY);
    assert_eq!(i128::from(max.days_since(min)), span);
    assert_eq!(i128::from(min.days_since(max)), -span - 1);
}
