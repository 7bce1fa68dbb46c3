//! Files open for writing: spooled to a local file under the cache dir, uploaded on
//! `flush`/`fsync` when changed, removed on release.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::api::model::Node;

/// A counter that names spool files uniquely within the process.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One file open for writing.
#[derive(Debug)]
pub struct Spool {
    /// The local copy.
    pub file: File,
    /// Its path.
    pub path: PathBuf,
    /// Written since the last upload.
    pub dirty: bool,
    /// The folder it is uploaded into.
    pub parent: String,
    /// Its remote (encoded) name.
    pub name: String,
    /// The node it overwrites, once there is one.
    pub existing: Option<Node>,
    /// Kept after a failed upload: not removed when dropped.
    kept: bool,
}

impl Spool {
    /// A new empty spool file in `dir`.
    pub fn create(
        dir: &std::path::Path,
        parent: String,
        name: String,
        existing: Option<Node>,
    ) -> std::io::Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("spool-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(Self {
            file,
            path,
            dirty: false,
            parent,
            name,
            existing,
            kept: false,
        })
    }

    /// Reopen the spool after its content was replaced on disk (a fetched existing file).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)?;
        Ok(())
    }

    /// Write `data` at `offset`.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(data, offset)?;
        self.dirty = true;
        Ok(())
    }

    /// Read up to `size` bytes at `offset`.
    pub fn read_at(&self, offset: u64, size: u32) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; size as usize];
        let mut got = 0;
        while got < buf.len() {
            let n = self.file.read_at(&mut buf[got..], offset + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Set the length.
    pub fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.dirty = true;
        Ok(())
    }

    /// The current length.
    pub fn len(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the spool holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Spool {
    /// Keep what was written after an upload failed: the spool is renamed to
    /// `unsent-<pid>-<n>-<name>` beside it and survives the mount. Returns the new path.
    pub fn keep(&mut self) -> std::io::Result<PathBuf> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let safe: String = self
            .name
            .chars()
            .map(|c| if c == '/' || c.is_control() { '_' } else { c })
            .collect();
        let kept = self
            .path
            .with_file_name(format!("unsent-{}-{n}-{safe}", std::process::id()));
        std::fs::rename(&self.path, &kept)?;
        self.path = kept.clone();
        self.kept = true;
        Ok(kept)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
