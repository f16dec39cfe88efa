//! The log on NATS JetStream: a replicated stream orders the appends, and every relledger
//! replica applies them, in that order, to an embedded log of its own ([`FileLog`]) that it
//! reads from.
//!
//! - **One stream, one subject per account** (`relledger.v1.<stream>.events.<account id in
//!   hex>`).
//!   Each message is one append (see `proposal`): all its events or none, whatever the server
//!   version, with no need for atomic batch publish.
//! - **Deciding an append.** A replica checks what it can before publishing (a retry, the
//!   expected revision against its copy, caught up with the stream only when that check or
//!   the publish fails) and publishes with
//!   JetStream's `Nats-Expected-Last-Subject-Sequence`, so that of two replicas racing on one
//!   account the stream itself refuses the second. What decides is the follower (see
//!   `follower`): every replica applies each message as the embedded log decides any append,
//!   idempotency first, then the expected revision, so an append refused on one replica is
//!   refused on all, and positions stay gapless and the same everywhere.
//! - **Idempotency is permanent**: the message id (the first event id and a digest of the
//!   proposal) lets JetStream drop a resent publish within its duplicate window; past it, the
//!   replicas' own idempotency answers the retry with the original outcome.
//! - **The hash chain** is the embedded log's, sealed by each replica as it applies the stream:
//!   a record is recorded at the time JetStream stored its message (or the record before it, if
//!   later), so every replica seals the same bytes and derives the same hashes.
//! - **Read your writes**: an append returns once this replica has applied its message.

mod asking;
mod follower;
mod keys;
mod options;
mod positions;
mod proposal;

pub use asking::overtaken;
pub use keys::JetStreamKeys;
pub use positions::JetStreamPositions;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::context::RequestErrorKind;
use async_nats::jetstream::{self, message::PublishMessage};
use async_trait::async_trait;
use futures::stream::BoxStream;
use tokio::sync::watch;

use self::asking::{closed, last_on_subject, patiently, transient, unavailable, PUBLISH_PATIENCE};
use self::options::check_version;
pub use self::options::{
    JetStreamError, JetStreamOptions, NatsTls, DEFAULT_STREAM, MIN_SERVER_VERSION,
};
use self::proposal::{subject_of, Proposal};
use super::file::FileLog;
use super::memory::empty_batch;
use super::{
    AppendOutcome, Direction, ExpectedRevision, Log, LogHead, ReadAllFilter, StoreError,
    StoredRecords,
};
use crate::domain::{AccountId, ProposedEvent, RecordedEvent};

/// How long opening waits for the cluster to elect the leaders it needs.
const OPEN_PATIENCE: Duration = Duration::from_secs(30);
/// How long an append waits for this replica to apply the stream as far as it must.
const APPLY_PATIENCE: Duration = Duration::from_secs(30);
/// How many times an append is proposed again after another replica's append overtook it.
const MAX_PROPOSALS: u32 = 16;
/// How many applied messages' answers are kept for the appends waiting for them.
const KEPT_ANSWERS: usize = 65_536;

/// One message the follower applied: its stream sequence, its subject, and its answer
/// (`None` when nobody can be waiting for it).
type Applied = (u64, String, Option<Result<AppendOutcome, StoreError>>);

/// The parts the appends and the follower share.
struct Shared {
    /// This replica's copy, which every read is answered from.
    local: FileLog,
    /// The last stream sequence applied.
    applied: watch::Sender<u64>,
    /// The highest stream sequence an append waits for this replica to apply: while it is
    /// ahead of `applied`, the follower expects messages (see `follower::stalled`).
    wanted: watch::Sender<u64>,
    /// Recent messages' answers, by stream sequence.
    answers: Mutex<BTreeMap<u64, Result<AppendOutcome, StoreError>>>,
    /// The last stream sequence of each subject the follower has seen.
    subjects: Mutex<HashMap<String, u64>>,
    /// Why this replica can no longer apply the stream, once it cannot.
    failure: watch::Sender<Option<String>>,
    /// Set when the log closes: the follower stops.
    closed: watch::Sender<bool>,
    /// Once the data keys are on JetStream: what the follower waits for before it applies a
    /// message with personal data, whose key was stored before it was appended.
    keys: std::sync::OnceLock<keys::KeysCaughtUp>,
}

impl Shared {
    /// Records what the follower applied: each message's subject and answer (`None` for
    /// nobody's), then the last sequence.
    fn publish(&self, applied: Vec<Applied>) {
        let Some(last) = applied.last().map(|a| a.0) else {
            return;
        };
        {
            let mut subjects = self.subjects.lock().unwrap_or_else(PoisonError::into_inner);
            let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
            for (sequence, subject, answer) in applied {
                subjects.insert(subject, sequence);
                if let Some(answer) = answer {
                    answers.insert(sequence, answer);
                }
            }
            while answers.len() > KEPT_ANSWERS {
                answers.pop_first();
            }
        }
        self.applied.send_replace(last);
    }
}

