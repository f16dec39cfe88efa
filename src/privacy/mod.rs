//! Erasure without breaking the chain (crypto-shredding).
//!
//! The log is immutable and hash-chained, yet a contact may have their personal data erased.
//! So personal fields (see `EventPayload::personal_fields`) never enter the log in clear: the
//! ledger seals each under its contact's data key before the append ([`Privacy::seal`]), the
//! chain hashes the ciphertext, and forgetting a contact destroys the key
//! ([`Privacy::destroy`]). The ciphertext stays where it is (in the log, in backups, in
//! exports), verifiable and unreadable.
//!
//! Reads open the sealed fields in one place, [`Privacy::reveal`], which every read path of
//! the API goes through (its wire conversion takes only a [`Revealed`] record): a field whose
//! key exists reads in clear, one whose key was destroyed reads as
//! [`PersonalText::Erased`](crate::domain::PersonalText::Erased).
//!
//! - [`cipher`]: sealing and opening one field (XChaCha20-Poly1305, synthetic nonces);
//! - [`keys`]: data keys, the [`KeyStore`] trait and its in-memory model;
//! - [`file_store`]: the keys on disk, `keys/` in the data dir.

pub mod cipher;
pub mod file_store;
pub mod keys;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use file_store::FileKeyStore;
pub use keys::{ContactRef, DataKey, KeyStore, MemoryKeyStore};

use crate::domain::{AccountId, PersonalText, ProposedEvent, RecordedEvent};
use cipher::FieldContext;

/// What can go wrong with the keys. The variant docs say which gRPC status each becomes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    /// The key store could not read or write (`UNAVAILABLE`): nothing was appended.
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
    /// A key file, or a sealed value under a key that exists, does not check (`DATA_LOSS`).
    #[error("personal data cannot be opened: {0}")]
    Corrupt(String),
    /// A key was asked for a contact whose key was destroyed: it is never made again
    /// (`FAILED_PRECONDITION`).
    #[error("contact {0} was forgotten: personal data about it is no longer taken")]
    Forgotten(String),
}

/// A record whose personal fields are open: each in clear, or erased. The only input of the
/// API's wire conversion of records, so no read path can skip [`Privacy::reveal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revealed(RecordedEvent);

impl Revealed {
    /// The record, with no sealed field left.
    pub fn record(&self) -> &RecordedEvent {
        &self.0
    }

    /// The record itself, for a conversion that takes it apart.
    pub fn into_record(self) -> RecordedEvent {
        self.0
    }

    /// A record that holds no sealed field as it is: for tests of the wire conversion.
    #[cfg(test)]
    pub(crate) fn assume_open(record: RecordedEvent) -> Revealed {
        Revealed(record)
    }
}

/// Seals personal fields on the way in, opens them on the way out, destroys keys.
pub struct Privacy {
    /// The data keys.
    keys: Arc<dyn KeyStore>,
}

impl Privacy {
    /// The service over `keys`.
    pub fn new(keys: Arc<dyn KeyStore>) -> Privacy {
        Privacy { keys }
    }

    /// How many contacts' keys are held (destroyed ones not counted).
    pub fn keys_held(&self) -> usize {
        self.keys.held()
    }

    /// The service over keys kept in memory only.
    pub fn in_memory() -> Privacy {
        Privacy::new(Arc::new(MemoryKeyStore::default()))
    }

    /// Seals every non-blank plain personal field of `events` (appended to `account`) under its
    /// contact's key, creating the keys it needs, on disk, before it returns. Blank fields stay
    /// as they are. The caller must have refused personal data about forgotten contacts first
    /// (`validation::validate_not_forgotten`): a key missing here is created.
    pub async fn seal(
        &self,
        account: &AccountId,
        events: Vec<ProposedEvent>,
    ) -> Result<Vec<ProposedEvent>, PrivacyError> {
        let sealed = self.seal_with(account, events, true).await?;
        sealed.ok_or_else(|| PrivacyError::Unavailable("a data key was not created".to_string()))
    }

