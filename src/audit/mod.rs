//! Verifiable history: the audit application layer.
//!
//! - [`verify`]: the hash chain recomputed from the stored bytes;
//! - [`key`]: the server's Ed25519 signing key, a private file in the data dir;
//! - [`checkpoint`]: the signed checkpoint's message, byte for byte, and signing and checking;
//! - [`bundle`]: the export bundle (NDJSON) and its offline verifier;
//! - [`offline`]: what the tools do with a stopped server's data dir: verify it, export it;
//! - [`import`]: a verified bundle restored into an empty data dir;
//! - this file: [`Audit`], what the running server does: the start-up check and verifying
//!   ranges here; signing the head at intervals (`background`, with [`AuditConfig`] and the
//!   background check of the whole chain) and on demand (`signing`), and replaying the log with
//!   its proofs (`replay`); `error`, what a request or the start-up check answers on failure.
//!
//! # The start-up check, and why it is not the whole chain
//!
//! A signed checkpoint fixes every record up to it, so the records worth checking before the
//! server serves are those no signature covers yet: [`Audit::open`] verifies the newest signed
//! checkpoint (its signature, and that the record it names still has its hash) and the chain
//! from there to the head, and refuses to start on a break. That tail is bounded by the signing
//! interval, so a log of any size starts quickly. Together with the data dir's `MANIFEST`
//! (which refuses a head that changed while the log was closed) this catches what is most
//! likely to be damaged. The records before the checkpoint are verified too, but in the
//! background once the server serves ([`Audit::run`]): a break found there is logged as an
//! error naming the position, and from then on the server signs no checkpoint at or past it
//! (so it never vouches for a broken history); `VerifyChain` reports it on demand.

mod background;
pub mod bundle;
pub mod checkpoint;
mod error;
pub mod import;
pub mod key;
pub mod offline;
mod replay;
mod signing;
pub mod verify;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use ed25519_dalek::{SigningKey, VerifyingKey};

pub use background::{AuditConfig, FullCheck};
pub use checkpoint::{checkpoint_message, sign_checkpoint, verify_checkpoint_signature};
pub use error::{AuditError, AuditOpenError};
pub use key::{KeyError, SIGNING_KEY_FILE};
pub use replay::ReplayItem;
pub use verify::{Anchor, ChainReport};

use crate::domain::ChainHash;
use crate::store::codec::decode_record_at;
use crate::store::{ChainBreak, Log, LogHead, SignedCheckpoint, SignedCheckpointStore, StoreError};

/// The audit service of a running server (or of an offline tool holding the data dir).
pub struct Audit {
    /// The log whose chain is checked and signed, of any backend: the audit reads it only
    /// through the `Log` trait (its stored bytes included).
    log: Arc<dyn Log>,
    /// The key that signs checkpoints.
    key: SigningKey,
    /// The stored signed checkpoints (of this key, and of keys that signed restored history),
    /// kept by the log's backend beside the log.
    checkpoints: Arc<dyn SignedCheckpointStore>,
    /// When to sign on its own.
    config: AuditConfig,
    /// Held while signing, so two signings never verify and store the same range at once.
    signing: Mutex<()>,
    /// The background check's outcome; a break stops all signing at or past it.
    full_check: Mutex<FullCheck>,
    /// Set at shutdown, so a long background check lets go of the database.
    stop: AtomicBool,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("public_key", &key::public_key_hex(&self.public_key()))
            .finish_non_exhaustive()
    }
}

impl Audit {
    /// Loads (creating on first start) the signing key of `dir`, and checks the chain of `log`
    /// from the newest of its signed `checkpoints` to the head (see the module docs). Blocking.
    pub fn open(
        log: Arc<dyn Log>,
        checkpoints: Arc<dyn SignedCheckpointStore>,
        dir: &Path,
        config: AuditConfig,
    ) -> Result<Audit, AuditOpenError> {
        let key = key::load_or_create(dir)?;
        let audit = Audit {
            log,
            key,
            checkpoints,
            config,
            signing: Mutex::new(()),
            full_check: Mutex::new(FullCheck::Running),
            stop: AtomicBool::new(false),
        };
        let head = audit.log.head();
        if head.next_position > 0 {
            let broken = |brk: ChainBreak| AuditOpenError::Broken {
                dir: dir.to_path_buf(),
                brk,
            };
            let anchor = audit
                .anchor_at_or_before(head.next_position - 1)?
                .map_err(broken)?;
            let report = verify::verify_stored(
                &*audit.log,
                anchor,
                head.next_position,
                &mut |_| {},
                &audit.stop,
            );
            tracing::info!(
                from = anchor.position,
                records = report.records_checked,
                "checked the hash chain since the newest signed checkpoint"
            );
            report.into_result().map_err(broken)?;
        }
        Ok(audit)
    }

