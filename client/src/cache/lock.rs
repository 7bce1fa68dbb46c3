//! The writer lock shared by every `acd` process using one cache file: an exclusive lock on
//! a file beside it (`flock`, released when the process ends, even by a crash). SQLite already
//! serializes single transactions; this lock makes a whole sync, and a rebuild, one writer's
//! job, so two processes never both pull the same part of the feed.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// The lock file of a cache file.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl WriterLock {
    /// Wait for the lock (blocking: call it off the async threads for long waits).
    pub fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        file.lock()
            .map_err(|e| Error::io(format!("lock {}", path.display()), e))?;
        Ok(Self { _file: file })
    }

    /// Wait for the lock without blocking the async runtime.
    pub async fn acquire_async(path: PathBuf) -> Result<Self> {
        tokio::task::spawn_blocking(move || Self::acquire(&path))
            .await
            .map_err(|e| Error::Usage(format!("cache lock task failed: {e}")))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.lock");
        let first = WriterLock::acquire(&path).unwrap();
        let other = File::options().write(true).open(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(first);
        other.try_lock().unwrap();
    }
}
