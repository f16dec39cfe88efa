//! Kept live answers: the last live answer of recently asked accounts, re-dated while it
//! holds (see [`LiveAnswers`]).

use std::sync::Arc;

use lru::LruCache;

use crate::domain::projection::AccountProjection;
use crate::domain::{AccountId, Timestamp};

/// The most events the kept live answers may have counted, in all: their contributions are
/// most of their size (a few hundred bytes an event).
const LIVE_ANSWER_BUDGET: usize = 200_000;

/// Live answers (no `as_of`, no `known_at`) by account, least recently used out first.
///
/// A live answer is judged at the moment the request arrives, and ages change every day, so
/// no two live answers are quite alike; but between two instants at which nothing ticks over
/// ([`stable_until`](crate::domain::projection::stable_until)) the answer is the same but for
/// its `as_of`. Within that span, and while no event is appended to the account, a live
/// question is answered by the kept answer with its `as_of` moved: byte for byte what a fresh
/// fold would say.
pub(super) struct LiveAnswers {
    answers: LruCache<AccountId, LiveAnswer>,
    /// The events the kept answers counted, in all.
    events: usize,
}

impl Default for LiveAnswers {
    fn default() -> Self {
        LiveAnswers {
            answers: LruCache::unbounded(),
            events: 0,
        }
    }
}

pub(super) struct LiveAnswer {
    /// The last stream revision it counted.
    pub(super) revision: u64,
    /// How many contributions of each score it lists (`None`: all of them).
    pub(super) listing: Option<usize>,
    /// The instant it was judged at.
    pub(super) as_of: Timestamp,
    /// The first instant it may no longer hold.
    pub(super) until: Timestamp,
    pub(super) projection: Arc<AccountProjection>,
}

impl LiveAnswers {
    /// The kept answer for `account` if it counted up to `revision`, holds at `as_of` and lists
    /// at least `listing` contributions of each score, re-dated to `as_of`.
    pub(super) fn get(
        &mut self,
        account: &AccountId,
        revision: u64,
        as_of: Timestamp,
        listing: Option<usize>,
    ) -> Option<AccountProjection> {
        let kept = self.answers.get(account)?;
        let lists_enough = match (kept.listing, listing) {
            (None, _) => true,
            (Some(kept), Some(asked)) => kept >= asked,
            (Some(_), None) => false,
        };
        let holds =
            kept.revision == revision && lists_enough && kept.as_of <= as_of && as_of < kept.until;
        holds.then(|| {
            let mut answer = AccountProjection::clone(&kept.projection);
            answer.as_of = as_of;
            answer
        })
    }

    pub(super) fn keep(&mut self, account: &AccountId, answer: LiveAnswer) {
        let weight = answer.projection.events_counted;
        if weight > LIVE_ANSWER_BUDGET {
            return;
        }
        if let Some(old) = self.answers.put(account.clone(), answer) {
            self.events -= old.projection.events_counted;
        }
        self.events += weight;
        while self.events > LIVE_ANSWER_BUDGET {
            match self.answers.pop_lru() {
                Some((_, evicted)) => self.events -= evicted.projection.events_counted,
                None => break,
            }
        }
    }
}
