//! Signing a checkpoint on request (`SignCheckpoint`, and the background's interval signing):
//! the chain verified from the previous signed checkpoint, then the record's hash signed and
//! stored. Kept apart from the rest of `Audit`, which only reads the log and the checkpoints.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{blocking, lock, sign_checkpoint, verify, Audit, AuditError, FullCheck};
use crate::store::SignedCheckpoint;

impl Audit {
    /// Signs the hash of the record at `position` (`None`: the head), after verifying the chain
    /// from the previous signed checkpoint to it; answers the stored checkpoint when this key
    /// signed that position already (whoever asked for it). `requested_by` is the principal
    /// that asks, named in the signed message. Blocking.
    pub fn sign_blocking(
        &self,
        position: Option<u64>,
        requested_by: Option<String>,
    ) -> Result<SignedCheckpoint, AuditError> {
        let _signing = lock(&self.signing);
        let record_count = self.log.head().next_position;
        if record_count == 0 {
            return Err(AuditError::EmptyLog);
        }
        let position = position.unwrap_or(record_count - 1);
        if position >= record_count {
            return Err(AuditError::PastHead {
                field: "position",
                position,
                record_count,
            });
        }
        let own = self.public_key().to_bytes();
        if let Some(existing) = self.checkpoints.get(position, &own)? {
            return Ok(existing);
        }
        if let FullCheck::Broken(brk) = self.full_check() {
            if brk.position <= position {
                return Err(AuditError::Broken(brk));
            }
        }
        let anchor = self
            .anchor_at_or_before(position)?
            .map_err(AuditError::Broken)?;
        let hash = verify::verify_stored(
            &*self.log,
            anchor,
            position + 1,
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .into_result()
        .map_err(AuditError::Broken)?;
        let checkpoint =
            sign_checkpoint(&self.key, position, hash, crate::clock::now(), requested_by);
        self.checkpoints.insert(&checkpoint)?;
        crate::metrics::checkpoint_signed(&checkpoint);
        tracing::info!(
            position,
            hash = %hash.to_hex(),
            requested_by = checkpoint.requested_by.as_deref(),
            "signed a checkpoint"
        );
        Ok(checkpoint)
    }

    /// [`Audit::sign_blocking`] on the blocking pool, asked by nobody (the interval signing).
    pub async fn sign(
        self: &Arc<Self>,
        position: Option<u64>,
    ) -> Result<SignedCheckpoint, AuditError> {
        self.sign_by(position, None).await
    }

    /// [`Audit::sign_blocking`] on the blocking pool, asked by `requested_by`.
    pub async fn sign_by(
        self: &Arc<Self>,
        position: Option<u64>,
        requested_by: Option<String>,
    ) -> Result<SignedCheckpoint, AuditError> {
        let audit = Arc::clone(self);
        blocking(move || audit.sign_blocking(position, requested_by)).await
    }
}
