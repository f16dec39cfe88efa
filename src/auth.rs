//! Who may do what: principals, their credentials, roles and account scopes, and the limits on
//! how much of the server each may take.
//!
//! - [`principals`]: the auth file (JSON) and its parsing: principals with their token hashes,
//!   certificate subjects, roles, account prefixes and limits;
//! - [`token`]: bearer tokens, made at random and kept only as SHA-256 hashes;
//! - [`limits`]: per-principal token buckets and stream counts;
//! - [`Authenticator`]: the principals now in force, reloaded from the file on demand, and
//!   the generation that tells open streams to check their credentials again.
//!
//! The mapping of every RPC to the roles it needs is the wire layer's (`api::access`), since it
//! names RPCs; this module knows nothing of gRPC.

pub mod limits;
pub mod principals;
pub mod token;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;

pub use limits::{Class, Limited, Limiter, Limits, StreamPermit};
pub use principals::{AuthFile, AuthFileError, Principal, Role, Roles};
pub use token::{Token, TokenHash};

use crate::domain::AccountScope;

/// What a request presented to prove who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token, as its hash: the token itself is never kept.
    Token(TokenHash),
    /// The subject of the client certificate that TLS verified (mTLS).
    Subject(String),
}

/// Why a request was refused before it reached a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No credentials, or credentials of the wrong form: `UNAUTHENTICATED`.
    #[error("{0}")]
    Unauthenticated(String),
    /// The credentials name no principal (unknown or revoked): `UNAUTHENTICATED`.
    #[error("unknown or revoked credentials")]
    UnknownCredential,
    /// A known principal without any of the roles the RPC needs: `PERMISSION_DENIED`.
    #[error("principal {principal:?} may not call {rpc}: it needs the role {needed}")]
    MissingRole {
        /// The principal's name.
        principal: String,
        /// The RPC, as `Service/Method`.
        rpc: String,
        /// The roles that would do, spelled as in the auth file (`writer or admin`).
        needed: String,
    },
    /// A known principal asked about an account outside its scope: `PERMISSION_DENIED`.
    #[error("principal {principal:?} may not touch account {account:?}: its scope is {scope}")]
    OutsideScope {
        /// The principal's name.
        principal: String,
        /// The account asked for.
        account: String,
        /// The principal's scope.
        scope: AccountScope,
    },
    /// A scoped principal called an RPC that is about the whole log (the chain, its
    /// checkpoints): `PERMISSION_DENIED`.
    #[error("principal {principal:?} may not call {rpc}: it is about every account, and the principal's scope is {scope}")]
    NeedsEveryAccount {
        /// The principal's name.
        principal: String,
        /// The RPC, as `Service/Method`.
        rpc: String,
        /// The principal's scope.
        scope: AccountScope,
    },
    /// The principal is over one of its limits: `RESOURCE_EXHAUSTED`, with when to retry.
    #[error(transparent)]
    Limited(#[from] Limited),
}

/// The principals in force, and where they came from.
#[derive(Debug)]
pub struct Authenticator {
    /// The auth file, read again by [`Authenticator::reload`].
    path: PathBuf,
    /// The principals now in force. Requests take a snapshot; a reload swaps it whole.
    current: RwLock<Arc<AuthFile>>,
    /// Counts reloads; open streams wait on it and check their credentials again when it moves,
    /// so a revoked token's streams end on the next reload.
    generation: tokio::sync::watch::Sender<u64>,
    /// Request rates and open streams, per principal.
    limiter: Limiter,
}

impl Authenticator {
    /// Reads the auth file at `path`; the server refuses to start if it is missing or invalid.
    pub fn open(path: impl Into<PathBuf>) -> Result<Authenticator, AuthFileError> {
        let path = path.into();
        let file = AuthFile::read(&path)?;
        Ok(Authenticator {
            path,
            current: RwLock::new(Arc::new(file)),
            generation: tokio::sync::watch::Sender::new(0),
            limiter: Limiter::default(),
        })
    }

    /// The auth file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the auth file again and puts it in force. An invalid file changes nothing: the
    /// principals in force stay, and the error says what is wrong with the new one.
    pub fn reload(&self) -> Result<(), AuthFileError> {
        let file = AuthFile::read(&self.path)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(file);
        self.generation.send_modify(|generation| *generation += 1);
        Ok(())
    }

    /// The principal `credential` names, if any. Every token hash in force is compared, each
    /// in constant time, whichever matches: how long this takes tells nothing of which hash,
    /// or how much of one, a guess matched.
    pub fn authenticate(&self, credential: &Credential) -> Result<Arc<Principal>, AccessError> {
        let file = self.snapshot();
        let mut found = None;
        for principal in file.principals() {
            let matches = match credential {
                Credential::Token(hash) => principal
                    .token_hashes
                    .iter()
                    .fold(subtle::Choice::from(0), |any, known| {
                        any | known.as_bytes().ct_eq(hash.as_bytes())
                    })
                    .into(),
                Credential::Subject(subject) => principal.subjects.iter().any(|s| s == subject),
            };
            if matches {
                found = Some(Arc::clone(principal));
            }
        }
        found.ok_or(AccessError::UnknownCredential)
    }

    /// A receiver that changes on every reload.
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The per-principal limits.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    fn snapshot(&self) -> Arc<AuthFile> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Who is calling, as the services see it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The authenticated principal; `None` when the server runs without an auth file (a
    /// loopback development server), where every caller may do everything.
    principal: Option<Arc<Principal>>,
}

impl Caller {
    /// A caller of a server without authentication.
    pub fn open() -> Caller {
        Caller { principal: None }
    }

    /// The caller `principal`.
    pub fn principal(principal: Arc<Principal>) -> Caller {
        Caller {
            principal: Some(principal),
        }
    }

    /// The accounts the caller may touch.
    pub fn scope(&self) -> &AccountScope {
        static EVERY_ACCOUNT: AccountScope = AccountScope::All;
        match &self.principal {
            Some(principal) => &principal.scope,
            None => &EVERY_ACCOUNT,
        }
    }

    /// The principal's name, recorded with what it writes; `None` without authentication.
    pub fn name(&self) -> Option<&str> {
        self.principal.as_deref().map(|p| p.name.as_str())
    }

    /// Refuses an account outside the caller's scope.
    pub fn may_touch(&self, account: &str) -> Result<(), AccessError> {
        match &self.principal {
            Some(principal) if !principal.scope.covers_id(account) => {
                Err(AccessError::OutsideScope {
                    principal: principal.name.clone(),
                    account: account.to_string(),
                    scope: principal.scope.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