/// The log on a JetStream stream, applied to this replica's [`FileLog`]. See the module docs.
#[derive(Clone)]
pub struct JetStreamLog {
    shared: Arc<Shared>,
    /// Where the stream is and how it is kept, for the streams beside it.
    options: JetStreamOptions,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    /// Held, never read: the last handle dropped stops the follower.
    _closing: Arc<Closing>,
}

/// Stops the follower when the last handle goes.
struct Closing(Arc<Shared>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.closed.send_replace(true);
    }
}

impl JetStreamLog {
    /// Connects to the servers of `options`, checks their version, opens (creating if needed)
    /// the stream, and starts applying it to `local`, this replica's log.
    pub async fn open(
        local: FileLog,
        options: &JetStreamOptions,
    ) -> Result<JetStreamLog, JetStreamError> {
        let urls = options.urls.join(",");
        let connect_error = |reason: String| JetStreamError::Connect {
            urls: urls.clone(),
            reason,
        };
        let mut connect = async_nats::ConnectOptions::new();
        if let Some(ca) = &options.tls.ca {
            connect = connect.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((certificate, key)) = &options.tls.client {
            connect = connect.add_client_certificate(certificate.clone(), key.clone());
        }
        let client = tokio::time::timeout(
            Duration::from_secs(10),
            connect.connect(options.urls.as_slice()),
        )
        .await
        .map_err(|_| connect_error("no answer in 10 s".into()))?
        .map_err(|e| connect_error(e.to_string()))?;
        check_version(&client.server_info().version)?;
        let js = jetstream::new(client);
        let stream_error = |reason: String| JetStreamError::Stream {
            stream: options.stream.clone(),
            reason,
        };
        let config = jetstream::stream::Config {
            name: options.stream.clone(),
            subjects: vec![format!("{}.>", options.subjects("events"))],
            storage: jetstream::stream::StorageType::File,
            num_replicas: options.replicas,
            // The log is append-only: nobody removes a message, so the sequences stay
            // gapless and every replica can apply the stream from its start.
            deny_delete: true,
            deny_purge: true,
            ..Default::default()
        };
        // A cluster that has just started has no JetStream leader for a moment (and says
        // "temporarily unavailable", or nothing): ask again until it has.
        let started = tokio::time::Instant::now();
        let stream = loop {
            match js.get_or_create_stream(config.clone()).await {
                Ok(stream) => break stream,
                Err(e) if started.elapsed() < OPEN_PATIENCE => {
                    tracing::debug!(error = %e, "cannot open the stream yet; asking again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(stream_error(e.to_string())),
            }
        };
        // A stream just created has no leader for a moment, and its leader answers the
        // questions an append asks: wait for one.
        let started = tokio::time::Instant::now();
        let mut stream = stream;
        loop {
            let led = match stream.info().await {
                Ok(info) => info.cluster.as_ref().is_none_or(|c| c.leader.is_some()),
                Err(e) if started.elapsed() < OPEN_PATIENCE => {
                    tracing::debug!(error = %e, "the stream does not answer yet");
                    false
                }
                Err(e) => return Err(stream_error(e.to_string())),
            };
            if led {
                break;
            }
            if started.elapsed() >= OPEN_PATIENCE {
                return Err(stream_error(format!("no leader after {OPEN_PATIENCE:?}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let subjects = &stream.cached_info().config.subjects;
        if !subjects
            .iter()
            .any(|s| s == &format!("{}.>", options.subjects("events")))
        {
            return Err(stream_error(format!(
                "it exists with other subjects ({subjects:?})"
            )));
        }
        let progress = local.ordered_progress()?;
        let shared = Arc::new(Shared {
            local,
            applied: watch::channel(0).0,
            wanted: watch::channel(0).0,
            answers: Mutex::new(BTreeMap::new()),
            subjects: Mutex::new(HashMap::new()),
            failure: watch::channel(None).0,
            closed: watch::channel(false).0,
            keys: std::sync::OnceLock::new(),
        });
        tokio::spawn(follower::follow(
            Arc::clone(&shared),
            stream.clone(),
            options.subjects("events"),
            progress,
        ));
        Ok(JetStreamLog {
            _closing: Arc::new(Closing(Arc::clone(&shared))),
            shared,
            options: options.clone(),
            js,
            stream,
        })
    }

    /// Named subscriptions' acknowledged positions, shared by every replica on a stream beside
    /// the log's (created if missing).
    pub async fn positions(&self) -> Result<JetStreamPositions, StoreError> {
        JetStreamPositions::open(self).await
    }

    /// The contacts' data keys, shared by every replica on a stream beside the log's (created
    /// if missing), every key read before this returns.
    pub async fn keys(&self) -> Result<JetStreamKeys, StoreError> {
        JetStreamKeys::open(self).await
    }

    /// Opens (creating) a stream beside the log's, with as many replicas, that keeps only the
    /// last message of each subject (`prefix.>`): a key-value bucket whose reads can all go
    /// to the stream's leader (see `positions`). Named `<log's stream>_<suffix>`.
    async fn open_latest_per_subject(
        &self,
        suffix: &str,
        prefix: &str,
    ) -> Result<jetstream::stream::Stream, StoreError> {
        let config = jetstream::stream::Config {
            name: format!("{}_{suffix}", self.options.stream),
            subjects: vec![format!("{prefix}.>")],
            storage: jetstream::stream::StorageType::File,
            num_replicas: self.options.replicas,
            max_messages_per_subject: 1,
            deny_purge: true,
            ..Default::default()
        };
        patiently(|| self.js.get_or_create_stream(config.clone()), |_| true).await
    }

    /// Publishes `payload` on `subject` if its last message is still at `sequence` (0: it has
    /// none); false when another message came first.
    async fn publish_if_last(
        &self,
        subject: &str,
        sequence: u64,
        payload: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let payload = bytes::Bytes::from(payload);
        let message = || {
            PublishMessage::build()
                .payload(payload.clone())
                .expected_last_subject_sequence(sequence)
        };
        Ok(self.publish(subject, message).await?.is_some())
    }

    /// Has the follower wait for `keys` to catch up before a message with personal data.
    fn before_personal_data(&self, keys: keys::KeysCaughtUp) {
        let _ = self.shared.keys.set(keys);
    }

    /// Follows whether the log has closed.
    fn closed(&self) -> watch::Receiver<bool> {
        self.shared.closed.subscribe()
    }

    /// This replica's copy of the log.
    pub fn local(&self) -> &FileLog {
        &self.shared.local
    }

    /// Waits until this replica has applied the stream up to `sequence`.
    async fn applied(&self, sequence: u64) -> Result<(), StoreError> {
        follower::want(&self.shared.wanted, sequence);
        let mut applied = self.shared.applied.subscribe();
        let mut failure = self.shared.failure.subscribe();
        let waiting = async {
            tokio::select! {
                reached = applied.wait_for(|a| *a >= sequence) => reached.map(|_| ()).map_err(|_| closed()),
                failed = failure.wait_for(Option::is_some) => Err(StoreError::Unavailable(format!(
                    "this replica cannot apply the stream: {}",
                    failed.map(|f| f.clone().unwrap_or_default()).unwrap_or_default()
                ))),
            }
        };
        tokio::time::timeout(APPLY_PATIENCE, waiting)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "this replica has not applied the stream up to sequence {sequence} in {APPLY_PATIENCE:?}"
                ))
            })?
    }

    /// Waits until this replica has applied everything the stream holds now.
    async fn caught_up(&self) -> Result<(), StoreError> {
        let info = patiently(
            || self.stream.get_info(),
            |e| {
                matches!(
                    e.kind(),
                    RequestErrorKind::TimedOut | RequestErrorKind::NoResponders
                )
            },
        )
        .await?;
        self.applied(info.state.last_sequence).await
    }

    /// The stream sequence of the last message on `subject` this replica has applied, if it
    /// has applied one since it started following.
    fn seen_subject_sequence(&self, subject: &str) -> Option<u64> {
        self.shared
            .subjects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(subject)
            .copied()
    }

    /// The stream sequence of the last message on `subject` (0: none), once caught up.
    async fn subject_sequence(&self, subject: &str) -> Result<u64, StoreError> {
        if let Some(sequence) = self.seen_subject_sequence(subject) {
            return Ok(sequence);
        }
        // Not seen since this replica started following.
        let last = last_on_subject(&self.stream, subject).await?;
        Ok(last.map_or(0, |message| message.sequence))
    }

    /// Publishes, retrying while the stream has no leader; the ack's sequence and whether the
    /// stream took it as a duplicate, or `None` when the expected subject sequence failed.
    async fn publish(
        &self,
        subject: &str,
        message: impl Fn() -> PublishMessage,
    ) -> Result<Option<(u64, bool)>, StoreError> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(25);
        loop {
            let sent = match self.js.send_publish(subject.to_string(), message()).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(ack) => return Ok(Some((ack.sequence, ack.duplicate))),
                Err(e) if overtaken(&e) => return Ok(None),
                Err(e) if transient(&e) && started.elapsed() < PUBLISH_PATIENCE => {
                    tracing::debug!(error = %e, "publish failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }
}

#[async_trait]
impl Log for JetStreamLog {
    async fn append_by(
        &self,
        account: &AccountId,
        expected: ExpectedRevision,
        events: Vec<ProposedEvent>,
        recorded_by: Option<&str>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            return Err(empty_batch());
        }
        let subject = subject_of(&self.options.subjects("events"), account);
        let proposal = Proposal {
            account: account.clone(),
            expected,
            recorded_by: recorded_by.map(str::to_string),
            events,
        };
        let payload = bytes::Bytes::from(proposal.encode());
        // What this replica's copy holds of the batch: the original outcome of a retry.
        let retry = || self.shared.local.find_retry(account, &proposal.events);
        for attempt in 0..MAX_PROPOSALS {
            // A retry of an append this replica has applied is answered here.
            if let Some(outcome) = retry().await? {
                return Ok(outcome);
            }
            let id = proposal.message_id(&payload, attempt);
            let mut last_on_subject = None;
            if expected != ExpectedRevision::Any {
                // First against this replica's copy as it stands, without asking the stream's
                // leader: if the subject has moved since, the stream refuses the publish and the
                // next attempt catches up. The subject's sequence is read before the revision,
                // so that a message applied between the two reads makes the publish stale, not
                // the check. Only a refusal, or a subject this replica has not seen, needs the
                // stream's head.
                let mut checked = None;
                if attempt == 0 {
                    if let Some(last) = self.seen_subject_sequence(&subject) {
                        let actual = self.shared.local.stream_revision(account).await?;
                        if expected.admits(actual) {
                            checked = Some(last);
                        }
                    }
                }
                let last = match checked {
                    Some(last) => last,
                    None => {
                        self.caught_up().await?;
                        let last = self.subject_sequence(&subject).await?;
                        let actual = self.shared.local.stream_revision(account).await?;
                        if !expected.admits(actual) {
                            return match retry().await? {
                                Some(outcome) => Ok(outcome),
                                None => Err(StoreError::WrongExpectedRevision { expected, actual }),
                            };
                        }
                        last
                    }
                };
                last_on_subject = Some(last);
            }
            let message = || {
                let m = PublishMessage::build()
                    .payload(payload.clone())
                    .message_id(&id);
                match last_on_subject {
                    Some(last) => m.expected_last_subject_sequence(last),
                    None => m,
                }
            };
            let Some((sequence, duplicate)) = self.publish(&subject, message).await? else {
                // Another replica appended to the account since: decide again.
                tracing::debug!(%account, ?last_on_subject, attempt, "overtaken on the subject; deciding again");
                continue;
            };
            self.applied(sequence).await?;
            let answer = self
                .shared
                .answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&sequence)
                .cloned();
            match answer {
                Some(answer) if !duplicate => return answer,
                // The same proposal was published before: its answer, if it was written,
                // is this append's as a retry.
                _ => {
                    if let Some(outcome) = retry().await? {
                        return Ok(outcome);
                    }
                    if !duplicate {
                        return Err(StoreError::Unavailable(format!(
                            "the answer to the append at stream sequence {sequence} is no longer kept"
                        )));
                    }
                    // It was refused then; propose it again under another id.
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "the append was overtaken by other appends {MAX_PROPOSALS} times; retry it"
        )))
    }

    async fn find_retry(
        &self,
        account: &AccountId,
        events: &[ProposedEvent],
    ) -> Result<Option<AppendOutcome>, StoreError> {
        self.shared.local.find_retry(account, events).await
    }

    async fn stream_revision(&self, account: &AccountId) -> Result<Option<u64>, StoreError> {
        self.shared.local.stream_revision(account).await
    }

    async fn accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<AccountId>, StoreError> {
        self.shared.local.accounts(after, limit).await
    }

    fn read_stream(
        &self,
        account: &AccountId,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        self.shared
            .local
            .read_stream(account, from, direction, limit)
    }

    fn read_all_pages(
        &self,
        from: Option<u64>,
        direction: Direction,
        limit: Option<u64>,
        filter: ReadAllFilter,
    ) -> BoxStream<'static, Result<Vec<RecordedEvent>, StoreError>> {
        self.shared
            .local
            .read_all_pages(from, direction, limit, filter)
    }

    async fn catch_up(&self) -> Result<(), StoreError> {
        self.caught_up().await
    }

    fn catch_up_needed(&self) -> bool {
        true
    }

    fn stored_records(&self, from: u64, to: u64) -> StoredRecords {
        self.shared.local.stored_records(from, to)
    }

    fn head(&self) -> LogHead {
        self.shared.local.head()
    }

    fn watch_head(&self) -> watch::Receiver<LogHead> {
        Log::watch_head(&self.shared.local)
    }
}

#[cfg(test)]
mod tests;
