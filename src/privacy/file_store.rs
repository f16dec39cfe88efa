//! The data keys on disk: `keys/` in the data dir, one file per contact.
//!
//! A key file is named by [`ContactRef::key_name`] in hex and holds 33 bytes: a format byte
//! (`1`) and the key. Files are created mode 0600 in a 0700 directory; one that group or
//! others may read is refused at start, as the signing key is.
//!
//! - **Create**: write `NAME.tmp`, fsync it, rename it to `NAME`, fsync the directory. Only
//!   then is the key used, so no record is ever sealed under a key that a crash could lose.
//! - **Destroy**: overwrite the file with zeros, fsync it, unlink it, fsync the directory. The
//!   overwrite is for plain filesystems on disks that write in place; copy-on-write filesystems
//!   (btrfs, ZFS) and SSD firmware may keep the old blocks until they are reused, which no
//!   program can prevent (ARCHITECTURE.md, "Forgetting a contact").
//!
//! Every key is read into memory when the store opens, so looking one up on a read costs no
//! IO. The keys are never written to sled: sled keeps old versions of values in its log files
//! until it compacts them, so a key stored there could outlive its destruction.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use super::keys::{ContactRef, DataKey, KeyStore};
use super::PrivacyError;

/// The format byte that starts every key file.
const KEY_FILE_V1: u8 = 1;
/// A key file's length: the format byte and the key.
const KEY_FILE_LEN: usize = 33;
/// The suffix of a key file being created.
const TEMPORARY_SUFFIX: &str = ".tmp";

/// The data keys, one file each in a directory.
pub struct FileKeyStore {
    /// The directory, `DATA_DIR/keys`.
    dir: PathBuf,
    /// Every key on disk, by key name. Write-locked only to insert or remove, never across
    /// IO, so a read never waits for an fsync.
    keys: RwLock<HashMap<[u8; 32], DataKey>>,
    /// Held across each creation or destruction (file and map together), so two creations of
    /// one key cannot race and the map always agrees with the disk.
    changing: Mutex<()>,
}

impl FileKeyStore {
    /// Opens (creating) the store in `dir` and reads every key. A leftover temporary file (a
    /// creation that crashed before its rename, so no record used its key) is destroyed. A key
    /// file that is malformed is an error: every field sealed under it would read as erased.
    pub fn open(dir: &Path) -> Result<FileKeyStore, PrivacyError> {
        let failed = |what: &str, e: io::Error| {
            PrivacyError::Unavailable(format!("{what} {}: {e}", dir.display()))
        };
        fs::create_dir_all(dir).map_err(|e| failed("cannot create the key store", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| failed("cannot restrict the key store", e))?;
        }
        let mut keys = HashMap::new();
        for entry in fs::read_dir(dir).map_err(|e| failed("cannot list the key store", e))? {
            let path = entry
                .map_err(|e| failed("cannot list the key store", e))?
                .path();
            let file_name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if file_name.ends_with(TEMPORARY_SUFFIX) {
                shred(&path).map_err(|e| failed("cannot remove a leftover key in", e))?;
                continue;
            }
            let name = hex::decode(file_name)
                .ok()
                .and_then(|n| <[u8; 32]>::try_from(n).ok())
                .ok_or_else(|| {
                    PrivacyError::Corrupt(format!(
                        "{} is not a key file (the key store holds only files named by 64 hex digits)",
                        path.display()
                    ))
                })?;
            keys.insert(name, read_key(&path)?);
        }
        sync_dir(dir).map_err(|e| failed("cannot sync the key store", e))?;
        Ok(FileKeyStore {
            dir: dir.to_path_buf(),
            keys: RwLock::new(keys),
            changing: Mutex::new(()),
        })
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, name: &[u8; 32]) -> Option<DataKey> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<[u8; 32], DataKey>> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    fn changing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path_of(&self, name: &[u8; 32]) -> PathBuf {
        self.dir.join(hex::encode(name))
    }
}

