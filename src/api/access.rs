//! The access layer: every request to a relledger service passes here before it reaches the
//! service. It finds the RPC in [`table::RPCS`], authenticates the caller (a bearer token, or
//! the client certificate under mTLS), checks its roles and limits, and hands the services a
//! [`Caller`] in the request's extensions, from which they take the caller's account scope and
//! the name recorded with what it writes.
//!
//! A stream's response is wrapped ([`guard`]) so that it ends when a reload of the auth file
//! revokes its credentials, and holds its place among the principal's open streams while it
//! lasts.
//!
//! Without an auth file (the loopback default), every caller is [`Caller::open`]: no roles, no
//! scope, no limits.

mod guard;
pub mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

use crate::auth::{AccessError, Authenticator, Caller, Credential, TokenHash};
use table::Rpc;

/// The [`tower::Layer`] that puts [`Access`] in front of the services.
#[derive(Debug, Clone)]
pub struct AccessLayer {
    /// The principals; `None` serves everyone as [`Caller::open`].
    auth: Option<Arc<Authenticator>>,
}

impl AccessLayer {
    /// The layer enforcing `auth`, or letting everyone in when it is `None`.
    pub fn new(auth: Option<Arc<Authenticator>>) -> AccessLayer {
        AccessLayer { auth }
    }
}

impl<S> tower::Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Access<S> {
        Access {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The services behind the access checks.
#[derive(Debug, Clone)]
pub struct Access<S> {
    inner: S,
    auth: Option<Arc<Authenticator>>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Access<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // The inner service was made ready for this call; a clone takes its place for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let admitted = match self.admit(&request) {
            Ok(admitted) => admitted,
            Err((status, hold)) => {
                return Box::pin(async move {
                    if let Some(hold) = hold {
                        tokio::time::sleep(hold).await;
                    }
                    Ok(status.into_http())
                })
            }
        };
        if let Some(caller) = admitted.caller {
            request.extensions_mut().insert(caller);
        }
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(match admitted.stream {
                Some(stream) => response.map(|body| guard::guarded(body, stream)),
                None => response.map(tonic::body::Body::new),
            })
        })
    }
}

impl<S> Access<S> {
    /// What `request` may do: pass with a caller (none for the open services), or be refused
    /// with a status, held for a while first when it is over a limit.
    fn admit<B>(&self, request: &http::Request<B>) -> Result<Admitted, (Status, Option<Duration>)> {
        let path = request.uri().path();
        let Some(rpc) = table::find(path) else {
            if table::is_open(path) {
                return Ok(Admitted {
                    caller: None,
                    stream: None,
                });
            }
            // Refused whatever the caller: a method the table does not name is one nobody has
            // decided the roles of (the router would answer the same for one it lacks).
            let status = Status::unimplemented(format!("{path} is not an RPC of this server"));
            return Err((status, None));
        };
        let Some(auth) = &self.auth else {
            return Ok(Admitted {
                caller: Some(Caller::open()),
                stream: None,
            });
        };
        admit(auth, rpc, request).map_err(|refusal| {
            let hold = match &refusal {
                AccessError::Limited(limited) => Some(refusal_hold(limited.retry_after)),
                _ => None,
            };
            (Status::from(refusal), hold)
        })
    }
}

/// The shortest time a refusal over a limit is held before it is answered. A client that
/// retries at once would otherwise be answered as fast as the server can refuse, and a
/// principal with many connections would spend the server's time (TCP, HTTP/2, the refusal)
/// on requests it may not make: held, its refusals come back at about the pace of its limit,
/// whatever it does (docs/BENCHMARKS-ACCESS.md, "Fairness").
pub const REFUSAL_HOLD_MIN: Duration = Duration::from_millis(10);

/// The longest time a refusal over a limit is held: past it, the client learns when to retry
/// from `RetryInfo` rather than from the wait, and a held refusal stops holding its stream.
pub const REFUSAL_HOLD_MAX: Duration = Duration::from_millis(100);

/// How long a refusal whose retry may succeed after `retry_after` is held.
fn refusal_hold(retry_after: Duration) -> Duration {
    retry_after.clamp(REFUSAL_HOLD_MIN, REFUSAL_HOLD_MAX)
}

/// What an admitted request carries on.
struct Admitted {
    /// Who calls; `None` for the open services (health, reflection), which take no caller.
    caller: Option<Caller>,
    /// For a stream: what keeps checking it while it is open.
    stream: Option<guard::StreamWatch>,
}

