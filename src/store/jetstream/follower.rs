//! The follower: each replica reads the stream in order and applies every message to its own
//! embedded log, deciding it as the embedded log decides any append. Every replica applies the
//! same messages in the same order to the same records, so every one derives the same
//! positions, revisions, refusals and hash chain.
//!
//! Messages that arrive together are queued to the log at once and committed in one group
//! (one `fdatasync`); the replica's progress is saved after each run (see
//! `store::sled::ordered`). After a restart the follower first walks the messages past its
//! saved progress that it had applied already, matching each with the records it holds,
//! without deciding anything again: re-deciding a refused append against a later state could
//! accept it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use async_nats::jetstream::stream::Stream as JetStream;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{oneshot, watch};

use super::proposal::Proposal;
use super::Shared;
use crate::store::sled::{Applied, OrderedProgress};
use crate::store::{AppendOutcome, Direction, Log, ReadAllFilter, StoreError};

/// The most messages one run queues before waiting for their answers.
const MAX_RUN: usize = 512;
/// How long the follower waits before following again after the stream failed it.
const RETRY_AFTER: Duration = Duration::from_millis(200);
/// How long the follower waits for a message an append is waiting for before it takes its
/// consumer for lost and follows again from where it is. A consumer whose server was killed
/// can stay silent for tens of seconds before the client notices by itself.
pub(super) const STALL: Duration = Duration::from_secs(2);

/// Says that someone waits for a consumer to deliver up to `sequence`: `wanted` only rises.
pub(super) fn want(wanted: &watch::Sender<u64>, sequence: u64) {
    wanted.send_if_modified(|w| {
        let later = sequence > *w;
        if later {
            *w = sequence;
        }
        later
    });
}

/// Completes once someone waits (see [`want`]) for a message past `applied` and none has come
/// for [`STALL`] (the caller drops it whenever a message comes): the log's follower and the
/// keys' follower both follow again then.
pub(super) async fn stalled(wanted: &watch::Sender<u64>, applied: u64) {
    let mut wanted = wanted.subscribe();
    if wanted.wait_for(|w| *w > applied).await.is_err() {
        return std::future::pending().await;
    }
    tokio::time::sleep(STALL).await;
}

/// One message's answer, as the follower gets it.
enum Answer {
    /// Refused before reaching the log (it does not decode).
    Decided(Result<AppendOutcome, StoreError>),
    /// Queued to the log.
    Queued(oneshot::Receiver<Result<AppendOutcome, StoreError>>),
}

/// Whether an event needs its contact's data key, or says it was destroyed.
fn concerns_keys(event: &crate::domain::ProposedEvent) -> bool {
    event.payload.personal_fields().is_some()
        || event.payload.event_type() == crate::domain::EventType::ContactForgotten
}

/// Whether a refusal is the log's decision, the same on every replica, or a failure of this
/// replica's log (which then cannot follow).
fn decided(result: &Result<AppendOutcome, StoreError>) -> bool {
    matches!(
        result,
        Ok(_)
            | Err(StoreError::WrongExpectedRevision { .. })
            | Err(StoreError::EventIdConflict { .. })
    )
}

