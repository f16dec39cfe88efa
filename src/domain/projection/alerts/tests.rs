use super::*;

#[test]
fn money_has_two_places() {
    assert_eq!(money(10_000), "100.00");
    assert_eq!(money(5), "0.05");
    assert_eq!(money(-1234), "-12.34");
}
