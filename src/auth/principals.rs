//! The auth file: who the principals are, how each proves it, what each may do.
//!
//! JSON, written by `relledger token create` and read by the server at start and on every
//! reload (SIGHUP). JSON rather than TOML because the file is mostly written by the tool, and
//! serde_json is already how the ledger reads and writes everything else; unknown fields are
//! refused, so a misspelt `account_prefixes` cannot silently widen a scope.
//!
//! ```json
//! {
//!   "principals": [
//!     {
//!       "name": "analytics",
//!       "roles": ["subscriber"],
//!       "account_prefixes": ["north-"],
//!       "token_sha256": ["<64 hex digits>"],
//!       "certificate_subjects": ["CN=analytics,O=Acme"],
//!       "limits": { "reads_per_second": 200 }
//!     }
//!   ]
//! }
//! ```

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::limits::{Limits, LimitsEntry};
use super::token::TokenHash;
use crate::domain::{AccountId, AccountScope};

/// The longest principal name: it is recorded with every record the principal appends.
pub const MAX_PRINCIPAL_NAME_LEN: usize = 128;

/// A role: a set of RPCs (the table in `api::access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Appends, and reads of what it may see.
    Writer,
    /// Reads: streams, the global log, every relationship question.
    Reader,
    /// Subscriptions and the relationship change feed.
    Subscriber,
    /// The audit service, exports and the gift register.
    Auditor,
    /// Everything, erasure and on-demand checkpoints included.
    Admin,
}

impl Role {
    /// Every role, in the order they are listed.
    pub const ALL: [Role; 5] = [
        Role::Writer,
        Role::Reader,
        Role::Subscriber,
        Role::Auditor,
        Role::Admin,
    ];

    /// The role's name in the auth file and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::Subscriber => "subscriber",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The roles a principal holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    /// The set of `roles`.
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |bits, role| bits | role.bit()))
    }

    /// Whether the set holds `role` itself.
    pub fn holds(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether the set grants an RPC that any of `needed` may call: `admin` grants every one.
    pub fn grants(self, needed: &[Role]) -> bool {
        self.holds(Role::Admin) || needed.iter().any(|role| self.holds(*role))
    }
}

/// A principal in force: who, how it proves it, what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Its name, recorded with what it writes (`recorded_by`).
    pub name: String,
    /// Its roles.
    pub roles: Roles,
    /// The accounts it may touch.
    pub scope: AccountScope,
    /// The hashes of its bearer tokens.
    pub token_hashes: Vec<TokenHash>,
    /// The client-certificate subjects that stand for it under mTLS.
    pub subjects: Vec<String>,
    /// Its request rates and open streams.
    pub limits: Limits,
}

/// The principals of an auth file.
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    principals: Vec<Arc<Principal>>,
}

impl AuthFile {
    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<AuthFile, AuthFileError> {
        let entries = FileEntries::read(path)?;
        entries.check(path)
    }

    /// Parses and checks `text`, the contents of the file at `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<AuthFile, AuthFileError> {
        FileEntries::parse(path, text)?.check(path)
    }

    /// The principals, in the file's order.
    pub fn principals(&self) -> &[Arc<Principal>] {
        &self.principals
    }
}

/// Why an auth file cannot be used. The server refuses to start with it, and a reload keeps
/// the principals in force.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// The file cannot be read or written.
    #[error("cannot {action} the auth file {path}: {source}")]
    Io {
        /// What was being done: `read`, `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("the auth file {path} is not valid: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// serde_json's message, with the line and column.
        message: String,
    },
    /// The file is well formed but breaks a rule (a name twice, a bad hash).
    #[error("the auth file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What rule, and which principal.
        message: String,
    },
}

/// The file as written: what `token create` edits and the server checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntries {
    /// The principals.
    pub principals: Vec<PrincipalEntry>,
}

/// One principal as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalEntry {
    /// Its name.
    pub name: String,
    /// Its roles; at least one.
    pub roles: Vec<Role>,
    /// The prefixes of the account ids it may touch; none means every account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_prefixes: Vec<String>,
    /// The SHA-256 of each of its bearer tokens, as 64 hex digits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_sha256: Vec<String>,
    /// Client-certificate subjects (as `CN=...,O=...`) that stand for it under mTLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_subjects: Vec<String>,
    /// Its limits where they differ from the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsEntry>,
}