    /// The public key checkpoints are signed with.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The committed head of the log.
    pub fn head(&self) -> LogHead {
        self.log.head()
    }

    /// Where the background check of the whole chain stands.
    pub fn full_check(&self) -> FullCheck {
        lock(&self.full_check).clone()
    }

    /// The newest checkpoint signed by this server's key (blocking).
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        let own = self.public_key().to_bytes();
        for checkpoint in self.checkpoints.range(0, u64::MAX).rev() {
            let checkpoint = checkpoint?;
            if checkpoint.public_key == own {
                return Ok(Some(checkpoint));
            }
        }
        Ok(None)
    }

    /// The stored checkpoints at positions `from..=to`, of any key (blocking).
    pub fn checkpoints_in(&self, from: u64, to: u64) -> Result<Vec<SignedCheckpoint>, StoreError> {
        self.checkpoints.range(from, to).collect()
    }

    /// Where a check up to `position` may start: right after the newest signed checkpoint at
    /// or before it, once that checkpoint's signature verifies and the record it names still
    /// has the signed hash; the start of the log when there is none. Blocking.
    fn anchor_at_or_before(&self, position: u64) -> Result<Result<Anchor, ChainBreak>, StoreError> {
        let Some(checkpoint) = self.checkpoints.at_or_before(position)? else {
            return Ok(Ok(Anchor::GENESIS));
        };
        let brk = |reason: String| ChainBreak {
            position: checkpoint.position,
            reason,
        };
        if let Err(reason) = verify_checkpoint_signature(&checkpoint) {
            return Ok(Err(brk(format!(
                "its signed checkpoint is not valid: {reason}"
            ))));
        }
        let stored = self
            .log
            .stored_records(checkpoint.position, checkpoint.position + 1)
            .next()
            .transpose()?;
        let record = match stored {
            Some((at, value)) if at == checkpoint.position => decode_record_at(at, &value),
            _ => return Ok(Err(brk("the record is missing".to_string()))),
        };
        match record {
            Err(error) => Ok(Err(brk(error.to_string()))),
            Ok(record) if record.hash != checkpoint.hash => Ok(Err(brk(format!(
                "its hash {} is not the signed hash {}",
                record.hash.to_hex(),
                checkpoint.hash.to_hex()
            )))),
            Ok(_) => Ok(Ok(Anchor {
                position: checkpoint.position + 1,
                prev_hash: checkpoint.hash,
            })),
        }
    }

    /// Verifies the chain over `from..=to` (`to`: the head when `None`) from the stored bytes.
    /// Position 0 links to the genesis hash, a later start to the stored hash of the record
    /// before it.
    pub async fn verify_chain(
        self: &Arc<Self>,
        from: u64,
        to: Option<u64>,
    ) -> Result<ChainReport, AuditError> {
        let end = self.range_end(from, to)?;
        let audit = Arc::clone(self);
        blocking(move || {
            let prev_hash = match from {
                0 => ChainHash::GENESIS,
                _ => match verify::stored_hash(&*audit.log, from - 1) {
                    Some(hash) => hash,
                    None => {
                        return Ok(ChainReport {
                            records_checked: 0,
                            last_hash: ChainHash::GENESIS,
                            broken: Some(ChainBreak {
                                position: from - 1,
                                reason: "the record is missing".to_string(),
                            }),
                            stopped: false,
                        })
                    }
                },
            };
            let anchor = Anchor {
                position: from,
                prev_hash,
            };
            Ok(verify::verify_stored(
                &*audit.log,
                anchor,
                end,
                &mut |_| {},
                &audit.stop,
            ))
        })
        .await
    }

    /// The exclusive end of the range `from..=to` (`to`: the head), checked against the log.
    pub(crate) fn range_end(&self, from: u64, to: Option<u64>) -> Result<u64, AuditError> {
        let record_count = self.log.head().next_position;
        let end = match to {
            None => record_count,
            Some(to) if to >= record_count => {
                return Err(AuditError::PastHead {
                    field: "to_position",
                    position: to,
                    record_count,
                })
            }
            Some(to) if to < from => return Err(AuditError::BackwardsRange { from, to }),
            Some(to) => to + 1,
        };
        if from > end {
            return Err(AuditError::PastHead {
                field: "from_position",
                position: from,
                record_count,
            });
        }
        Ok(end)
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (each is one value).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs blocking work on tokio's blocking pool.
async fn blocking<T, F>(work: F) -> Result<T, AuditError>
where
    F: FnOnce() -> Result<T, AuditError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("an audit task failed: {e}")))?
}
