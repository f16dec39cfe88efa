//! What the audit layer does while the server runs: the check of the whole chain, once, in the
//! background, and signing the head at intervals (see the parent module's docs). Its settings
//! ([`AuditConfig`]) and the check's outcome ([`FullCheck`]) are here with it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::verify::{self, Anchor};
use super::{blocking, lock, Audit};
use crate::store::ChainBreak;

/// When the server signs the head on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Sign once this many records are unsigned.
    pub sign_every_records: u64,
    /// Sign at this interval, when the head has moved since the last signature.
    pub sign_every: Duration,
}

impl Default for AuditConfig {
    /// Every 10,000 records or 5 minutes: the start-up check then reads at most that many
    /// records (plus what arrived in 5 minutes), and an auditor's proof is never older.
    fn default() -> Self {
        AuditConfig {
            sign_every_records: 10_000,
            sign_every: Duration::from_secs(300),
        }
    }
}

/// Where the background check of the whole chain stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullCheck {
    /// Not finished yet.
    Running,
    /// The chain verified up to the head the check started from.
    Intact {
        /// How many records.
        records: u64,
    },
    /// The chain breaks.
    Broken(ChainBreak),
    /// The server stopped before the check finished.
    Stopped,
}

impl Audit {
    /// The server's background work until `stopping` turns true: the check of the whole chain
    /// (see the module docs), and signing the head every `sign_every_records` records or every
    /// `sign_every` when it moved (and once at start, if the head is unsigned).
    pub async fn run(self: Arc<Self>, stopping: watch::Receiver<bool>) {
        let full = {
            let audit = Arc::clone(&self);
            tokio::task::spawn_blocking(move || {
                let _ = audit.check_fully();
            })
        };
        self.sign_periodically(stopping).await;
        self.stop.store(true, Ordering::Relaxed);
        if let Err(error) = full.await {
            tracing::error!(%error, "the background chain check failed");
        }
    }

    /// Verifies the whole chain up to the current head (blocking), logs a break as an error,
    /// and records the outcome: signing refuses positions at or past a break from then on.
    pub fn check_fully(&self) -> FullCheck {
        let head = self.log.head();
        let report = verify::verify_stored(
            &*self.log,
            Anchor::GENESIS,
            head.next_position,
            &mut |_| {},
            &self.stop,
        );
        let outcome = match (report.broken, report.stopped) {
            (Some(brk), _) => {
                tracing::error!(
                    position = brk.position,
                    reason = %brk.reason,
                    "THE HASH CHAIN IS BROKEN: the log was changed on disk. No checkpoint will be \
                     signed at or past this position; run `relledger verify` on a copy of the \
                     data dir and restore it from an export or a backup"
                );
                FullCheck::Broken(brk)
            }
            (None, true) => FullCheck::Stopped,
            (None, false) => {
                tracing::info!(
                    records = report.records_checked,
                    "verified the whole hash chain"
                );
                FullCheck::Intact {
                    records: report.records_checked,
                }
            }
        };
        *lock(&self.full_check) = outcome.clone();
        outcome
    }

    async fn sign_periodically(self: &Arc<Self>, mut stopping: watch::Receiver<bool>) {
        let mut head = self.log.watch_head();
        let every = self.config.sign_every;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let audit = Arc::clone(self);
        let latest = move || {
            let latest = audit.latest_checkpoint()?;
            if let Some(checkpoint) = &latest {
                crate::metrics::checkpoint_signed(checkpoint);
            }
            Ok(latest.map(|c| c.position))
        };
        let mut last_signed = blocking(latest).await.unwrap_or_else(|error| {
            tracing::error!(%error, "cannot read the signed checkpoints");
            None
        });
        // True at start (an unsigned head is signed at once) and after each tick.
        let mut time_due = true;
        loop {
            let record_count = head.borrow_and_update().next_position;
            let unsigned = match last_signed {
                Some(last) => record_count.saturating_sub(last + 1),
                None => record_count,
            };
            if unsigned > 0 && (time_due || unsigned >= self.config.sign_every_records) {
                match self.sign(None).await {
                    Ok(checkpoint) => last_signed = Some(checkpoint.position),
                    Err(error) => tracing::error!(%error, "could not sign the chain head"),
                }
            }
            time_due = false;
            tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => break,
                _ = ticker.tick() => time_due = true,
                changed = head.changed() => if changed.is_err() { break },
            }
        }
    }
}
