//! `MANIFEST`: what the data dir knew of its log when it was last opened or closed, kept
//! outside sled.
//!
//! sled recovers a damaged database by keeping the longest prefix that checks, and opens a
//! missing or garbled one as a new, empty database. For a cache that is right; for the system
//! of record it would mean starting on an empty or shortened log without a word. The manifest
//! is the outside witness that stops that:
//!
//! - a dir whose manifest exists holds a log, so an empty database there is refused;
//! - at a clean close the manifest records the head (position and hash); the next open must
//!   find exactly that head, or it refuses the dir, because records were lost or changed while
//!   the log was closed;
//! - while the log is open the manifest says so, and after a crash (`kill -9`, power loss) the
//!   head is the end of the last whole append in the record file: a prefix of what was
//!   written, holding every acknowledged append, since acknowledgement waits for the fsync.
//!
//! The file is replaced atomically (write a temporary file, fsync, rename, fsync the dir).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::ChainHash;
use crate::store::LogHead;

/// The manifest's file name in a data dir.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// The manifest's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// The manifest's own format.
    pub(super) format: u8,
    /// `None` while a server has the log open (or crashed with it open); the head at a clean
    /// close otherwise.
    pub(super) closed_at: Option<ClosedHead>,
}

/// The head of the log at a clean close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ClosedHead {
    /// The number of records.
    pub(super) next_position: u64,
    /// The hash of the last record, hex.
    #[serde(with = "hex_hash")]
    pub(super) last_hash: ChainHash,
}

impl From<LogHead> for ClosedHead {
    fn from(head: LogHead) -> Self {
        ClosedHead {
            next_position: head.next_position,
            last_hash: head.last_hash,
        }
    }
}

impl Manifest {
    /// The manifest of an open log.
    pub(super) fn open() -> Self {
        Manifest {
            format: 1,
            closed_at: None,
        }
    }

    /// The manifest of a log closed at `head`.
    pub(super) fn closed(head: LogHead) -> Self {
        Manifest {
            format: 1,
            closed_at: Some(head.into()),
        }
    }

    /// Reads the manifest of `dir`; `Ok(None)` when there is none.
    pub(super) fn read(dir: &Path) -> Result<Option<Manifest>, String> {
        match fs::read(dir.join(MANIFEST_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("its {MANIFEST_FILE} does not parse: {e}")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("its {MANIFEST_FILE} cannot be read: {e}")),
        }
    }

    /// Refuses a database that is empty (`is_empty`) although this manifest says the dir
    /// holds a log.
    pub(super) fn check_not_empty(&self, is_empty: bool) -> Result<(), String> {
        if self.format != 1 {
            return Err(format!(
                "its {MANIFEST_FILE} has format {}, not 1",
                self.format
            ));
        }
        if is_empty {
            return Err(format!(
                "its {MANIFEST_FILE} says it holds a log, but the database is missing or empty; \
                 restore the dir from a backup, or move it away to start a new log"
            ));
        }
        Ok(())
    }

    /// Refuses a recovered `head` other than the one recorded at a clean close.
    pub(super) fn check_head(&self, head: LogHead) -> Result<(), String> {
        match self.closed_at {
            Some(closed) if closed != ClosedHead::from(head) => Err(format!(
                "the log was closed with {} records (last hash {}), but now holds {} (last hash \
                 {}): records were lost or changed while it was closed",
                closed.next_position,
                closed.last_hash.to_hex(),
                head.next_position,
                head.last_hash.to_hex()
            )),
            _ => Ok(()),
        }
    }

    /// Replaces the manifest of `dir` durably.
    pub(super) fn write(&self, dir: &Path) -> io::Result<()> {
        let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut file = File::create(&temporary)?;
        file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
        file.sync_all()?;
        fs::rename(&temporary, dir.join(MANIFEST_FILE))?;
        super::sync_dir(dir)
    }
}

/// A [`ChainHash`] as hex in the manifest, readable by an operator.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::ChainHash;

    pub fn serialize<S: Serializer>(hash: &ChainHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hash.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChainHash, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a hash is 32 bytes"))?;
        Ok(ChainHash(bytes))
    }
}
