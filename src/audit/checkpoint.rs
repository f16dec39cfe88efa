//! The signed checkpoint's message, byte for byte, and signing and checking it.
//!
//! ```text
//! message = "relledger checkpoint v1" 0x00     24 bytes: the domain separation
//!           position                            u64 big-endian, 8 bytes
//!           hash                                32 bytes: SHA-256 chain hash of that record
//!           signed_at                           i64 big-endian nanoseconds since the Unix epoch
//! signature = Ed25519(secret key, message)      RFC 8032, the message itself (not prehashed)
//! ```
//!
//! A checkpoint a principal asked for (`Audit.SignCheckpoint` on a server with
//! authentication) signs version 2, which names the principal after the same fields:
//!
//! ```text
//! message = "relledger checkpoint v2" 0x00  position  hash  signed_at
//!           requested_by length                 u32 big-endian
//!           requested_by                        its UTF-8 bytes
//! ```
//!
//! The prefix makes a checkpoint signature useless as a signature of anything else the key
//! might ever sign, and pins the layout's version.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::domain::{ChainHash, Timestamp};
use crate::store::SignedCheckpoint;

/// The domain-separation prefix of the signed message of a checkpoint nobody asked for.
pub const CHECKPOINT_DOMAIN: &[u8; 24] = b"relledger checkpoint v1\0";

/// The domain-separation prefix of the signed message of a checkpoint a principal asked for.
pub const REQUESTED_CHECKPOINT_DOMAIN: &[u8; 24] = b"relledger checkpoint v2\0";

/// The length of the signed message of a checkpoint nobody asked for.
pub const CHECKPOINT_MESSAGE_LEN: usize = 24 + 8 + 32 + 8;

/// The exact bytes a checkpoint of `hash` at `position`, signed at `signed_at` (at the
/// request of `requested_by`, if anyone's), signs.
pub fn checkpoint_message(
    position: u64,
    hash: &ChainHash,
    signed_at: Timestamp,
    requested_by: Option<&str>,
) -> Vec<u8> {
    let mut message = Vec::with_capacity(CHECKPOINT_MESSAGE_LEN + 4 + 128);
    message.extend_from_slice(match requested_by {
        None => CHECKPOINT_DOMAIN,
        Some(_) => REQUESTED_CHECKPOINT_DOMAIN,
    });
    message.extend_from_slice(&position.to_be_bytes());
    message.extend_from_slice(&hash.0);
    message.extend_from_slice(&signed_at.unix_nanos().to_be_bytes());
    if let Some(name) = requested_by {
        // Principal names are at most 128 bytes (`auth::principals`); the length says where
        // the name ends, so no two names make the same message.
        let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
        message.extend_from_slice(&len.to_be_bytes());
        message.extend_from_slice(name.as_bytes());
    }
    message
}

/// Signs the hash of the record at `position` with `key`, naming `requested_by` if a
/// principal asked for it.
pub fn sign_checkpoint(
    key: &SigningKey,
    position: u64,
    hash: ChainHash,
    signed_at: Timestamp,
    requested_by: Option<String>,
) -> SignedCheckpoint {
    let message = checkpoint_message(position, &hash, signed_at, requested_by.as_deref());
    let signature = key.sign(&message);
    SignedCheckpoint {
        position,
        hash,
        signed_at,
        public_key: key.verifying_key().to_bytes(),
        signature: signature.to_bytes(),
        requested_by,
    }
}

/// Checks that `checkpoint`'s signature is its public key's over its message (strict RFC 8032
/// verification: no malleable or small-order encodings).
pub fn verify_checkpoint_signature(checkpoint: &SignedCheckpoint) -> Result<(), String> {
    let key = VerifyingKey::from_bytes(&checkpoint.public_key)
        .map_err(|e| format!("its public key is not an Ed25519 key: {e}"))?;
    let message = checkpoint_message(
        checkpoint.position,
        &checkpoint.hash,
        checkpoint.signed_at,
        checkpoint.requested_by.as_deref(),
    );
    key.verify_strict(&message, &Signature::from_bytes(&checkpoint.signature))
        .map_err(|_| "its signature does not verify".to_string())
}

#[cfg(test)]
mod tests;
