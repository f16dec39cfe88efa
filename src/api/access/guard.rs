//! A stream's response body, watched: it ends the stream when a reload of the auth file takes
//! away what admitted it, and holds the stream's place among its principal's open streams.
//!
//! A stream outlives the check that admitted it (a subscription may run for days), so a
//! revoked token would otherwise go on reading. On every reload the watch authenticates the
//! stream's credential again: gone, the stream ends `UNAUTHENTICATED`; without the role now,
//! `PERMISSION_DENIED`; with another account scope, `UNAVAILABLE`, since the stream's filter
//! was made for the old scope and the client should open it again to get the new one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tonic::Status;

use super::table::Rpc;
use crate::auth::limits::StreamPermit;
use crate::auth::{Authenticator, Credential};
use crate::domain::AccountScope;

/// What a stream was admitted with.
pub(super) struct StreamWatch {
    pub auth: Arc<Authenticator>,
    pub credential: Credential,
    pub rpc: &'static Rpc,
    pub scope: AccountScope,
    pub reloads: tokio::sync::watch::Receiver<u64>,
    /// Released when the body is dropped, that is when the stream ends either way.
    pub _permit: StreamPermit,
}

impl StreamWatch {
    /// Completes, with the status that ends the stream, once a reload takes away what
    /// admitted it; pending for ever while it stays.
    async fn revoked(mut self) -> Status {
        loop {
            if self.reloads.changed().await.is_err() {
                // The authenticator is gone: the server is stopping, and ends the stream itself.
                return std::future::pending().await;
            }
            let principal = match self.auth.authenticate(&self.credential) {
                Ok(principal) => principal,
                Err(_) => {
                    return Status::unauthenticated("the credentials of this stream were revoked")
                }
            };
            if let Err(refusal) = super::check(self.rpc, &principal) {
                return Status::from(refusal);
            }
            if principal.scope != self.scope {
                return Status::unavailable(format!(
                    "the account scope of principal {:?} changed to {}; open the stream again",
                    principal.name, principal.scope
                ));
            }
        }
    }
}

/// `body`, ended with the status of a revocation if one comes before its end.
pub(super) fn guarded<B>(body: B, watch: StreamWatch) -> tonic::body::Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    tonic::body::Body::new(Guarded {
        inner: Some(Box::pin(tonic::body::Body::new(body))),
        revoked: Box::pin(watch.revoked()),
    })
}

struct Guarded {
    /// The stream's own body; dropped when the stream is ended, so that the service's stream
    /// stops too.
    inner: Option<Pin<Box<tonic::body::Body>>>,
    /// Completes once the stream's credentials no longer admit it. Owns the stream's permit.
    revoked: Pin<Box<dyn Future<Output = Status> + Send>>,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.inner.is_none() {
            return Poll::Ready(None);
        }
        // The revocation first: a stream that always has a frame ready (a catch-up) would
        // otherwise never be checked.
        if let Poll::Ready(status) = self.revoked.as_mut().poll(cx) {
            self.inner = None;
            let mut trailers = http::HeaderMap::new();
            return match status.add_header(&mut trailers) {
                Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                Err(status) => Poll::Ready(Some(Err(status))),
            };
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(inner.as_mut().poll_frame(cx));
        if frame.is_none() {
            self.inner = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_none()
    }
}