impl FileEntries {
    /// Reads the file at `path` without checking its rules.
    pub fn read(path: &Path) -> Result<FileEntries, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthFileError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        FileEntries::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<FileEntries, AuthFileError> {
        serde_json::from_str(text).map_err(|err| AuthFileError::Syntax {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
    }

    /// Checks every rule and gives the principals in force.
    pub fn check(&self, path: &Path) -> Result<AuthFile, AuthFileError> {
        let invalid = |message: String| AuthFileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        let mut subjects = HashSet::new();
        let mut principals = Vec::with_capacity(self.principals.len());
        for entry in &self.principals {
            let name = &entry.name;
            if name.is_empty()
                || name.len() > MAX_PRINCIPAL_NAME_LEN
                || name.chars().any(char::is_control)
            {
                return Err(invalid(format!(
                    "principal name {name:?} must be 1 to {MAX_PRINCIPAL_NAME_LEN} bytes without control characters"
                )));
            }
            if !names.insert(name.as_str()) {
                return Err(invalid(format!("principal {name:?} is listed twice")));
            }
            if entry.roles.is_empty() {
                return Err(invalid(format!("principal {name:?} has no role")));
            }
            for prefix in &entry.account_prefixes {
                // A prefix is itself a valid account id, or it could match none.
                if AccountId::parse(prefix.as_str()).is_err() {
                    return Err(invalid(format!(
                        "principal {name:?}: account prefix {prefix:?} holds characters no account id has"
                    )));
                }
            }
            let mut token_hashes = Vec::with_capacity(entry.token_sha256.len());
            for text in &entry.token_sha256 {
                let hash = TokenHash::parse_hex(text).ok_or_else(|| {
                    invalid(format!(
                        "principal {name:?}: token_sha256 {text:?} is not 64 hex digits"
                    ))
                })?;
                if !hashes.insert(hash) {
                    return Err(invalid(format!(
                        "principal {name:?}: a token hash is listed twice"
                    )));
                }
                token_hashes.push(hash);
            }
            for subject in &entry.certificate_subjects {
                if subject.is_empty() || !subjects.insert(subject.as_str()) {
                    return Err(invalid(format!(
                        "principal {name:?}: certificate subject {subject:?} is empty or listed twice"
                    )));
                }
            }
            let limits = match &entry.limits {
                Some(limits) => limits
                    .resolve()
                    .map_err(|message| invalid(format!("principal {name:?}: {message}")))?,
                None => Limits::default(),
            };
            principals.push(Arc::new(Principal {
                name: name.clone(),
                roles: Roles::of(&entry.roles),
                scope: AccountScope::of_prefixes(entry.account_prefixes.clone()),
                token_hashes,
                subjects: entry.certificate_subjects.clone(),
                limits,
            }));
        }
        Ok(AuthFile { principals })
    }

    /// Writes the file at `path` atomically (a temporary file renamed over it), readable by
    /// its owner only: it holds no token, but its hashes and scopes are nobody else's business.
    pub fn write(&self, path: &Path) -> Result<(), AuthFileError> {
        let failed = |source| AuthFileError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut text = serde_json::to_string_pretty(self)
            .map_err(std::io::Error::other)
            .map_err(failed)?;
        text.push('\n');
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(failed)?;
        }
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.as_file().sync_all().map_err(failed)?;
        file.persist(path).map_err(|err| failed(err.error))?;
        Ok(())
    }
}

impl FileEntries {
    /// Reads the file at `path`, or an empty file when there is none yet.
    pub fn read_or_empty(path: &Path) -> Result<FileEntries, AuthFileError> {
        match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(FileEntries::default()),
            _ => FileEntries::read(path),
        }
    }

    /// Adds the token hash `hash` to the principal `name`, creating the principal with `roles`
    /// and `account_prefixes` when it is new. An existing principal keeps its roles and scope:
    /// asking for others is refused rather than silently widening or narrowing what its other
    /// tokens may do.
    pub fn add_token(
        &mut self,
        name: &str,
        roles: &[Role],
        account_prefixes: &[String],
        hash: TokenHash,
    ) -> Result<(), String> {
        match self.principals.iter_mut().find(|p| p.name == name) {
            Some(principal) => {
                let same_roles = roles.is_empty()
                    || HashSet::<&Role>::from_iter(roles)
                        == HashSet::<&Role>::from_iter(&principal.roles);
                let same_scope = account_prefixes.is_empty()
                    || HashSet::<&String>::from_iter(account_prefixes)
                        == HashSet::<&String>::from_iter(&principal.account_prefixes);
                if !same_roles || !same_scope {
                    return Err(format!(
                        "principal {name:?} exists with other roles or account prefixes; edit the auth file to change them, or leave out --role and --account-prefix to add a token"
                    ));
                }
                principal.token_sha256.push(hash.to_hex());
            }
            None => {
                if roles.is_empty() {
                    return Err(format!(
                        "principal {name:?} is new: give it at least one --role"
                    ));
                }
                self.principals.push(PrincipalEntry {
                    name: name.to_string(),
                    roles: roles.to_vec(),
                    account_prefixes: account_prefixes.to_vec(),
                    token_sha256: vec![hash.to_hex()],
                    certificate_subjects: Vec::new(),
                    limits: None,
                });
            }
        }
        Ok(())
    }

    /// Removes the token whose hash is `hash`; whether it was there.
    pub fn revoke_token(&mut self, hash: TokenHash) -> bool {
        let hex = hash.to_hex();
        let mut found = false;
        for principal in &mut self.principals {
            let before = principal.token_sha256.len();
            principal
                .token_sha256
                .retain(|known| !known.eq_ignore_ascii_case(&hex));
            found |= principal.token_sha256.len() != before;
        }
        found
    }

    /// Removes the principal `name`, and with it every token and subject it had; whether it
    /// was there.
    pub fn remove_principal(&mut self, name: &str) -> bool {
        let before = self.principals.len();
        self.principals.retain(|p| p.name != name);
        self.principals.len() != before
    }
}
