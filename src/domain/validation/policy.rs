//! The ledger-wide rules that are configuration rather than domain law: the currency, the batch
//! limit and the clock skew an append is held to. Kept apart because the server sets them,
//! while the rules of the other modules hold for every ledger.

/// The ledger-wide rules that are configuration rather than domain law.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The one currency every amount must be in (ISO 4217).
    pub currency: String,
    /// The most events one append may carry.
    pub max_batch_events: usize,
    /// How far past the server's clock an `occurred_at` may lie, in nanoseconds: clocks drift,
    /// but an event dated next month is a client bug.
    pub max_future_skew_nanos: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            currency: "CNY".to_string(),
            max_batch_events: 1000,
            max_future_skew_nanos: crate::domain::time::NANOS_PER_DAY,
        }
    }
}
