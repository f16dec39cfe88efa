use super::*;

#[test]
fn beta_reputation_numbers() {
    let p = Params::default();
    let none = Beta::default();
    assert_eq!(none.expected(&p), 0.5);
    assert_eq!(none.uncertainty(&p), 1.0);
    let b = Beta { r: 3.0, s: 1.0 };
    // (3 + 1) / (3 + 1 + 2) and 2 / 6.
    assert_eq!(b.expected(&p), 4.0 / 6.0);
    assert_eq!(b.uncertainty(&p), 2.0 / 6.0);
    let s = TrustScore::new(b, none, &p);
    assert_eq!(s.score, 67);
    assert_eq!(s.grade, Grade::Good);
    assert_eq!(s.trend, Trend::Improving);
    assert!((s.confidence - 4.0 / 6.0).abs() < 1e-15);
}

#[test]
fn grades_follow_the_thresholds() {
    let p = Params::default();
    let none = Beta::default();
    // r + s < 0.5 means u > 0.8.
    assert_eq!(
        TrustScore::new(Beta { r: 0.4, s: 0.0 }, none, &p).grade,
        Grade::NotEnoughInfo
    );
    // u = 0.8 exactly is graded: P = 1.5 / 2.5 = 0.6.
    assert_eq!(
        TrustScore::new(Beta { r: 0.5, s: 0.0 }, none, &p).grade,
        Grade::Good
    );
    assert_eq!(
        TrustScore::new(Beta { r: 1.0, s: 1.0 }, none, &p).grade,
        Grade::Fair
    );
    assert_eq!(
        TrustScore::new(Beta { r: 0.0, s: 2.0 }, none, &p).grade,
        Grade::Poor
    );
    let steady = TrustScore::new(Beta { r: 1.0, s: 1.0 }, Beta { r: 1.0, s: 1.1 }, &p);
    assert_eq!(steady.trend, Trend::Steady);
    let down = TrustScore::new(Beta { r: 0.0, s: 2.0 }, none, &p);
    assert_eq!(down.trend, Trend::Declining);
    assert_eq!(down.score, 25);
}
