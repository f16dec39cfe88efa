//! [`JetStreamKeys`]: the contacts' data keys, shared by every replica on a stream of their
//! own, so that forgetting a contact through one replica destroys its key for all of them.
//!
//! One subject per contact (`relledger.v1.<stream>.keys.<ContactRef::key_name in hex>`), holding only
//! its last message: `[1]` and the 32-byte key, or `[0]`, the tombstone of a destroyed key.
//! A key is created only on an empty subject (the publish expects no message on it), so two
//! replicas creating one contact's key at once end with one key, and a tombstone is never
//! replaced: a forgotten contact's key is never made again, by any replica.
//!
//! `get` must not wait on the network (it runs on every read of a sealed field), so each
//! replica keeps every key in memory, fed by a consumer of the stream. A replica that applies
//! a log record with personal data first waits until its keys have caught up with the stream
//! (see [`JetStreamKeys::caught_up`] and `follower`): the key was
//! stored before the record was appended, so the record is never read as erased for want of
//! its key. A destruction reaches the other replicas as soon as their consumers read it, and
//! before they apply the `contact_forgotten` event that follows it.
//!
//! What destroying means here: the tombstone replaces the key's message, and JetStream removes
//! a replaced message from its stream, but each server's file store may keep the old bytes in
//! its block files until they are compacted or rewritten, which relledger cannot force. Keys
//! travel between replicas and servers over NATS connections: use TLS between them in a real
//! deployment (docs/jetstream.md).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_nats::jetstream;
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use futures::StreamExt;
use tokio::sync::watch;

use super::asking::{last_on_subject, patiently};
use super::follower::{stalled, want, STALL};
use super::{JetStreamLog, APPLY_PATIENCE};
use crate::privacy::{ContactRef, DataKey, KeyStore, PrivacyError};
use crate::store::StoreError;

/// How long the keys' consumer waits before following again after a failure.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(200);
/// A live key's value starts with this byte, a tombstone is this byte alone.
const KEY_V1: u8 = 1;
const TOMBSTONE: u8 = 0;

/// What the stream says of one contact.
#[derive(Clone)]
enum Held {
    Key(DataKey),
    Destroyed,
}

fn decode(payload: &[u8]) -> Option<Held> {
    match payload {
        [TOMBSTONE] => Some(Held::Destroyed),
        [KEY_V1, key @ ..] => <[u8; 32]>::try_from(key)
            .ok()
            .map(|k| Held::Key(DataKey::from_bytes(k))),
        _ => None,
    }
}

struct Mirror {
    /// Every contact's key or tombstone, by subject.
    held: RwLock<HashMap<String, Held>>,
    /// The last sequence of the keys' stream applied to `held`.
    applied: watch::Sender<u64>,
    /// The highest sequence of the keys' stream someone waits for: while it is ahead of
    /// `applied`, the consumer is expected to deliver (see [`stalled`]).
    wanted: watch::Sender<u64>,
}

/// What waiting for the keys to catch up needs: the stream and this replica's copy of it.
/// The log's follower holds one (not the whole store, which holds the log).
#[derive(Clone)]
pub(super) struct KeysCaughtUp {
    stream: jetstream::stream::Stream,
    mirror: Arc<Mirror>,
}

impl KeysCaughtUp {
    /// Waits until this replica holds every key the stream holds now.
    pub(super) async fn wait(&self) -> Result<(), StoreError> {
        let info = patiently(|| self.stream.get_info(), |_| true).await?;
        let last = info.state.last_sequence;
        want(&self.mirror.wanted, last);
        let mut applied = self.mirror.applied.subscribe();
        let reached = tokio::time::timeout(APPLY_PATIENCE, applied.wait_for(|a| *a >= last))
            .await
            .map(|r| r.is_ok());
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Unavailable("the data keys are closed".into())),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the data keys did not catch up with the stream in {APPLY_PATIENCE:?}"
            ))),
        }
    }
}

/// The data keys on JetStream (see the module docs).
#[derive(Clone)]
pub struct JetStreamKeys {
    log: JetStreamLog,
    stream: jetstream::stream::Stream,
    mirror: Arc<Mirror>,
    /// The prefix of the keys' subjects.
    prefix: String,
    /// The runtime that `get_or_create` and `destroy`, called on blocking threads, ask
    /// JetStream through.
    runtime: tokio::runtime::Handle,
}

impl JetStreamKeys {
    /// Opens (creating) the keys' stream beside `log`'s, with as many replicas, and reads
    /// every key into memory before it returns.
    pub(super) async fn open(log: &JetStreamLog) -> Result<JetStreamKeys, StoreError> {
        let prefix = log.options.subjects("keys");
        let stream = log.open_latest_per_subject("KEYS", &prefix).await?;
        let mirror = Arc::new(Mirror {
            held: RwLock::new(HashMap::new()),
            applied: watch::channel(0).0,
            wanted: watch::channel(0).0,
        });
        tokio::spawn(follow(
            stream.clone(),
            format!("{prefix}.>"),
            Arc::clone(&mirror),
            log.closed(),
        ));
        let keys = JetStreamKeys {
            log: log.clone(),
            stream,
            mirror,
            prefix,
            runtime: tokio::runtime::Handle::current(),
        };
        keys.caught_up().await?;
        // Records with personal data wait for their keys before this replica applies them.
        log.before_personal_data(keys.barrier());
        Ok(keys)
    }

