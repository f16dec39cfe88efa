//! Evidence summed per channel, half-life and calendar day.
//!
//! Everything one channel received on one UTC day with one half-life is the same number of
//! days old at any instant (docs/scoring.md §1.3), so it decays by one weight: the channel's
//! evidence as of an instant is a sum over its days, not its items. The raw values of a day
//! are added in log order, and the days in (half-life, day) order; that order is the
//! canonical arithmetic (§1.2), the same whether the sums were kept as events arrived or
//! built from all the items at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

use super::decay::Decays;
use super::evidence::{Channel, Evidence};
use super::trust::Beta;

/// One channel's raw evidence: by half-life, then by UTC day number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ByDay(BTreeMap<u32, BTreeMap<i64, Beta>>);

impl ByDay {
    fn add(&mut self, item: &Evidence) {
        let day = self
            .0
            .entry(item.half_life_days)
            .or_default()
            .entry(item.at.day_number())
            .or_default();
        day.r += item.raw_r;
        day.s += item.raw_s;
    }

    /// The evidence aged to `clock`: each day's sums times its decay, added in order.
    pub fn aged(&self, clock: Timestamp, decays: &mut Decays) -> Beta {
        let today = clock.day_number();
        let mut beta = Beta::default();
        for (&half_life, days) in &self.0 {
            for (&day, raw) in days {
                let w = decays.of(today - day, half_life);
                beta.r += raw.r * w;
                beta.s += raw.s * w;
            }
        }
        beta
    }

    fn days(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
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

    /// How many (channel, half-life, day) sums there are: their size, for a budget.
    pub fn len(&self) -> usize {
        self.org.days() + self.personal.values().map(ByDay::days).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
