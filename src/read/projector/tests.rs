use std::time::Duration;

use super::*;

#[test]
fn a_full_page_is_paced_while_live_and_hurried_when_starting_or_far_behind() {
    assert_eq!(next_step(0, true, 0), Step::AwaitHead);
    assert_eq!(
        next_step(PAGE - 1, false, 0),
        Step::AwaitHead,
        "at the head"
    );
    assert_eq!(next_step(PAGE, true, 10), Step::PaceThenNext, "keeping up");
    assert_eq!(next_step(PAGE, true, PACED_BACKLOG), Step::PaceThenNext);
    assert_eq!(
        next_step(PAGE, true, PACED_BACKLOG + 1),
        Step::Next,
        "fell behind"
    );
    assert_eq!(
        next_step(PAGE, false, 10),
        Step::Next,
        "catching up since the start"
    );
}

#[test]
fn the_pace_is_a_multiple_of_the_last_page_within_its_bounds() {
    assert_eq!(pace_after(Duration::ZERO), PACE_LEAST);
    assert_eq!(
        pace_after(Duration::from_millis(3)),
        Duration::from_millis(3) * PACE_DUTY
    );
    assert_eq!(pace_after(Duration::from_secs(10)), PACE_MOST);
    assert_eq!(pace_after(Duration::MAX), PACE_MOST, "no overflow");
}
