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
    /// signed that position already. Blocking.
    pub fn sign_blocking(&self, position: Option<u64>) -> Result<SignedCheckpoint, AuditError> {
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
        let checkpoint = sign_checkpoint(&self.key, position, hash, crate::clock::now());
        self.checkpoints.insert(&checkpoint)?;
        tracing::info!(position, hash = %hash.to_hex(), "signed a checkpoint");
        Ok(checkpoint)
    }

    /// [`Audit::sign_blocking`] on the blocking pool.
    pub async fn sign(
        self: &Arc<Self>,
        position: Option<u64>,
    ) -> Result<SignedCheckpoint, AuditError> {
        let audit = Arc::clone(self);
        blocking(move || audit.sign_blocking(position)).await
    }
}
