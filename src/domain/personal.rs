//! Personal text: a field about a person that the person may have erased (GDPR art. 17, PIPL
//! art. 47) although the log that holds it is immutable.
//!
//! The domain only carries the value; it never encrypts or decrypts (that needs keys, which are
//! IO: see `crate::privacy`). A value is in one of three states:
//!
//! - [`PersonalText::Plain`]: the text itself. Only on the way in (a client's append, before
//!   the ledger seals it), on the way out (after the read path opened it), and for the empty
//!   string, which says nothing about anyone and is stored as is;
//! - [`PersonalText::Sealed`]: the text encrypted under its contact's data key. This is the
//!   only form a non-empty personal field takes in the log, so the hash chain covers the
//!   ciphertext and stays valid when the key is destroyed;
//! - [`PersonalText::Erased`]: a sealed value whose key was destroyed (the contact was
//!   forgotten). Produced by the read path only, never stored.
//!
//! The serde form is part of the stored record format (version 1): a plain value is a JSON
//! string (so records written before sealing existed keep their exact bytes and hashes), a
//! sealed one `{"sealed":{"nonce":"<48 hex>","ciphertext":"<hex>"}}`, an erased one
//! `{"erased":true}`. Formats that are not human-readable (the binary checkpoints of account
//! states) cannot tell those three shapes apart, and get a tagged enum instead.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The length of an XChaCha20 nonce, in bytes.
pub const NONCE_LEN: usize = 24;

/// A personal text value; see the module docs for its three states.
#[derive(Clone, PartialEq, Eq)]
pub enum PersonalText {
    /// The text in clear (empty, on the way in, or opened on the way out).
    Plain(String),
    /// The text encrypted under its contact's data key.
    Sealed(SealedText),
    /// The key that sealed it was destroyed: the text is gone for good.
    Erased,
}

/// An encrypted personal text: an AEAD ciphertext (with its 16-byte tag) and the nonce it was
/// sealed with.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedText {
    /// The XChaCha20-Poly1305 nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The ciphertext followed by the Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

impl PersonalText {
    /// True for an empty plain value: a field the client left empty. Such a value carries no
    /// personal data, needs no key and is never sealed.
    pub fn is_empty(&self) -> bool {
        matches!(self, PersonalText::Plain(text) if text.is_empty())
    }

    /// The text, when it is in clear.
    pub fn as_plain(&self) -> Option<&str> {
        match self {
            PersonalText::Plain(text) => Some(text),
            PersonalText::Sealed(_) | PersonalText::Erased => None,
        }
    }
}

impl Default for PersonalText {
    fn default() -> Self {
        PersonalText::Plain(String::new())
    }
}

impl From<&str> for PersonalText {
    fn from(text: &str) -> Self {
        PersonalText::Plain(text.to_string())
    }
}

impl From<String> for PersonalText {
    fn from(text: String) -> Self {
        PersonalText::Plain(text)
    }
}

/// Redacted: personal data must not reach logs through a `{:?}`.
impl fmt::Debug for PersonalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonalText::Plain(text) if text.is_empty() => f.write_str("Plain(\"\")"),
            PersonalText::Plain(text) => write!(f, "Plain(<{} bytes redacted>)", text.len()),
            PersonalText::Sealed(sealed) => write!(f, "{sealed:?}"),
            PersonalText::Erased => f.write_str("Erased"),
        }
    }
}

impl fmt::Debug for SealedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// The JSON object forms.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedForm {
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize)]
struct SealedWrapper<'a> {
    sealed: &'a SealedForm,
}

#[derive(Serialize)]
struct ErasedWrapper {
    erased: bool,
}

/// What a stored personal field may be: the untagged union of the three forms.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Plain(String),
    Sealed {
        sealed: SealedForm,
    },
    Erased {
        #[allow(dead_code)]
        erased: bool,
    },
}

/// The form in formats that are not human-readable: a tagged enum, since they cannot read
/// an untagged one.
#[derive(Serialize, Deserialize)]
enum Binary<'a> {
    Plain(Cow<'a, str>),
    Sealed {
        nonce: [u8; NONCE_LEN],
        ciphertext: Cow<'a, [u8]>,
    },
    Erased,
}

impl Serialize for PersonalText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return match self {
                PersonalText::Plain(text) => Binary::Plain(Cow::Borrowed(text)),
                PersonalText::Sealed(sealed) => Binary::Sealed {
                    nonce: sealed.nonce,
                    ciphertext: Cow::Borrowed(&sealed.ciphertext),
                },
                PersonalText::Erased => Binary::Erased,
            }
            .serialize(serializer);
        }
        match self {
            PersonalText::Plain(text) => serializer.serialize_str(text),
            PersonalText::Sealed(sealed) => SealedWrapper {
                sealed: &SealedForm {
                    nonce: hex::encode(sealed.nonce),
                    ciphertext: hex::encode(&sealed.ciphertext),
                },
            }
            .serialize(serializer),
            PersonalText::Erased => ErasedWrapper { erased: true }.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for PersonalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if !deserializer.is_human_readable() {
            return Ok(match Binary::deserialize(deserializer)? {
                Binary::Plain(text) => PersonalText::Plain(text.into_owned()),
                Binary::Sealed { nonce, ciphertext } => PersonalText::Sealed(SealedText {
                    nonce,
                    ciphertext: ciphertext.into_owned(),
                }),
                Binary::Erased => PersonalText::Erased,
            });
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Plain(text) => PersonalText::Plain(text),
            Stored::Sealed { sealed } => {
                let nonce = hex::decode(&sealed.nonce)
                    .ok()
                    .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
                    .ok_or_else(|| D::Error::custom("a sealed nonce must be 48 hex digits"))?;
                let ciphertext = hex::decode(&sealed.ciphertext)
                    .map_err(|_| D::Error::custom("a sealed ciphertext must be hex"))?;
                PersonalText::Sealed(SealedText { nonce, ciphertext })
            }
            Stored::Erased { .. } => PersonalText::Erased,
        })
    }
}

#[cfg(test)]
mod tests;
