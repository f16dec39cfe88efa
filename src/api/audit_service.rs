//! `relledger.v1.Audit`: verifiable history over gRPC, a thin layer over [`Audit`].

use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use tonic::{Request, Response, Status};

use super::access;
use super::convert::{timestamp_from_proto, timestamp_to_proto};
use super::proto;
use super::reveal::record_to_wire;
use crate::audit::{key::public_key_hex, Audit, ReplayItem};
use crate::domain::{ChainHash, ValidationError};
use crate::privacy::Privacy;
use crate::store::SignedCheckpoint;

/// The gRPC face of the audit service.
pub struct AuditService {
    /// The application service that verifies, signs and replays.
    audit: Arc<Audit>,
    /// Opens the personal fields of replayed records (the canonical bytes stay sealed).
    privacy: Arc<Privacy>,
}

impl AuditService {
    /// The API over `audit`, opening replayed records with `privacy`.
    pub fn new(audit: Arc<Audit>, privacy: Arc<Privacy>) -> Self {
        AuditService { audit, privacy }
    }
}

/// The wire form of a signed checkpoint.
pub fn signed_checkpoint_to_proto(c: &SignedCheckpoint) -> proto::SignedCheckpoint {
    proto::SignedCheckpoint {
        position: c.position,
        hash: c.hash.0.to_vec(),
        signed_at: Some(timestamp_to_proto(c.signed_at)),
        public_key: c.public_key.to_vec(),
        signature: c.signature.to_vec(),
        requested_by: c.requested_by.clone().unwrap_or_default(),
    }
}

/// A signed checkpoint off the wire; a violation of `field`'s part when a byte string has the
/// wrong length or the time is missing or invalid.
pub fn signed_checkpoint_from_proto(
    c: &proto::SignedCheckpoint,
    field: &str,
) -> Result<SignedCheckpoint, ValidationError> {
    fn bytes<const N: usize>(b: &[u8], field: String) -> Result<[u8; N], ValidationError> {
        b.try_into().map_err(|_| {
            ValidationError::single(field, format!("must be {N} bytes, not {}", b.len()))
        })
    }
    let signed_at = c
        .signed_at
        .as_ref()
        .ok_or_else(|| ValidationError::single(format!("{field}.signed_at"), "is required"))?;
    Ok(SignedCheckpoint {
        position: c.position,
        hash: ChainHash(bytes(&c.hash, format!("{field}.hash"))?),
        signed_at: timestamp_from_proto(signed_at, &format!("{field}.signed_at"))?,
        public_key: bytes(&c.public_key, format!("{field}.public_key"))?,
        signature: bytes(&c.signature, format!("{field}.signature"))?,
        requested_by: (!c.requested_by.is_empty()).then(|| c.requested_by.clone()),
    })
}

/// A stream of replay items as the wire carries them.
type ReplayStream = BoxStream<'static, Result<proto::ReplayResponse, Status>>;

#[tonic::async_trait]
impl proto::audit_server::Audit for AuditService {
    #[tracing::instrument(level = "debug", name = "Audit.VerifyChain", skip_all)]
    async fn verify_chain(
        &self,
        request: Request<proto::VerifyChainRequest>,
    ) -> Result<Response<proto::VerifyChainResponse>, Status> {
        let request = request.into_inner();
        let report = self
            .audit
            .verify_chain(request.from_position, request.to_position)
            .await?;
        let (first_bad_position, reason) = match &report.broken {
            Some(brk) => (brk.position, brk.reason.clone()),
            None => (0, String::new()),
        };
        Ok(Response::new(proto::VerifyChainResponse {
            ok: report.broken.is_none(),
            records_checked: report.records_checked,
            first_bad_position,
            reason,
        }))
    }

    #[tracing::instrument(level = "debug", name = "Audit.GetChainHead", skip_all)]
    async fn get_chain_head(
        &self,
        _request: Request<proto::GetChainHeadRequest>,
    ) -> Result<Response<proto::GetChainHeadResponse>, Status> {
        let head = self.audit.head();
        let audit = Arc::clone(&self.audit);
        let latest = tokio::task::spawn_blocking(move || audit.latest_checkpoint())
            .await
            .map_err(|e| Status::internal(format!("a checkpoint read failed: {e}")))??;
        Ok(Response::new(proto::GetChainHeadResponse {
            record_count: head.next_position,
            head_position: head.next_position.checked_sub(1),
            head_hash: head.last_hash.0.to_vec(),
            latest_checkpoint: latest.as_ref().map(signed_checkpoint_to_proto),
        }))
    }

    #[tracing::instrument(level = "debug", name = "Audit.GetSigningKey", skip_all)]
    async fn get_signing_key(
        &self,
        _request: Request<proto::GetSigningKeyRequest>,
    ) -> Result<Response<proto::GetSigningKeyResponse>, Status> {
        let key = self.audit.public_key();
        Ok(Response::new(proto::GetSigningKeyResponse {
            public_key: key.to_bytes().to_vec(),
            public_key_hex: public_key_hex(&key),
        }))
    }

    #[tracing::instrument(level = "debug", name = "Audit.SignCheckpoint", skip_all)]
    async fn sign_checkpoint(
        &self,
        request: Request<proto::SignCheckpointRequest>,
    ) -> Result<Response<proto::SignCheckpointResponse>, Status> {
        let requested_by = access::caller(&request).name().map(str::to_string);
        let position = request.into_inner().position;
        let checkpoint = self.audit.sign_by(position, requested_by).await?;
        Ok(Response::new(proto::SignCheckpointResponse {
            checkpoint: Some(signed_checkpoint_to_proto(&checkpoint)),
        }))
    }

    type ReplayStream = ReplayStream;

    #[tracing::instrument(level = "debug", name = "Audit.Replay", skip_all)]
    async fn replay(
        &self,
        request: Request<proto::ReplayRequest>,
    ) -> Result<Response<Self::ReplayStream>, Status> {
        let request = request.into_inner();
        let privacy = Arc::clone(&self.privacy);
        let items = self
            .audit
            .replay(request.from_position, request.to_position)?
            .map(move |item| {
                let item = match item.map_err(Status::from)? {
                    ReplayItem::Record { record, canonical } => {
                        proto::replay_response::Item::Record(proto::ReplayedRecord {
                            event: Some(record_to_wire(&privacy, *record)?),
                            canonical,
                        })
                    }
                    ReplayItem::Checkpoint(checkpoint) => proto::replay_response::Item::Checkpoint(
                        signed_checkpoint_to_proto(&checkpoint),
                    ),
                };
                Ok(proto::ReplayResponse { item: Some(item) })
            })
            .boxed();
        Ok(Response::new(items))
    }
}
