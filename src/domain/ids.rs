//! Identifiers of accounts and events, valid by construction.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest account id, in bytes. Ids are keys in every storage backend; a bound keeps keys
/// small and stops a client from using the id as a payload.
pub const MAX_ACCOUNT_ID_LEN: usize = 128;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id was empty.
    #[error("must not be empty")]
    Empty,
    /// The id was longer than its limit.
    #[error("must be at most {max} bytes, got {len}")]
    TooLong {
        /// The limit.
        max: usize,
        /// The length received.
        len: usize,
    },
    /// The account id held a character outside `A-Z a-z 0-9 . _ - : @`.
    #[error("may only contain A-Z a-z 0-9 . _ - : @, found {0:?}")]
    BadCharacter(char),
    /// The event id was not a UUID.
    #[error("must be a UUID such as 0b5c4c2e-8f5a-4f7e-9a57-2f1f3e0c6d11: {0}")]
    NotAUuid(String),
    /// The event id was the nil UUID, which clients send by mistake when they forget to set one.
    #[error("must not be the nil UUID")]
    NilUuid,
}

/// The id of a customer account: the name of its event stream.
///
/// The character set excludes separators and whitespace so that the id can be embedded in
/// storage keys and subject names (NATS) without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Checks and wraps an account id.
    pub fn parse(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        if id.len() > MAX_ACCOUNT_ID_LEN {
            return Err(IdError::TooLong {
                max: MAX_ACCOUNT_ID_LEN,
                len: id.len(),
            });
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@')))
        {
            return Err(IdError::BadCharacter(bad));
        }
        Ok(AccountId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string, without a copy.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = IdError;
    fn try_from(id: String) -> Result<Self, IdError> {
        AccountId::parse(id)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest subscription name, in bytes: an account id's limit, for the same reason.
pub const MAX_SUBSCRIPTION_NAME_LEN: usize = MAX_ACCOUNT_ID_LEN;

/// The name of a durable subscription: the key under which the server keeps the consumer's
/// acknowledged position. Same character set as an account id, for the same reason: it is a
/// storage key and may become a subject name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionName(String);

impl SubscriptionName {
    /// Checks and wraps a subscription name: 1 to 128 characters from `A-Z a-z 0-9 . _ - : @`.
    pub fn parse(name: impl Into<String>) -> Result<Self, IdError> {
        // The rules are the account id's; reuse its check rather than restate it.
        let name = AccountId::parse(name)?;
        Ok(SubscriptionName(name.0))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriptionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The client-chosen UUID of an event: the key of idempotency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(Uuid);

/// The canonical string (part of the stored record format); in formats that are not
/// human-readable (the binary checkpoints of account states), the UUID's 16 bytes.
impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.as_bytes().serialize(serializer)
        }
    }
}

/// Parses the string in place (as [`EventId::parse`]) rather than through an owned `String`:
/// every read of a stored record decodes one, and the copy was pure overhead.
impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            let bytes = <[u8; 16]>::deserialize(deserializer)?;
            return EventId::from_uuid(Uuid::from_bytes(bytes)).map_err(serde::de::Error::custom);
        }
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = EventId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event id (a UUID string)")
            }
            fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<EventId, E> {
                EventId::parse(id).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl EventId {
    /// Parses a UUID in any of the forms the `uuid` crate accepts; the nil UUID is refused.
    pub fn parse(id: &str) -> Result<Self, IdError> {
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        let uuid = Uuid::try_parse(id).map_err(|e| IdError::NotAUuid(e.to_string()))?;
        Self::from_uuid(uuid)
    }

    /// Wraps a UUID; the nil UUID is refused.
    pub fn from_uuid(uuid: Uuid) -> Result<Self, IdError> {
        if uuid.is_nil() {
            return Err(IdError::NilUuid);
        }
        Ok(EventId(uuid))
    }

    /// A fresh random (version 4) id.
    pub fn new_random() -> Self {
        EventId(Uuid::new_v4())
    }

    /// The 16 bytes of the UUID, for compact storage keys.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl TryFrom<String> for EventId {
    type Error = IdError;
    fn try_from(id: String) -> Result<Self, IdError> {
        EventId::parse(&id)
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> String {
        id.to_string()
    }
}

impl fmt::Display for EventId {
    /// The canonical lower-case hyphenated form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests;
