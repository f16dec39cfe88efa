//! Exponential decay `0.5^(age_days / H)`, bit-identical on every platform.
//!
//! std's `powf` and `exp` call the platform's math library, whose last bits differ between
//! systems and releases; docs/scoring.md §1.2 requires byte-identical replays. This module
//! uses only `+ - * /` on `f64`, which IEEE 754 rounds exactly the same everywhere (and Rust
//! never fuses them into FMA on its own):
//!
//! - the whole half-lives `q = age / H` give `0.5^q`, exact in binary (a power of two);
//! - the rest `f = (age mod H) / H`, in `[0, 1)`, gives `2^-f = e^(-f ln 2)` by a fixed
//!   30-term Taylor series, far past double precision since `f ln 2 < 0.7`.
//!
//! So one half-life is exactly 0.5, two exactly 0.25, and the rest agree with a correctly
//! rounded result to within a few ulps (a test holds that against std).

/// ln 2, correctly rounded to `f64`.
const LN_2: f64 = std::f64::consts::LN_2;

/// Taylor terms of `e^x` for `x` in `(-0.7, 0]`; the 30th term is below 1e-35.
const TAYLOR_TERMS: u32 = 30;

/// The weight of evidence `age_days` whole days old with a half-life of `half_life_days`.
///
/// A negative age (evidence from the future of its clock) counts fully; a zero half-life
/// means evidence counts only on its own day.
pub fn decay(age_days: i64, half_life_days: u32) -> f64 {
    if age_days <= 0 {
        return 1.0;
    }
    if half_life_days == 0 {
        return 0.0;
    }
    let h = i64::from(half_life_days);
    let whole = age_days / h;
    let rest = age_days % h;
    // 0.5^1075 is below the smallest subnormal: the weight is zero from there on.
    if whole >= 1075 {
        return 0.0;
    }
    let mut weight = 1.0_f64;
    for _ in 0..whole {
        weight *= 0.5;
    }
    if rest == 0 {
        return weight;
    }
    weight * exp_small(-(rest as f64 / h as f64) * LN_2)
}

/// [`decay`] with the series worked out once per half-life and remainder: the weight of age
/// `q H + f` is `0.5^q` (a power of two, exact) times the weight of `f`, so a half-life needs
/// at most `H` series however long the history. The same operations as [`decay`], so the
/// same bits (a test holds it).
#[derive(Default)]
pub(crate) struct Decays {
    /// The tables of the half-lives met so far, by half-life.
    tables: Vec<(u32, std::rc::Rc<[f64]>)>,
}

thread_local! {
    /// Per half-life, `2^-(f / H)` for every remainder `f`: a pure function of its arguments,
    /// worked out once per thread (the projector's fold thread evaluates every summary) rather
    /// than once per evaluation, where it was half of a summary's cost.
    static RESTS: std::cell::RefCell<Vec<(u32, std::rc::Rc<[f64]>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The longest half-life whose remainders are tabulated (80 KB); a longer one, which no
/// parameter set uses, is worked out each time.
const MOST_TABULATED: u32 = 10_000;

/// `2^-(f / H)` for every remainder `f` of half-life `h` (more than zero).
fn rests(h: u32) -> std::rc::Rc<[f64]> {
    RESTS.with(|tables| {
        let mut tables = tables.borrow_mut();
        if let Some((_, table)) = tables.iter().find(|(kept, _)| *kept == h) {
            return std::rc::Rc::clone(table);
        }
        let table: std::rc::Rc<[f64]> = (0..h)
            .map(|rest| exp_small(-(f64::from(rest) / f64::from(h)) * LN_2))
            .collect();
        tables.push((h, std::rc::Rc::clone(&table)));
        table
    })
}

impl Decays {
    /// `decay(age_days, half_life_days)`.
    pub fn of(&mut self, age_days: i64, half_life_days: u32) -> f64 {
        if age_days <= 0 || half_life_days == 0 || half_life_days > MOST_TABULATED {
            return decay(age_days, half_life_days);
        }
        let h = i64::from(half_life_days);
        let (whole, rest) = (age_days / h, age_days % h);
        // Past 1022 half-lives the power is subnormal: rare enough to take the long way.
        if whole > 1022 {
            return decay(age_days, half_life_days);
        }
        // 0.5^whole, which `decay` reaches by halving: exact, so its bits are these.
        let weight = f64::from_bits(((1023 - whole) as u64) << 52);
        if rest == 0 {
            return weight;
        }
        let table = match self.tables.iter().find(|(kept, _)| *kept == half_life_days) {
            Some((_, table)) => table,
            None => {
                self.tables.push((half_life_days, rests(half_life_days)));
                let Some((_, table)) = self.tables.last() else {
                    return decay(age_days, half_life_days);
                };
                table
            }
        };
        weight * table[rest as usize]
    }
}

/// `e^x` for `x` in `(-0.7, 0]` by Horner's rule on the Taylor series, a fixed sequence of
/// `+ * /` so that every platform rounds it the same.
fn exp_small(x: f64) -> f64 {
    let mut sum = 1.0_f64;
    for k in (1..=TAYLOR_TERMS).rev() {
        sum = 1.0 + x * sum / f64::from(k);
    }
    sum
}

#[cfg(test)]
mod tests;
