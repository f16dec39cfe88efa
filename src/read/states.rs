//! Account projection states in memory: each recently used account's
//! [`AccountState`], advanced by the events appended since instead of folding its history
//! again (docs/decisions/0018-account-state-advanced-event-by-event.md).
//!
//! The live projector advances the states of the accounts each page touches and summarizes
//! them; a live `GetRelationship` advances the account's state to the head and projects it.
//! Both evaluate the state as of an instant no earlier than its newest event, which is the only
//! kind of instant a live question asks about. A state is taken out of the cache while it is
//! advanced, so that it is changed in place; a reader who asks meanwhile builds one of its own.
//!
//! Bounded like the histories (see `read::kept`), by the events and items of evidence the
//! states keep. An account that fell out is read from its checkpoint, when the projector keeps
//! them, and the log's tail, else from the log: nothing here is needed for correctness.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::projection::{AccountState, Params};
use crate::domain::{AccountId, RecordedEvent};
use crate::read::kept::{continuation, ByAccount, Weighed};
use crate::store::{Log, SnapshotStore, StoreError};

/// The most weight the cache keeps by default, in all accounts, in units of about an event
/// kept (`AccountState::weight`): at most about 180 MB, at 160 to 450 resident bytes a unit
/// (`serve --state-cache-events` sets it).
pub const DEFAULT_BUDGET: usize = 400_000;

/// The weight past which a state is made compact ([`AccountState::compact`]): it then keeps
/// what a summary reads, bounded by the rules' windows rather than the history, and an
/// explanation folds the history instead. Below it a state keeps every event, so that a
/// live question about a short history is answered from the state alone.
pub const COMPACT_FROM: usize = 2_000;

/// How many events a compact state reads between two checkpoints of it: a state dropped from
/// memory, or a restarted server, reads its checkpoint and at most about this many events.
pub const CHECKPOINT_EVERY: usize = 1_000;

/// The version of a checkpoint's encoding, its first byte, raised whenever a state's encoding
/// changes: another is passed over, and the state built from the log. Formats 1 to 4 were JSON,
/// whose first byte is `{`; from 5 the rest is postcard, a compact binary serde format that
/// reads back several times faster (docs/decisions/0026-state-checkpoints-in-postcard.md).
const CHECKPOINT_FORMAT: u8 = 5;

/// An account state's checkpoint as the snapshot store keeps it, after its format byte.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    /// The scoring rules it was advanced with.
    params_version: String,
    /// The global position of the last event it read.
    position: u64,
    state: AccountState,
}

impl Checkpoint {
    /// The format byte, then the checkpoint.
    fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_extend(self, vec![CHECKPOINT_FORMAT])
    }

    /// The checkpoint `bytes` hold; `None` for one of another format.
    fn decode(bytes: &[u8]) -> Result<Option<Checkpoint>, postcard::Error> {
        match bytes.split_first() {
            Some((&CHECKPOINT_FORMAT, rest)) => postcard::from_bytes(rest).map(Some),
            _ => Ok(None),
        }
    }
}

/// An account's state and the global position of the last event it read.
#[derive(Debug, Clone, Default)]
pub struct StateAt {
    /// The state.
    pub state: AccountState,
    /// The last event read (`None`: none yet).
    pub position: Option<u64>,
    /// How many events the state had read at its last checkpoint (0: none).
    checkpointed: usize,
}

impl StateAt {
    /// The state of `events`, an account's events in stream order, which it keeps.
    pub fn of(events: Vec<RecordedEvent>, params: &Params) -> Self {
        let mut at = StateAt::default();
        for record in events {
            at.position = Some(record.position);
            at.state.take(record, params);
        }
        at
    }
}

impl Weighed for StateAt {
    fn weight(&self) -> usize {
        self.state.weight()
    }

    fn reach(&self) -> usize {
        self.state.events()
    }
}

/// Recently used account states over a log (see the module docs).
pub struct States {
    log: Arc<dyn Log>,
    params: Params,
    cache: ByAccount<StateAt>,
    /// Where states' checkpoints are kept, if anywhere.
    checkpoints: Option<Arc<dyn SnapshotStore>>,
}

