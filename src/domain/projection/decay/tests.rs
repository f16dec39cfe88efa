use super::*;

#[test]
fn one_half_life_is_exactly_one_half() {
    for h in [1, 30, 90, 180, 365, 730] {
        assert_eq!(decay(i64::from(h), h), 0.5);
        assert_eq!(decay(2 * i64::from(h), h), 0.25);
        assert_eq!(decay(0, h), 1.0);
    }
}

#[test]
fn agrees_with_the_platform_to_a_few_ulps() {
    for h in [30_u32, 90, 180, 365, 730] {
        for age in 0..3000_i64 {
            let ours = decay(age, h);
            let std = 0.5_f64.powf(age as f64 / f64::from(h));
            // std rounds `age / H` before raising, which costs it up to ~10 ulps itself.
            assert!((ours - std).abs() <= 1e-14 * std, "{age}/{h}");
        }
    }
}

#[test]
fn falls_monotonically_and_vanishes() {
    let mut last = 1.0;
    for age in 1..2000 {
        let w = decay(age, 90);
        assert!(w < last, "{age}");
        last = w;
    }
    assert_eq!(decay(1_000_000, 1), 0.0);
    assert_eq!(decay(-5, 90), 1.0);
    assert_eq!(decay(3, 0), 0.0);
}

#[test]
fn pinned_bits_do_not_move() {
    // These bits are the replay contract: a change here changes every stored projection.
    // Half a half-life is sqrt(0.5), to within one ulp of the correctly rounded value.
    let bits = decay(45, 90).to_bits();
    assert_eq!(bits, 0x3FE6_A09E_667F_3BCC);
    assert!(bits.abs_diff(0.5_f64.sqrt().to_bits()) <= 1);
    assert_eq!(decay(1, 365).to_bits(), 0x3FEF_F075_37AC_FB1C);
}

#[test]
fn kept_series_give_the_function_s_bits() {
    let mut decays = Decays::default();
    for h in [0, 1, 90, 365, 730, 10_000, 10_001] {
        let ages = [
            -3,
            0,
            1,
            89,
            90,
            91,
            400,
            10_000,
            10_981,
            50_000,
            365 * 1022,
            365 * 1023,
        ];
        let ages = ages.into_iter().chain((0..3000).map(|i| i * 7 + 2));
        for age in ages {
            // Twice: worked out, then kept.
            for _ in 0..2 {
                assert_eq!(
                    decays.of(age, h).to_bits(),
                    decay(age, h).to_bits(),
                    "{age} {h}"
                );
            }
        }
    }
}