impl KeyStore for FileKeyStore {
    fn held(&self) -> usize {
        self.len()
    }

    fn get(&self, contact: &ContactRef) -> Option<DataKey> {
        self.key(&contact.key_name())
    }

    fn get_or_create(&self, contact: &ContactRef) -> Result<DataKey, PrivacyError> {
        let name = contact.key_name();
        let _changing = self.changing();
        if let Some(key) = self.key(&name) {
            return Ok(key);
        }
        let key = DataKey::generate()?;
        let path = self.path_of(&name);
        write_key(&self.dir, &path, &key).map_err(|e| {
            PrivacyError::Unavailable(format!("cannot write the key {}: {e}", path.display()))
        })?;
        self.keys_mut().insert(name, key.clone());
        Ok(key)
    }

    fn destroy(&self, contact: &ContactRef) -> Result<bool, PrivacyError> {
        let name = contact.key_name();
        let _changing = self.changing();
        // Out of memory first: from here on no read decrypts with it, whatever the disk does.
        let held = self.keys_mut().remove(&name).is_some();
        let path = self.path_of(&name);
        let on_disk = path.exists();
        if on_disk {
            shred(&path).map_err(|e| {
                PrivacyError::Unavailable(format!("cannot destroy the key {}: {e}", path.display()))
            })?;
            sync_dir(&self.dir).map_err(|e| {
                PrivacyError::Unavailable(format!("cannot sync {}: {e}", self.dir.display()))
            })?;
        }
        Ok(held || on_disk)
    }
}

/// Writes `key` to `path` through a temporary file, durably.
///
/// A failed write (a full disk) removes the temporary file, shredded in case the key reached
/// it: left behind, it would hold a key that seals nothing, and the blocks a full disk lacks,
/// until the next start.
fn write_key(dir: &Path, path: &Path, key: &DataKey) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(TEMPORARY_SUFFIX);
    let temporary = PathBuf::from(temporary);
    let written = write_temporary(&temporary, key).and_then(|()| {
        fs::rename(&temporary, path)?;
        sync_dir(dir)
    });
    if written.is_err() && temporary.exists() && shred(&temporary).is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Writes `key` to the file `temporary`, created mode 0600, and syncs it.
fn write_temporary(temporary: &Path, key: &DataKey) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(temporary)?;
    let mut contents = zeroize::Zeroizing::new([0u8; KEY_FILE_LEN]);
    contents[0] = KEY_FILE_V1;
    contents[1..].copy_from_slice(key.bytes());
    file.write_all(&contents[..])?;
    file.sync_all()
}

/// Reads one key file. One that group or others may read is refused, as `SIGNING_KEY` is:
/// whoever can read a key can read what it sealed, and a forgotten contact's text could have
/// been copied from it.
fn read_key(path: &Path) -> Result<DataKey, PrivacyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|e| {
                PrivacyError::Unavailable(format!("cannot read the key {}: {e}", path.display()))
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(PrivacyError::Corrupt(format!(
                "the key file {} is readable by group or others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let contents = zeroize::Zeroizing::new(fs::read(path).map_err(|e| {
        PrivacyError::Unavailable(format!("cannot read the key {}: {e}", path.display()))
    })?);
    if contents.len() != KEY_FILE_LEN || contents[0] != KEY_FILE_V1 {
        return Err(PrivacyError::Corrupt(format!(
            "the key file {} is malformed ({} bytes)",
            path.display(),
            contents.len()
        )));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&contents[1..]);
    Ok(DataKey::from_bytes(key))
}

/// Overwrites the file at `path` with zeros, fsyncs it, and unlinks it (the caller fsyncs the
/// directory).
fn shred(path: &Path) -> io::Result<()> {
    let len = fs::metadata(path)?.len();
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(KEY_FILE_LEN)])?;
    file.sync_all()?;
    drop(file);
    fs::remove_file(path)
}

/// Makes the directory's entries (a rename, an unlink) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
