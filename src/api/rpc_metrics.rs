//! The RPC metrics layer: outside the access checks, so that it counts every request, refused
//! ones included, by service, method and the gRPC status it ended with, and times it from the
//! request to that status.
//!
//! A gRPC status travels in the response's headers when the call fails before its first
//! message ("trailers only"), and otherwise in the trailers after the last message, so the
//! response body is watched to its end. A body dropped before it ends (the client went away)
//! counts as `CANCELLED`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use http_body::{Body, Frame};

use super::access::table;
use super::status::code_name;
use crate::metrics::{RPC_DURATION, RPC_REQUESTS};

/// The [`tower::Layer`] that puts [`RpcMetrics`] in front of the services.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> RpcMetrics<S> {
        RpcMetrics { inner }
    }
}

/// Counts and times the RPCs of the services behind it.
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Metered<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rpc = Rpc::of(request.uri().path());
        let started = Instant::now();
        Box::pin(async move {
            let response = inner.call(request).await?;
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok());
            let mut metered = response.map(|body| Metered {
                body: Some(body),
                rpc,
                started,
                done: false,
            });
            if let Some(code) = code {
                metered.body_mut().finish(code);
            }
            Ok(metered)
        })
    }
}

/// An RPC's labels: its service and method when the server has them, `unknown` otherwise (a
/// path a client made up must not make a new series).
#[derive(Debug, Clone, Copy)]
struct Rpc {
    service: &'static str,
    method: &'static str,
}

impl Rpc {
    fn of(path: &str) -> Rpc {
        let split = |p: &'static str| p.trim_matches('/').split_once('/');
        if let Some((service, method)) = table::find(path).and_then(|rpc| split(rpc.path)) {
            return Rpc { service, method };
        }
        // The open services (health, reflection): by service alone.
        match table::OPEN_SERVICES.iter().find(|s| path.starts_with(**s)) {
            Some(service) => Rpc {
                service: service.trim_matches('/'),
                method: "any",
            },
            None => Rpc {
                service: "unknown",
                method: "unknown",
            },
        }
    }
}

/// A response body that records its RPC's status and time when it ends.
pub struct Metered<B> {
    /// `None` only while the response is being built.
    body: Option<B>,
    rpc: Rpc,
    started: Instant,
    /// Whether the RPC has been recorded.
    done: bool,
}

impl<B> Metered<B> {
    fn finish(&mut self, code: i32) {
        if self.done {
            return;
        }
        self.done = true;
        let Rpc { service, method } = self.rpc;
        metrics::counter!(RPC_REQUESTS, "service" => service, "method" => method, "code" => code_name(tonic::Code::from_i32(code)))
            .increment(1);
        metrics::histogram!(RPC_DURATION, "service" => service, "method" => method)
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl<B> Drop for Metered<B> {
    fn drop(&mut self) {
        // Ended before its status: the client cancelled it, or the connection went.
        if self.body.is_some() {
            self.finish(tonic::Code::Cancelled as i32);
        }
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = bytes::Bytes> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let code = frame
                    .trailers_ref()
                    .and_then(|t| t.get("grpc-status"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok());
                if let Some(code) = code {
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish(tonic::Code::Internal as i32),
            // Ended without trailers: not a gRPC answer (a refused HTTP request).
            Poll::Ready(None) => self.finish(tonic::Code::Unknown as i32),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), Body::size_hint)
    }
}
