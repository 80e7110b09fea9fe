//! The data directory lock: one instance at a time may open a directory.
//!
//! An advisory lock (`flock` on Unix, `LockFileEx` on Windows) on `<data>/rro.lock`, held for
//! as long as the instance's [`TableOfContent`](super::TableOfContent) lives. The operating
//! system releases it when the process dies however it dies, so a killed process never leaves
//! a stale lock behind. Locks belong to the open file, so a second open from the same process
//! conflicts too.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::StorageError;

/// File name of the lock inside the data directory.
pub(crate) const LOCK_FILE: &str = "rro.lock";

/// Holds the lock on a data directory until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Lock `dir` (which must exist), or fail with `AlreadyOpen` if another instance holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StorageError::io(&path, &e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StorageError::AlreadyOpen {
                path: dir.display().to_string(),
            }),
            Err(TryLockError::Error(e)) => Err(StorageError::io(&path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(dir.path().join(LOCK_FILE).is_file());
        match DirLock::acquire(dir.path()) {
            Err(StorageError::AlreadyOpen { path }) => {
                assert_eq!(path, dir.path().display().to_string())
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
