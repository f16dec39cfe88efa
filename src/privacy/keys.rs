//! Per-contact data keys and where they are kept.
//!
//! Each contact with personal data has one random 256-bit data key. The keys are kept apart
//! from the log on purpose: the log is immutable and copied around (exports, backups), while a
//! key must be destroyable, durably, on request. Destroying it is what erases the contact's
//! personal fields everywhere the ciphertext went.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::PrivacyError;
use crate::domain::AccountId;

/// A contact's data key. Cheap to clone; the bytes are wiped from memory when the last clone
/// is dropped.
#[derive(Clone)]
pub struct DataKey(Arc<Zeroizing<[u8; 32]>>);

impl DataKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<DataKey, PrivacyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..]).map_err(|e| {
            PrivacyError::Unavailable(format!("the system random generator failed: {e}"))
        })?;
        Ok(DataKey(Arc::new(bytes)))
    }

    /// A key from its stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(Arc::new(Zeroizing::new(bytes)))
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Never shows the key.
impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Which contact a key belongs to: a contact id is unique within its account only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContactRef {
    /// The account.
    pub account: AccountId,
    /// The contact within it.
    pub contact_id: String,
}

impl ContactRef {
    /// The contact `contact_id` of `account`.
    pub fn new(account: &AccountId, contact_id: &str) -> ContactRef {
        ContactRef {
            account: account.clone(),
            contact_id: contact_id.to_string(),
        }
    }

    /// The name a key is stored under: SHA-256 of the account and contact ids (account ids
    /// never contain `0x00`, so the pair is unambiguous). A hash rather than the ids keeps file
    /// names short and free of awkward characters; the ids are pseudonymous references that
    /// the log holds in clear anyway.
    pub fn key_name(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(b"relledger contact key v1\0");
        hash.update(self.account.as_str().as_bytes());
        hash.update([0]);
        hash.update(self.contact_id.as_bytes());
        hash.finalize().into()
    }
}

/// Where the data keys are kept. `get` is called on every read of a sealed field, so it must
/// not do IO; `get_or_create` and `destroy` may block (callers run them off the async threads)
/// and return only once the change is durable.
pub trait KeyStore: Send + Sync + 'static {
    /// The contact's key, if it has one.
    fn get(&self, contact: &ContactRef) -> Option<DataKey>;

    /// The contact's key, created and made durable first if it has none.
    fn get_or_create(&self, contact: &ContactRef) -> Result<DataKey, PrivacyError>;

    /// Destroys the contact's key for good, durably; true when there was one.
    fn destroy(&self, contact: &ContactRef) -> Result<bool, PrivacyError>;

    /// How many keys it holds (destroyed ones not counted).
    fn held(&self) -> usize;
}

/// Keys in memory only: for tests and for a ledger over the in-memory log, whose data does not
/// outlive the process either.
#[derive(Default)]
pub struct MemoryKeyStore {
    /// The keys by contact.
    keys: Mutex<HashMap<ContactRef, DataKey>>,
}

impl MemoryKeyStore {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<ContactRef, DataKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyStore for MemoryKeyStore {
    fn held(&self) -> usize {
        self.keys().len()
    }

    fn get(&self, contact: &ContactRef) -> Option<DataKey> {
        self.keys().get(contact).cloned()
    }

    fn get_or_create(&self, contact: &ContactRef) -> Result<DataKey, PrivacyError> {
        let mut keys = self.keys();
        if let Some(key) = keys.get(contact) {
            return Ok(key.clone());
        }
        let key = DataKey::generate()?;
        keys.insert(contact.clone(), key.clone());
        Ok(key)
    }

    fn destroy(&self, contact: &ContactRef) -> Result<bool, PrivacyError> {
        Ok(self.keys().remove(contact).is_some())
    }
}
