//! The server's Ed25519 signing key: a file in the data dir, created on first start.
//!
//! The file `SIGNING_KEY` holds the 32-byte secret seed as 64 lower-case hex digits and a
//! newline, readable by its owner only (mode 0600). A key that cannot be read, that does not
//! parse, or that others may read is refused with a message saying which: a server that signed
//! with a key it cannot vouch for would make every later checkpoint worthless.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

/// The key file's name in a data dir.
pub const SIGNING_KEY_FILE: &str = "SIGNING_KEY";

/// Why the signing key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file exists but cannot be read.
    #[error("the signing key {} cannot be read: {source}", path.display())]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The file does not hold a key.
    #[error("the signing key {} is malformed: {reason}", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Others than its owner may read the file.
    #[error(
        "the signing key {} is readable by others (mode {mode:o}); make it private with `chmod 600`",
        path.display()
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// There is no key file (and this caller does not create one).
    #[error("data dir {} has no signing key yet: it is created when the server first starts", dir.display())]
    Missing {
        /// The data dir.
        dir: PathBuf,
    },
    /// A new key could not be created.
    #[error("cannot create the signing key in {}: {source}", dir.display())]
    Create {
        /// The data dir.
        dir: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// The public key as auditors see it: 64 lower-case hex digits.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Parses a public key given as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("it is not hex: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("it is {} bytes, and an Ed25519 key is 32", b.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("it is not an Ed25519 key: {e}"))
}

/// Loads the key of `dir`, creating one if the file does not exist.
pub fn load_or_create(dir: &Path) -> Result<SigningKey, KeyError> {
    match load(dir) {
        Err(KeyError::Missing { .. }) => create(dir),
        other => other,
    }
}

/// Loads the key of `dir`; [`KeyError::Missing`] when there is none.
pub fn load(dir: &Path) -> Result<SigningKey, KeyError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                dir: dir.to_path_buf(),
            })
        }
        Err(source) => return Err(KeyError::Unreadable { path, source }),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path)
            .map_err(|source| KeyError::Unreadable {
                path: path.clone(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed { path, mode });
        }
    }
    let malformed = |reason: String| KeyError::Malformed {
        path: path.clone(),
        reason,
    };
    let text = std::str::from_utf8(&text)
        .map_err(|_| malformed("it is not text".to_string()))?
        .trim_end_matches('\n');
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(
            "it must hold 64 hex digits (the 32-byte Ed25519 seed) and a newline".to_string(),
        ));
    }
    let seed: [u8; 32] = hex::decode(text)
        .map_err(|e| malformed(e.to_string()))?
        .try_into()
        .map_err(|_| malformed("the seed is not 32 bytes".to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Creates a new random key in `dir`, durably and privately (written to a temporary file with
/// mode 0600, fsynced, renamed into place, and the dir fsynced).
fn create(dir: &Path) -> Result<SigningKey, KeyError> {
    let failed = |source: io::Error| KeyError::Create {
        dir: dir.to_path_buf(),
        source,
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| failed(io::Error::other(e.to_string())))?;
    let key = SigningKey::from_bytes(&seed);
    let temporary = dir.join(format!("{SIGNING_KEY_FILE}.tmp"));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(failed)?;
    writeln!(file, "{}", hex::encode(seed)).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    fs::rename(&temporary, dir.join(SIGNING_KEY_FILE)).map_err(failed)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(failed)?;
    tracing::info!(public_key = %public_key_hex(&key.verifying_key()), "created a new checkpoint signing key");
    Ok(key)
}

#[cfg(test)]
mod tests;