/// Follows `stream` into `shared.local` until the replica closes; a failure of the local log
/// stops it (recorded in `shared.failure`), a failure of the stream is retried.
pub(super) async fn follow(
    shared: Arc<Shared>,
    stream: JetStream,
    subjects: String,
    progress: OrderedProgress,
) {
    let outcome = async {
        let saved = progress.load().await?;
        let mut cursor = Cursor {
            applied: saved,
            verify_until: shared.local.head().next_position,
            subjects,
        };
        shared.applied.send_replace(saved.sequence);
        loop {
            match cursor.follow_once(&shared, &stream, &progress).await {
                Ok(()) => return Ok(()),
                Err(Failure::Stream(reason)) => {
                    tracing::warn!(%reason, sequence = cursor.applied.sequence, "following the stream failed; following again");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                Err(Failure::Local(error)) => return Err(error),
            }
        }
    }
    .await;
    if let Err(error) = outcome {
        tracing::error!(%error, "this replica can no longer apply the stream");
        shared.failure.send_replace(Some(error.to_string()));
    }
}

enum Failure {
    /// The stream or the connection failed: follow again from where it stopped.
    Stream(String),
    /// This replica's log failed.
    Local(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Local(error)
    }
}

struct Cursor {
    /// The last message applied, and the log's next position after it.
    applied: Applied,
    /// Until the log's next position reaches this, messages are matched, not decided: they
    /// were applied before a restart.
    verify_until: u64,
    /// The prefix of the log's subjects.
    subjects: String,
}

impl Cursor {
    async fn follow_once(
        &mut self,
        shared: &Shared,
        stream: &JetStream,
        progress: &OrderedProgress,
    ) -> Result<(), Failure> {
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: format!("{}.>", self.subjects),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: self.applied.sequence + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| Failure::Stream(e.to_string()))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Failure::Stream(e.to_string()))?
            .ready_chunks(MAX_RUN);
        let mut closed = shared.closed.subscribe();
        loop {
            let run = tokio::select! {
                run = messages.next() => run,
                _ = closed.wait_for(|c| *c) => return Ok(()),
                _ = stalled(&shared.wanted, self.applied.sequence) => {
                    return Err(Failure::Stream(format!("no message past sequence {} for {STALL:?} while an append waits for one", self.applied.sequence)));
                }
            };
            let Some(run) = run else {
                return Err(Failure::Stream("the stream's consumer ended".into()));
            };
            let mut queued = Vec::with_capacity(run.len());
            for message in run {
                let message = message.map_err(|e| Failure::Stream(e.to_string()))?;
                let info = message.info().map_err(|e| Failure::Stream(e.to_string()))?;
                let sequence = info.stream_sequence;
                if sequence <= self.last_queued(&queued) {
                    continue;
                }
                let nanos = info.published.unix_timestamp_nanos();
                let recorded_at = crate::domain::Timestamp::from_unix_nanos(
                    i64::try_from(nanos).unwrap_or(i64::MAX),
                );
                let proposal = Proposal::decode(&message.payload);
                let subject = message.subject.to_string();
                if self.applied.next_position < self.verify_until {
                    self.verify(shared, sequence, &subject, proposal.ok())
                        .await?;
                    continue;
                }
                if let (Ok(p), Some(keys)) = (&proposal, shared.keys.get()) {
                    if p.events.iter().any(concerns_keys) {
                        // Its contact's key was stored before it was appended: this replica
                        // holds it before it applies the record (see `keys`).
                        keys.wait().await?;
                    }
                }
                let answer = match proposal {
                    Err(error) => Answer::Decided(Err(error)),
                    Ok(p) => Answer::Queued(shared.local.queue_ordered(
                        &p.account,
                        p.expected,
                        p.events,
                        p.recorded_by,
                        recorded_at,
                    )?),
                };
                queued.push((sequence, subject, answer));
            }
            self.settle(shared, queued).await?;
            progress.save(self.applied).await?;
        }
    }

    fn last_queued(&self, queued: &[(u64, String, Answer)]) -> u64 {
        queued.last().map_or(self.applied.sequence, |(s, _, _)| *s)
    }

    /// Waits for the answers of a run, in order, and publishes them.
    async fn settle(
        &mut self,
        shared: &Shared,
        queued: Vec<(u64, String, Answer)>,
    ) -> Result<(), Failure> {
        if queued.is_empty() {
            return Ok(());
        }
        let stopped = || StoreError::Unavailable("the log writer has stopped".to_string());
        let mut answers = Vec::with_capacity(queued.len());
        for (sequence, subject, answer) in queued {
            let result = match answer {
                Answer::Decided(result) => result,
                Answer::Queued(rx) => rx.await.map_err(|_| stopped())?,
            };
            if !decided(&result) && !matches!(result, Err(StoreError::Corrupt(_))) {
                return Err(Failure::Local(result.unwrap_err()));
            }
            answers.push((sequence, subject, Some(result)));
        }
        let last = answers.last().map_or(self.applied.sequence, |a| a.0);
        self.applied = Applied {
            sequence: last,
            next_position: shared.local.head().next_position,
        };
        shared.publish(answers);
        Ok(())
    }

    /// A message applied before a restart: its records, if it wrote any, are the next ones.
    async fn verify(
        &mut self,
        shared: &Shared,
        sequence: u64,
        subject: &str,
        proposal: Option<Proposal>,
    ) -> Result<(), Failure> {
        let at = self.applied.next_position;
        let record = shared
            .local
            .read_all(
                Some(at),
                Direction::Forwards,
                Some(1),
                ReadAllFilter::default(),
            )
            .try_next()
            .await?;
        let wrote = match (&proposal, &record) {
            (Some(p), Some(r)) => {
                r.account_id == p.account && r.event.event_id == p.events[0].event_id
            }
            _ => false,
        };
        if wrote {
            let count = proposal.map_or(0, |p| p.events.len() as u64);
            self.applied.next_position = at + count;
        }
        self.applied.sequence = sequence;
        // No answer: nobody waits for a message applied before the restart.
        shared.publish(vec![(sequence, subject.to_string(), None)]);
        Ok(())
    }
}