/// A state to advance: the kept one (if any reaches no further than asked), and the events
/// that take it there. Read on the async side (it may read the log); advanced wherever the
/// caller folds ([`Advance::run`]); kept again with [`States::keep`].
pub struct Advance {
    account: AccountId,
    base: Option<Arc<StateAt>>,
    events: Vec<RecordedEvent>,
    /// Whether the account was cached when asked for, for the cache's admission rule.
    resident: bool,
    /// Whether the result may be kept: not when the kept state reaches further.
    keep: bool,
    /// Whether the states are checkpointed: a checkpoint is encoded when due.
    checkpoints: bool,
}

impl Advance {
    /// The account's state after the events: the kept one advanced in place when no one else
    /// holds it, else a copy.
    pub fn run(self, params: &Params) -> Advanced {
        let mut at = self.base.unwrap_or_default();
        let mut checkpoint = None;
        if !self.events.is_empty() {
            let state = Arc::make_mut(&mut at);
            for record in self.events {
                state.position = Some(record.position);
                state.state.take(record, params);
            }
            if state.state.weight() > COMPACT_FROM {
                state.state.compact(params);
            }
            if self.checkpoints && state.checkpoint_due() {
                checkpoint = state.checkpoint(params);
            }
        }
        Advanced {
            account: self.account,
            at,
            resident: self.resident,
            keep: self.keep,
            checkpoint,
        }
    }
}

/// An advanced state, to be kept ([`States::keep`]).
pub struct Advanced {
    account: AccountId,
    /// The state.
    pub at: Arc<StateAt>,
    resident: bool,
    keep: bool,
    /// The state's checkpoint, encoded when one was due.
    checkpoint: Option<Vec<u8>>,
}

impl Advanced {
    /// The account and its state's checkpoint, when one is due: for the snapshot store
    /// ([`SnapshotStore::keep_account_states`]).
    pub fn take_checkpoint(&mut self) -> Option<(AccountId, Vec<u8>)> {
        let bytes = self.checkpoint.take()?;
        Some((self.account.clone(), bytes))
    }
}

impl StateAt {
    /// Whether a checkpoint is due: the state is compact (a whole one is cheaper to build
    /// again from the log than to keep) and read enough events since the last one.
    fn checkpoint_due(&self) -> bool {
        self.state.is_compact() && self.state.events() >= self.checkpointed + CHECKPOINT_EVERY
    }

    /// The state's checkpoint, noting that it was taken.
    fn checkpoint(&mut self, params: &Params) -> Option<Vec<u8>> {
        let checkpoint = Checkpoint {
            params_version: params.params_version.to_string(),
            position: self.position?,
            state: self.state.clone(),
        };
        let bytes = match checkpoint.encode() {
            Ok(bytes) => bytes,
            Err(error) => {
                // Every state encodes; should one not, the log still builds it.
                tracing::warn!(%error, "an account state's checkpoint does not encode");
                return None;
            }
        };
        self.checkpointed = self.state.events();
        Some(bytes)
    }

    /// The state a checkpoint holds, if it was taken with `params` in this format.
    fn restored(bytes: &[u8], params: &Params) -> Result<Option<StateAt>, postcard::Error> {
        let Some(checkpoint) = Checkpoint::decode(bytes)? else {
            return Ok(None);
        };
        let current =
            checkpoint.params_version == params.params_version && !checkpoint.state.needs_history();
        Ok(current.then(|| StateAt {
            checkpointed: checkpoint.state.events(),
            state: checkpoint.state,
            position: Some(checkpoint.position),
        }))
    }
}

impl States {
    /// A cache over `log` of states folded with `params`, within `budget`.
    pub fn new(log: Arc<dyn Log>, params: Params, budget: usize) -> Self {
        States {
            log,
            params,
            cache: ByAccount::new(budget),
            checkpoints: None,
        }
    }

    /// The same cache reading a state it does not hold from its checkpoint in `store` (then
    /// advancing it by the account's tail), and encoding a compact state's checkpoint every
    /// [`CHECKPOINT_EVERY`] events for the caller to keep there.
    pub fn with_checkpoints(self, store: Arc<dyn SnapshotStore>) -> Self {
        States {
            checkpoints: Some(store),
            ..self
        }
    }

