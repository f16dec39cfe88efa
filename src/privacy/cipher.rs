//! Sealing and opening one personal field.
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under a key derived from the contact's
//! data key, with a *synthetic* nonce: the first 24 bytes of HMAC-SHA-256, under a second
//! derived key, of the field's context and its plaintext (the SIV construction). So the same
//! text in the same field of the same event always seals to the same bytes. That is what
//! idempotency needs: a retried append seals to exactly the stored record, and its content
//! digest matches. It reveals nothing more than "these two values are equal", and since the
//! context includes the event id, two values can only be equal within one event's retries. A
//! nonce repeats only for identical inputs, which give identical ciphertexts, so the
//! nonce-reuse failure of a stream cipher cannot happen.
//!
//! The context (account, contact, event id, field) is also the AEAD's associated data, so a
//! ciphertext moved to another field, event or contact does not open.
//!
//! The plaintext's length shows through the ciphertext's (plus 16 bytes of tag).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::DataKey;
use crate::domain::personal::NONCE_LEN;
use crate::domain::{AccountId, EventId, SealedText};

type HmacSha256 = Hmac<Sha256>;

/// Where a personal value sits: bound into its nonce and its associated data.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    /// The account whose stream holds the event.
    pub account: &'a AccountId,
    /// The contact the value is about.
    pub contact_id: &'a str,
    /// The event that holds it.
    pub event_id: EventId,
    /// Its path in the payload: `contact_added.name`.
    pub field: &'a str,
}

impl FieldContext<'_> {
    /// The context as bytes, unambiguous: account ids never contain `0x00`, the event id has a
    /// fixed length, and the contact id is length-prefixed.
    fn bytes(&self) -> Vec<u8> {
        let mut out = b"relledger personal v1\0".to_vec();
        out.extend_from_slice(self.account.as_str().as_bytes());
        out.push(0);
        out.extend_from_slice(&(self.contact_id.len() as u64).to_be_bytes());
        out.extend_from_slice(self.contact_id.as_bytes());
        out.extend_from_slice(self.event_id.as_bytes());
        out.extend_from_slice(self.field.as_bytes());
        out
    }
}

/// A subkey of `key` for one purpose, so that the cipher and the nonce MAC never share a key.
fn subkey(key: &DataKey, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    mac.update(purpose);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

fn cipher(key: &DataKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new_from_slice(&subkey(key, b"relledger xchacha20poly1305 v1")[..])
        .expect("a 32-byte key")
}

/// Seals `plaintext` for the field at `context` under the contact's `key`.
pub fn seal(key: &DataKey, context: &FieldContext<'_>, plaintext: &str) -> SealedText {
    let aad = context.bytes();
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(&subkey(key, b"relledger synthetic nonce v1")[..])
            .expect("HMAC takes any key length");
    mac.update(&(aad.len() as u64).to_be_bytes());
    mac.update(&aad);
    mac.update(plaintext.as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&tag[..NONCE_LEN]);
    let ciphertext = cipher(key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
    SealedText { nonce, ciphertext }
}

/// Opens a value sealed for `context` under `key`; `None` when it does not authenticate (the
/// wrong key, or a value moved from another field) or is not UTF-8.
pub fn open(key: &DataKey, context: &FieldContext<'_>, sealed: &SealedText) -> Option<String> {
    let aad = context.bytes();
    let plaintext = cipher(key)
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .ok()?;
    String::from_utf8(plaintext).ok()
}

#[cfg(test)]
mod tests;
