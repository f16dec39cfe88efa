//! Asking JetStream: the questions to a stream's leader asked again while an election or a
//! lost node keeps it from answering, and which of its errors say so.

use std::time::Duration;

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, ErrorCode};

use crate::store::StoreError;

/// How long a publish is retried while the stream has no leader (an election takes a few
/// seconds), before the append fails `UNAVAILABLE`.
pub(super) const PUBLISH_PATIENCE: Duration = Duration::from_secs(10);
/// How long one question to the stream's leader is waited for before it is asked again.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// The last message on `subject` of `stream`, asked of its leader (a direct get may answer
/// from a server that is behind); `None` when the subject has none.
pub(super) async fn last_on_subject(
    stream: &jetstream::stream::Stream,
    subject: &str,
) -> Result<Option<jetstream::message::StreamMessage>, StoreError> {
    let last = || async {
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(Some(message)),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(e),
        }
    };
    patiently(last, |e| match e.kind() {
        LastRawMessageErrorKind::Other => true,
        LastRawMessageErrorKind::JetStream(error) => passing(&error),
        _ => false,
    })
    .await
}

/// Whether JetStream says it is unavailable for a moment (10008: no leader yet, a node just
/// lost), which a question or a publish asked again a little later gets past.
fn passing(error: &jetstream::Error) -> bool {
    error.error_code() == ErrorCode::CLUSTER_NOT_AVAILABLE
}

/// Asks the stream's leader with `ask` again while `retry` says its error may pass (nobody
/// answers during an election), for up to [`PUBLISH_PATIENCE`].
pub(super) async fn patiently<T, E, F>(
    ask: impl Fn() -> F,
    retry: impl Fn(&E) -> bool,
) -> Result<T, StoreError>
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
{
    let started = tokio::time::Instant::now();
    loop {
        // A question sent while there is no leader is never answered: ask again soon rather
        // than wait for the client's own time-out, so that the first question after the
        // election is answered.
        let patient = started.elapsed() < PUBLISH_PATIENCE;
        match tokio::time::timeout(ASK_TIMEOUT, ask()).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) if retry(&e) && patient => {
                tracing::debug!(error = %e, "the stream's leader did not answer; asking again");
            }
            Err(_) if patient => {
                tracing::debug!("the stream's leader did not answer in time; asking again");
            }
            Ok(Err(e)) => return Err(unavailable(e)),
            Err(_) => {
                return Err(unavailable(format!(
                    "the stream's leader has not answered for {PUBLISH_PATIENCE:?}"
                )))
            }
        }
    }
}

/// JetStream's own error code for a refused publish.
fn code(error: &PublishError) -> Option<ErrorCode> {
    std::error::Error::source(error)?
        .downcast_ref::<jetstream::Error>()
        .map(jetstream::Error::error_code)
}

/// Whether a publish was refused because the subject moved past the sequence it expected
/// (a clustered stream says so with a code of its own, not the error kind a single node's
/// gives). Public for the compare bench's plain publisher, which must tell the same.
pub fn overtaken(error: &PublishError) -> bool {
    error.kind() == PublishErrorKind::WrongLastSequence
        || code(error) == Some(ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT)
}

/// Whether a publish may succeed if sent again: no leader during an election (async-nats
/// reports "no responders" as a missing stream), no ack in time, a broken connection, the
/// same message id being stored by another publish at this moment, or JetStream unavailable
/// for a moment (see [`passing`]).
pub(super) fn transient(error: &PublishError) -> bool {
    matches!(
        error.kind(),
        PublishErrorKind::StreamNotFound
            | PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
    ) || code(error) == Some(ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT)
        || code(error) == Some(ErrorCode::CLUSTER_NOT_AVAILABLE)
}

pub(super) fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("NATS JetStream: {error}"))
}

pub(super) fn closed() -> StoreError {
    StoreError::Unavailable("the replicated log is closed".to_string())
}
