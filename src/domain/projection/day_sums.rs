//! Evidence summed per channel, half-life and calendar day, and carried forward day by day.
//!
//! Everything one channel received on one UTC day with one half-life is the same number of
//! days old at any instant (docs/scoring.md §1.3), so it decays by one weight. Each day also
//! carries the half-life's evidence forward: the previous day's carried sum times the weight
//! of the days between them, plus the day's own. So the channel's evidence as of an instant is
//! one product per half-life (the last day's carried sum times its age's weight), however many
//! days the history has. The raw values of a day are added in log order, and the carried sums
//! in day order; that is the canonical arithmetic (§4.2), the same whether the sums were kept
//! as events arrived or built from all the items at once: an item dated before the last day
//! carries the days from its own on again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

use super::decay::Decays;
use super::evidence::{Channel, Evidence};
use super::trust::Beta;

/// One day's evidence of one half-life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Day {
    /// The day's raw `r` and `s`, added in log order.
    raw: Beta,
    /// The half-life's evidence as of this day: the previous day's carried sum times the
    /// weight of the days between, plus `raw` (the first day's is its `raw`).
    carried: Beta,
}

/// One channel's evidence: by half-life, then by UTC day number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ByDay(BTreeMap<u32, BTreeMap<i64, Day>>);

impl ByDay {
    fn add(&mut self, item: &Evidence) {
        let half_life = item.half_life_days;
        let series = self.0.entry(half_life).or_default();
        let day_number = item.at.day_number();
        let day = series.entry(day_number).or_default();
        day.raw.r += item.raw_r;
        day.raw.s += item.raw_s;
        carry(series, day_number, half_life);
    }

    /// The evidence aged to `clock`: per half-life, the carried sum of the last day up to
    /// `clock`'s times the weight of its age, then the raw sums of any later days (evidence
    /// dated after its clock counts fully, §1.4), in day order; added in order of half-life.
    pub fn aged(&self, clock: Timestamp, decays: &mut Decays) -> Beta {
        let today = clock.day_number();
        let mut beta = Beta::default();
        for (&half_life, days) in &self.0 {
            if let Some((&day, sums)) = days.range(..=today).next_back() {
                let w = decays.of(today - day, half_life);
                beta.r += sums.carried.r * w;
                beta.s += sums.carried.s * w;
            }
            for sums in days.range(today.saturating_add(1)..).map(|(_, sums)| sums) {
                beta.r += sums.raw.r;
                beta.s += sums.raw.s;
            }
        }
        beta
    }

    fn days(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// Drops the days before the last one before `horizon`, whose carried sum holds them: the
    /// evidence aged to any clock on or after `horizon`, and carried again from any day on or
    /// after it, is then the same to the last bit.
    fn keep_from(&mut self, horizon: i64) {
        for days in self.0.values_mut() {
            if let Some(&anchor) = days.range(..horizon).next_back().map(|(day, _)| day) {
                *days = days.split_off(&anchor);
            }
        }
    }
}

/// Carries `series` forward again from day `from` on, after that day's raw sums changed: one
/// day for evidence in date order, every later day for an item dated in the past.
fn carry(series: &mut BTreeMap<i64, Day>, from: i64, half_life: u32) {
    let mut decays = Decays::default();
    let mut before = series
        .range(..from)
        .next_back()
        .map(|(&day, sums)| (day, sums.carried));
    for (&day, sums) in series.range_mut(from..) {
        sums.carried = match before {
            None => sums.raw,
            Some((previous, carried)) => {
                let w = decays.of(day - previous, half_life);
                Beta {
                    r: carried.r * w + sums.raw.r,
                    s: carried.s * w + sums.raw.s,
                }
            }
        };
        before = Some((day, sums.carried));
    }
}

/// An account's raw evidence by channel, half-life and day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DaySums {
    /// By contact id: every contact with an item, counted or not.
    pub personal: BTreeMap<String, ByDay>,
    /// The organizational channel's own evidence.
    pub org: ByDay,
}

impl DaySums {
    /// The sums of `items`, in their order.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Evidence>) -> Self {
        let mut sums = DaySums::default();
        for item in items {
            sums.add(item);
        }
        sums
    }

    /// Adds `item`. An item that counts zero (over a cap) adds no day, but its contact has a
    /// channel, as it has in the fold.
    pub fn add(&mut self, item: &Evidence) {
        let by_day = match &item.channel {
            Channel::Personal { contact_id } => {
                // Looked up before a key is copied: most items are a known contact's.
                if !self.personal.contains_key(contact_id) {
                    self.personal.insert(contact_id.clone(), ByDay::default());
                }
                let Some(by_day) = self.personal.get_mut(contact_id) else {
                    return;
                };
                by_day
            }
            Channel::Organizational => &mut self.org,
        };
        if item.raw_r != 0.0 || item.raw_s != 0.0 {
            by_day.add(item);
        }
    }

    /// Keeps only what evidence aged to a clock on or after day `horizon` reads, and what
    /// carrying from such a day again needs: evidence dated before `horizon` can no longer be
    /// added. A contact who left is aged to when it left, which may be before `horizon`, but
    /// its channel holds no evidence dated after that (a departure takes it back), so the day
    /// its clock finds is its last, which is kept.
    pub fn keep_from(&mut self, horizon: i64) {
        self.org.keep_from(horizon);
        for by_day in self.personal.values_mut() {
            by_day.keep_from(horizon);
        }
    }

    /// How many (channel, half-life, day) sums there are: their size, for a budget.
    pub fn len(&self) -> usize {
        self.org.days() + self.personal.values().map(ByDay::days).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
