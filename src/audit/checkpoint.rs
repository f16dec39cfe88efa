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
//! The prefix makes a checkpoint signature useless as a signature of anything else the key
//! might ever sign, and pins the layout's version.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::domain::{ChainHash, Timestamp};
use crate::store::SignedCheckpoint;

/// The domain-separation prefix of the signed message.
pub const CHECKPOINT_DOMAIN: &[u8; 24] = b"relledger checkpoint v1\0";

/// The length of the signed message.
pub const CHECKPOINT_MESSAGE_LEN: usize = 24 + 8 + 32 + 8;

/// The exact bytes a checkpoint of `hash` at `position`, signed at `signed_at`, signs.
pub fn checkpoint_message(
    position: u64,
    hash: &ChainHash,
    signed_at: Timestamp,
) -> [u8; CHECKPOINT_MESSAGE_LEN] {
    let mut message = [0u8; CHECKPOINT_MESSAGE_LEN];
    message[..24].copy_from_slice(CHECKPOINT_DOMAIN);
    message[24..32].copy_from_slice(&position.to_be_bytes());
    message[32..64].copy_from_slice(&hash.0);
    message[64..].copy_from_slice(&signed_at.unix_nanos().to_be_bytes());
    message
}

/// Signs the hash of the record at `position` with `key`.
pub fn sign_checkpoint(
    key: &SigningKey,
    position: u64,
    hash: ChainHash,
    signed_at: Timestamp,
) -> SignedCheckpoint {
    let signature = key.sign(&checkpoint_message(position, &hash, signed_at));
    SignedCheckpoint {
        position,
        hash,
        signed_at,
        public_key: key.verifying_key().to_bytes(),
        signature: signature.to_bytes(),
    }
}

/// Checks that `checkpoint`'s signature is its public key's over its message (strict RFC 8032
/// verification: no malleable or small-order encodings).
pub fn verify_checkpoint_signature(checkpoint: &SignedCheckpoint) -> Result<(), String> {
    let key = VerifyingKey::from_bytes(&checkpoint.public_key)
        .map_err(|e| format!("its public key is not an Ed25519 key: {e}"))?;
    let message = checkpoint_message(checkpoint.position, &checkpoint.hash, checkpoint.signed_at);
    key.verify_strict(&message, &Signature::from_bytes(&checkpoint.signature))
        .map_err(|_| "its signature does not verify".to_string())
}

#[cfg(test)]
mod tests;
