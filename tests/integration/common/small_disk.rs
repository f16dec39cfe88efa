//! A small real filesystem for one test, to fill up: an ext4 image loop-mounted under a temp
//! dir, unmounted when dropped.
//!
//! ext4 on a loop device rather than a size-limited tmpfs: tmpfs keeps its files in memory, so
//! its `fdatasync` writes nothing and it has no block allocator, journal or delayed allocation,
//! which are what decide where a full disk fails a write (at `write`, when ext4 reserves the
//! blocks, or at the sync). On ext4 the server's record files, index runs, sled database and
//! key files meet the allocator a production disk has.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted ext4 filesystem of a few MiB (see the module docs).
pub struct SmallDisk {
    /// Where it is mounted.
    root: PathBuf,
    /// Holds the image file and the mount point; removed after the unmount.
    _dir: tempfile::TempDir,
}

/// Runs `program` with `args`, and fails the test, saying `why`, unless it succeeds.
fn run(program: &str, args: &[&std::ffi::OsStr], why: &str) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{why}: cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{why}: {program} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl SmallDisk {
    /// Makes and mounts an ext4 filesystem of `bytes`. Mounting needs root (CI runs the tests
    /// as root); without it the test fails saying so, since a skipped test proves nothing.
    pub fn mount(bytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let root = dir.path().join("mnt");
        std::fs::create_dir(&root).unwrap();
        File::create(&image).unwrap().set_len(bytes).unwrap();
        // No blocks reserved for root: the server runs as root here and would use them, so
        // the filler would not fill the disk for it.
        run(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-m".as_ref(),
                "0".as_ref(),
                image.as_os_str(),
            ],
            "the full-disk tests need mkfs.ext4 to make a small filesystem",
        );
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                root.as_os_str(),
            ],
            "the full-disk tests need to loop-mount a small ext4 filesystem, which takes root \
             (CI runs them as root)",
        );
        SmallDisk { root, _dir: dir }
    }

    /// The root of the mounted filesystem.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Fills the filesystem with a file, `filler` in its root, leaving about `room` bytes
    /// free: writes until the disk is full, then gives `room` back. Returns the filler's path,
    /// to delete to free the space.
    pub fn fill(&self, room: u64) -> PathBuf {
        let path = self.root.join("filler");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let chunks = [64 * 1024, 1024];
        // ext4 reserves blocks for the metadata of a write it has not yet allocated, and
        // returns what it did not need once the data is synced: the disk is full only when a
        // write after a sync finds no room at all.
        loop {
            let before = file.metadata().unwrap().len();
            for chunk in chunks {
                let chunk = vec![0x5a_u8; chunk];
                while file.write_all(&chunk).is_ok() {}
            }
            // The last write may have failed after writing part of its chunk.
            let _ = file.sync_all();
            if file.metadata().unwrap().len() == before {
                break;
            }
        }
        let full = file.metadata().unwrap().len();
        file.set_len(full.saturating_sub(room)).unwrap();
        file.sync_all().unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // A server killed as the test failed may still hold files open for a moment: then the
        // mount is detached at once and released when they close.
        let unmounted = Command::new("umount").arg(&self.root).status();
        if !matches!(unmounted, Ok(status) if status.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.root).status();
        }
    }
}