    /// [`Privacy::seal`] with the keys that exist, creating none: `None` when a field's
    /// contact has no key yet. For a batch the ledger refuses, which must write nothing, but
    /// which may still be the retry of an append that was stored (sealed, under keys that
    /// therefore exist): sealed the same way, it is recognised as that retry.
    pub async fn seal_existing(
        &self,
        account: &AccountId,
        events: Vec<ProposedEvent>,
    ) -> Result<Option<Vec<ProposedEvent>>, PrivacyError> {
        self.seal_with(account, events, false).await
    }

    async fn seal_with(
        &self,
        account: &AccountId,
        mut events: Vec<ProposedEvent>,
        create: bool,
    ) -> Result<Option<Vec<ProposedEvent>>, PrivacyError> {
        let needed: BTreeSet<String> = events
            .iter()
            .filter_map(|e| e.payload.personal_fields())
            .filter(|p| {
                p.fields
                    .iter()
                    .any(|(_, v)| !v.is_empty() && v.as_plain().is_some())
            })
            .map(|p| p.contact_id.to_string())
            .collect();
        let mut keys = std::collections::HashMap::with_capacity(needed.len());
        for contact_id in needed {
            let contact = ContactRef::new(account, &contact_id);
            let key = match self.keys.get(&contact) {
                Some(key) => key,
                None if !create => return Ok(None),
                None => {
                    let store = Arc::clone(&self.keys);
                    tokio::task::spawn_blocking(move || store.get_or_create(&contact))
                        .await
                        .map_err(|e| {
                            PrivacyError::Unavailable(format!("a key creation failed: {e}"))
                        })??
                }
            };
            keys.insert(contact_id, key);
        }
        for event in &mut events {
            let event_id = event.event_id;
            let kind = event.payload.event_type().as_str();
            let Some(personal) = event.payload.personal_fields_mut() else {
                continue;
            };
            let contact_id = personal.contact_id;
            for (name, value) in personal.fields {
                let PersonalText::Plain(text) = &*value else {
                    continue;
                };
                if text.is_empty() {
                    continue;
                }
                // Never leave a plain value behind: it would be stored in clear.
                let key = keys.get(contact_id).ok_or_else(|| {
                    PrivacyError::Unavailable(format!("no data key for contact {contact_id:?}"))
                })?;
                let field = format!("{kind}.{name}");
                let context = FieldContext {
                    account,
                    contact_id,
                    event_id,
                    field: &field,
                };
                *value = PersonalText::Sealed(cipher::seal(key, &context, text));
            }
        }
        Ok(Some(events))
    }

    /// Opens the sealed fields of `record`: in clear when the contact's key exists, erased when
    /// it was destroyed. A sealed value that its existing key does not open is
    /// [`PrivacyError::Corrupt`]: the hash chain vouches for the record, so the key is wrong.
    pub fn reveal(&self, mut record: RecordedEvent) -> Result<Revealed, PrivacyError> {
        let event_id = record.event.event_id;
        let kind = record.event.payload.event_type().as_str();
        if let Some(personal) = record.event.payload.personal_fields_mut() {
            let contact_id = personal.contact_id;
            let mut key = None;
            for (name, value) in personal.fields {
                let PersonalText::Sealed(sealed) = &*value else {
                    continue;
                };
                let key = key.get_or_insert_with(|| {
                    self.keys
                        .get(&ContactRef::new(&record.account_id, contact_id))
                });
                let Some(key) = key else {
                    *value = PersonalText::Erased;
                    continue;
                };
                let field = format!("{kind}.{name}");
                let context = FieldContext {
                    account: &record.account_id,
                    contact_id,
                    event_id,
                    field: &field,
                };
                let text = cipher::open(key, &context, sealed).ok_or_else(|| {
                    PrivacyError::Corrupt(format!(
                        "{field} of the record at position {} does not open with its contact's key",
                        record.position
                    ))
                })?;
                *value = PersonalText::Plain(text);
            }
        }
        Ok(Revealed(record))
    }

    /// Destroys the data key of `contact_id` in `account`, durably; true when there was one.
    pub async fn destroy(
        &self,
        account: &AccountId,
        contact_id: &str,
    ) -> Result<bool, PrivacyError> {
        let store = Arc::clone(&self.keys);
        let contact = ContactRef::new(account, contact_id);
        tokio::task::spawn_blocking(move || store.destroy(&contact))
            .await
            .map_err(|e| PrivacyError::Unavailable(format!("a key destruction failed: {e}")))?
    }
}