/// Authenticates the caller of `request`, checks its roles, scope and limits for `rpc`, and
/// logs a refusal at WARN with the peer address (never the token).
fn admit<B>(
    auth: &Arc<Authenticator>,
    rpc: &'static Rpc,
    request: &http::Request<B>,
) -> Result<Admitted, AccessError> {
    let peer = peer_address(request);
    let presented = credential(request);
    // A certificate's subject is no secret, and an operator binding it to a principal needs
    // its exact text; a token is never logged.
    let subject = match &presented {
        Ok(Credential::Subject(subject)) => Some(subject.clone()),
        _ => None,
    };
    let admitted = presented.and_then(|credential| {
        let principal = auth.authenticate(&credential)?;
        check(rpc, &principal)?;
        let permit = auth
            .limiter()
            .admit(&principal.name, &principal.limits, rpc.class)?;
        let stream = permit.map(|permit| guard::StreamWatch {
            auth: Arc::clone(auth),
            credential,
            rpc,
            scope: principal.scope.clone(),
            reloads: auth.reloads(),
            _permit: permit,
        });
        Ok(Admitted {
            caller: Some(Caller::principal(principal)),
            stream,
        })
    });
    if let Err(refusal) = &admitted {
        match refusal {
            AccessError::Limited(_) => {
                tracing::debug!(peer = ?peer, rpc = rpc.path, %refusal, "refused over a limit")
            }
            _ => tracing::warn!(
                peer = ?peer,
                rpc = rpc.path,
                subject = subject.as_deref(),
                %refusal,
                "refused a request"
            ),
        }
    }
    admitted
}

/// Whether `principal` may call `rpc` at all (its scope is checked again by the services,
/// against the accounts a request names).
pub(crate) fn check(
    rpc: &'static Rpc,
    principal: &crate::auth::Principal,
) -> Result<(), AccessError> {
    if !principal.roles.grants(rpc.roles) {
        return Err(AccessError::MissingRole {
            principal: principal.name.clone(),
            rpc: table::short_name(rpc.path).to_string(),
            needed: table::needed(rpc),
        });
    }
    if rpc.every_account && !principal.scope.is_all() {
        return Err(AccessError::NeedsEveryAccount {
            principal: principal.name.clone(),
            rpc: table::short_name(rpc.path).to_string(),
            scope: principal.scope.clone(),
        });
    }
    Ok(())
}

/// The request's credential: its bearer token when it sends one, else the subject of the
/// client certificate TLS verified.
fn credential<B>(request: &http::Request<B>) -> Result<Credential, AccessError> {
    if let Some(value) = request.headers().get(http::header::AUTHORIZATION) {
        let malformed = || {
            AccessError::Unauthenticated(
                "the authorization metadata must be `Bearer <token>`".to_string(),
            )
        };
        let value = value.to_str().map_err(|_| malformed())?;
        let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(malformed());
        }
        return Ok(Credential::Token(TokenHash::of(token)));
    }
    if let Some(subject) = certificate_subject(request) {
        return Ok(Credential::Subject(subject));
    }
    Err(AccessError::Unauthenticated(
        "no credentials: send `authorization: Bearer <token>` metadata".to_string(),
    ))
}

/// The subject of the client's certificate, as `CN=...,O=...` (RFC 4514 order as the
/// certificate lists it), when TLS verified one.
fn certificate_subject<B>(request: &http::Request<B>) -> Option<String> {
    let info = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certificates = info.peer_certs()?;
    let leaf = certificates.first()?;
    let (_, certificate) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(subject_text(certificate.subject()))
}

/// A certificate's subject as the auth file writes it: `CN=analytics,O=Acme`, the attributes
/// in the certificate's order, joined by commas without spaces.
pub fn subject_text(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_attributes()
        .map(|attribute| {
            let key = x509_parser::objects::oid2abbrev(
                attribute.attr_type(),
                x509_parser::objects::oid_registry(),
            )
            .map(str::to_string)
            .unwrap_or_else(|_| attribute.attr_type().to_id_string());
            let value = attribute.as_str().unwrap_or("?");
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The peer's address, for the log lines of refusals.
fn peer_address<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
}

/// The caller of a request the access layer admitted.
pub(crate) fn caller<T>(request: &tonic::Request<T>) -> Caller {
    // Every relledger RPC passes the access layer, which always inserts a caller; a request
    // without one was made inside the process (a test of a service alone).
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