    /// `account`'s checkpointed state, if there is one no further than `up_to`; a checkpoint
    /// that does not decode is ignored (the log builds the state again) and reported.
    async fn checkpointed(
        &self,
        account: &AccountId,
        up_to: Option<u64>,
    ) -> Result<Option<Arc<StateAt>>, StoreError> {
        let Some(store) = &self.checkpoints else {
            return Ok(None);
        };
        let Some(bytes) = store.account_state(account).await? else {
            return Ok(None);
        };
        let at = match StateAt::restored(&bytes, &self.params) {
            Ok(at) => at,
            Err(error) => {
                tracing::warn!(%account, %error, "an account state's checkpoint does not decode; building the state from the log");
                None
            }
        };
        let within = |at: &StateAt| at.position.is_some_and(|p| up_to.is_none_or(|up| p <= up));
        Ok(at.filter(within).map(Arc::new))
    }

    /// `account`'s state after its events up to global position `up_to` (`None`: up to the
    /// log's head when called), advanced now and kept.
    pub async fn state(
        &self,
        account: &AccountId,
        up_to: Option<u64>,
    ) -> Result<Arc<StateAt>, StoreError> {
        let advanced = self.advance(account, [], up_to).await?.run(&self.params);
        Ok(self.keep(advanced))
    }

    /// What takes `account`'s kept state to its events up to global position `up_to` (`None`:
    /// the log's head when called). `known` may hold records of this account the caller
    /// already has and gives up (the projector's page), in stream order: those that continue
    /// the kept state are used instead of being read from the log.
    pub async fn advance(
        &self,
        account: &AccountId,
        known: impl IntoIterator<Item = RecordedEvent>,
        up_to: Option<u64>,
    ) -> Result<Advance, StoreError> {
        let cached = self.cache.get(account);
        let resident = cached.is_some();
        let cached = match cached {
            Some(at) => Some(at),
            None => self.checkpointed(account, up_to).await?,
        };
        // A kept state past `up_to` cannot go back: build one from the start, and keep the
        // other.
        let past = |at: &StateAt| {
            up_to.is_some_and(|up_to| at.position.is_some_and(|position| position > up_to))
        };
        let keep = !cached.as_deref().is_some_and(past);
        let base = cached.filter(|_| keep);
        let (base, events) = self.events_after(account, base, known, up_to).await?;
        // A compact state that cannot take them without the history is built again from it.
        let (base, events) = match base {
            Some(at) if !at.state.takes_all(&events, &self.params) => {
                self.events_after(account, None, events, up_to).await?
            }
            base => (base, events),
        };
        if let Some(base) = base.as_ref().filter(|_| !events.is_empty()) {
            // Taken out while it is advanced, so that it is changed in place.
            self.cache.release(account, base);
        }
        Ok(Advance {
            account: account.clone(),
            base,
            events,
            resident,
            keep,
            checkpoints: self.checkpoints.is_some(),
        })
    }

    /// `base` and the events that take it to `up_to`: those of `known` that continue it, then
    /// the rest read from the log.
    async fn events_after(
        &self,
        account: &AccountId,
        base: Option<Arc<StateAt>>,
        known: impl IntoIterator<Item = RecordedEvent>,
        up_to: Option<u64>,
    ) -> Result<(Option<Arc<StateAt>>, Vec<RecordedEvent>), StoreError> {
        let held = base.as_ref().map_or(0, |at| at.state.events()) as u64;
        let last = base.as_ref().and_then(|at| at.position);
        let events = continuation(&*self.log, account, (held, last), known, up_to).await?;
        Ok((base, events))
    }

    /// Keeps an advanced state (unless it read no event, or the kept one reaches further),
    /// and gives it back.
    pub fn keep(&self, advanced: Advanced) -> Arc<StateAt> {
        if advanced.keep && advanced.at.state.events() > 0 {
            self.cache
                .keep(&advanced.account, &advanced.at, advanced.resident);
        }
        advanced.at
    }

    /// `account`'s kept state, leaving its place in the cache as it was: for a sweep over
    /// every account, which must not make them look used.
    pub fn peek(&self, account: &AccountId) -> Option<Arc<StateAt>> {
        self.cache.peek(account)
    }

    /// How much the cache weighs now (events and items of evidence).
    pub fn weight(&self) -> usize {
        self.cache.weight()
    }
}

#[cfg(test)]
mod tests;