    fn subject_of(&self, contact: &ContactRef) -> String {
        format!("{}.{}", self.prefix, hex::encode(contact.key_name()))
    }

    /// Waits until this replica holds every key the stream holds now.
    pub async fn caught_up(&self) -> Result<(), StoreError> {
        self.barrier().wait().await
    }

    pub(super) fn barrier(&self) -> KeysCaughtUp {
        KeysCaughtUp {
            stream: self.stream.clone(),
            mirror: Arc::clone(&self.mirror),
        }
    }

    /// What the stream's leader holds for `subject`, with its sequence (0: nothing).
    async fn held(&self, subject: &str) -> Result<(Option<Held>, u64), StoreError> {
        let Some(message) = last_on_subject(&self.stream, subject).await? else {
            return Ok((None, 0));
        };
        let held = decode(&message.payload).ok_or_else(|| {
            StoreError::Corrupt(format!("the data key on {subject} does not decode"))
        })?;
        Ok((Some(held), message.sequence))
    }

    fn remember(&self, subject: String, held: Held) {
        self.mirror
            .held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(subject, held);
    }

    async fn get_or_create_async(&self, contact: &ContactRef) -> Result<DataKey, PrivacyError> {
        let subject = self.subject_of(contact);
        loop {
            match self.held(&subject).await.map_err(unavailable)? {
                (Some(Held::Key(key)), _) => return Ok(key),
                (Some(Held::Destroyed), _) => {
                    return Err(PrivacyError::Forgotten(format!(
                        "{:?} of account {}",
                        contact.contact_id, contact.account
                    )))
                }
                (None, sequence) => {
                    let key = DataKey::generate()?;
                    let mut value = Vec::with_capacity(33);
                    value.push(KEY_V1);
                    value.extend_from_slice(key.bytes());
                    if self
                        .log
                        .publish_if_last(&subject, sequence, value)
                        .await
                        .map_err(unavailable)?
                    {
                        self.remember(subject, Held::Key(key.clone()));
                        return Ok(key);
                    }
                    // Another replica created it first: take that one.
                }
            }
        }
    }

    async fn destroy_async(&self, contact: &ContactRef) -> Result<bool, PrivacyError> {
        let subject = self.subject_of(contact);
        loop {
            let (held, sequence) = self.held(&subject).await.map_err(unavailable)?;
            if matches!(held, Some(Held::Destroyed)) {
                self.remember(subject, Held::Destroyed);
                return Ok(false);
            }
            if self
                .log
                .publish_if_last(&subject, sequence, vec![TOMBSTONE])
                .await
                .map_err(unavailable)?
            {
                self.remember(subject, Held::Destroyed);
                return Ok(held.is_some());
            }
        }
    }
}

fn unavailable(error: StoreError) -> PrivacyError {
    PrivacyError::Unavailable(format!("the shared data keys: {error}"))
}

impl KeyStore for JetStreamKeys {
    fn held(&self) -> usize {
        let held = self.mirror.held.read().unwrap_or_else(|p| p.into_inner());
        held.values().filter(|h| matches!(h, Held::Key(_))).count()
    }

    fn get(&self, contact: &ContactRef) -> Option<DataKey> {
        match self
            .mirror
            .held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.subject_of(contact))
        {
            Some(Held::Key(key)) => Some(key.clone()),
            Some(Held::Destroyed) | None => None,
        }
    }

    fn get_or_create(&self, contact: &ContactRef) -> Result<DataKey, PrivacyError> {
        self.runtime.block_on(self.get_or_create_async(contact))
    }

    fn destroy(&self, contact: &ContactRef) -> Result<bool, PrivacyError> {
        self.runtime.block_on(self.destroy_async(contact))
    }
}

/// Applies the keys' stream to `mirror` until the log closes (the stream keeps each subject's
/// last message only, so this reads every contact's current key or tombstone, then what
/// follows), following again after a failure.
async fn follow(
    stream: jetstream::stream::Stream,
    filter: String,
    mirror: Arc<Mirror>,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        let from = *mirror.applied.borrow() + 1;
        let followed = async {
            let consumer = stream
                .create_consumer(OrderedConfig {
                    filter_subject: filter.clone(),
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: from,
                    },
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
            loop {
                let applied = *mirror.applied.borrow();
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = stalled(&mirror.wanted, applied) => {
                        return Err(format!(
                            "no key past sequence {applied} for {:?} while a record waits for one",
                            STALL
                        ));
                    }
                };
                let Some(message) = message else { break };
                let message = message.map_err(|e| e.to_string())?;
                let sequence = message.info().map_err(|e| e.to_string())?.stream_sequence;
                if let Some(held) = decode(&message.payload) {
                    mirror
                        .held
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(message.subject.to_string(), held);
                } else {
                    tracing::error!(subject = %message.subject, "a data key on the stream does not decode; ignored");
                }
                mirror.applied.send_replace(sequence);
            }
            Err::<(), String>("the keys' consumer ended".into())
        };
        let closing = async {
            let _ = closed.wait_for(|c| *c).await;
        };
        tokio::select! {
            _ = closing => return,
            result = followed => {
                if let Err(reason) = result {
                    tracing::warn!(%reason, "following the data keys failed; following again");
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}
