//! [`JetStreamPositions`]: named subscriptions' acknowledged positions, shared by every replica
//! on a stream of their own.
//!
//! One subject per subscription name (`relledger.v1.<stream>.subscriptions.<name in hex>`: names may
//! hold `:` and `@`), holding only its last message, the [`AckedPosition`]'s stored form. It
//! is a key-value bucket in all but name; not JetStream's KV helper, because its reads may be
//! answered by a server that is behind (a direct get), and a consumer that acknowledged
//! through one replica must resume after that position through any other. Here every read
//! asks the stream's leader, and an acknowledgement is published only if the name's subject
//! has not moved since it was read, so two replicas acknowledging at once cannot move a
//! position back.

use async_nats::jetstream;
use async_trait::async_trait;
use futures::TryStreamExt;

use super::asking::{last_on_subject, unavailable, PUBLISH_PATIENCE};
use super::JetStreamLog;
use crate::domain::SubscriptionName;
use crate::store::checkpoints::{AckedPosition, CheckpointStore};
use crate::store::StoreError;

/// Named subscriptions' positions on JetStream (see the module docs).
#[derive(Clone)]
pub struct JetStreamPositions {
    log: JetStreamLog,
    stream: jetstream::stream::Stream,
    /// The prefix of the positions' subjects.
    prefix: String,
}

impl JetStreamPositions {
    /// Opens (creating) the positions' stream beside `log`'s, with as many replicas.
    pub(super) async fn open(log: &JetStreamLog) -> Result<JetStreamPositions, StoreError> {
        let prefix = log.options.subjects("subscriptions");
        Ok(JetStreamPositions {
            stream: log
                .open_latest_per_subject("SUBSCRIPTIONS", &prefix)
                .await?,
            log: log.clone(),
            prefix,
        })
    }

    fn subject_of(&self, name: &SubscriptionName) -> String {
        format!("{}.{}", self.prefix, hex::encode(name.as_str()))
    }

    /// What is stored under `subject`, with the stream sequence of its message (0: none).
    async fn stored(&self, subject: &str) -> Result<(Option<AckedPosition>, u64), StoreError> {
        let Some(message) = last_on_subject(&self.stream, subject).await? else {
            return Ok((None, 0));
        };
        let position = AckedPosition::decode(&message.payload).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the acknowledged position on {subject} does not decode"
            ))
        })?;
        Ok((Some(position), message.sequence))
    }
}

#[async_trait]
impl CheckpointStore for JetStreamPositions {
    async fn ack(
        &self,
        name: &SubscriptionName,
        ack: AckedPosition,
    ) -> Result<AckedPosition, StoreError> {
        let subject = self.subject_of(name);
        let started = tokio::time::Instant::now();
        loop {
            let (stored, sequence) = self.stored(&subject).await?;
            let merged = AckedPosition::merge(stored, ack);
            if Some(merged) == stored {
                return Ok(merged);
            }
            if self
                .log
                .publish_if_last(&subject, sequence, merged.encode().to_vec())
                .await?
            {
                return Ok(merged);
            }
            // Another acknowledgement of the same name came first: merge with it.
            if started.elapsed() >= PUBLISH_PATIENCE {
                return Err(unavailable(format!(
                    "subscription {name} was acknowledged by others throughout {PUBLISH_PATIENCE:?}"
                )));
            }
        }
    }

    async fn acked(&self, name: &SubscriptionName) -> Result<Option<AckedPosition>, StoreError> {
        Ok(self.stored(&self.subject_of(name)).await?.0)
    }

    async fn list(&self) -> Result<Vec<(SubscriptionName, AckedPosition)>, StoreError> {
        let subjects: Vec<String> = self
            .stream
            .info_with_subjects(format!("{}.>", self.prefix))
            .await
            .map_err(unavailable)?
            .map_ok(|(subject, _)| subject)
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut positions = Vec::with_capacity(subjects.len());
        for subject in subjects {
            let name = subject
                .strip_prefix(&format!("{}.", self.prefix))
                .and_then(|hex_name| hex::decode(hex_name).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| SubscriptionName::parse(text).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("{subject} names no subscription")))?;
            if let (Some(position), _) = self.stored(&subject).await? {
                positions.push((name, position));
            }
        }
        positions.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(positions)
    }
}
