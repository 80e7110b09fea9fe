//! Holding a collection still for a snapshot, and laying out a restored one.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use super::{io, lock, Collection, SEGMENTS_DIR, WAL_DIR};
use crate::error::StorageError;
use crate::storage::checked::sync_dir;
use crate::storage::hnsw::HNSW_FILE;
use crate::storage::manifest::Manifest;
use crate::storage::segment::{deleted_file, SEGMENT_FILES};

impl Collection {
    /// Checkpoint, then hold further checkpoints off until the returned guard is dropped, so
    /// that the files the committed manifest names stay as they are while a snapshot archives
    /// them. Writes go on meanwhile (into the log and the new appendable segment); the
    /// snapshot holds exactly the operations up to the checkpoint.
    pub(crate) fn freeze(&self) -> Result<Frozen<'_>, StorageError> {
        let dir = self.dir.as_deref().ok_or(StorageError::NotPersistent {
            operation: "a snapshot",
        })?;
        if let Some(reason) = &self.read_only {
            return Err(StorageError::ReadOnly {
                reason: reason.clone(),
            });
        }
        let mut committed = lock(&self.checkpoint);
        self.checkpoint_locked(dir, &mut committed)?;
        Ok(Frozen {
            manifest_file: committed.file_bytes()?,
            files: snapshot_files(dir, &committed),
            applied_op: committed.applied_op,
            _guard: committed,
        })
    }
}

/// A collection held still for a snapshot; see [`Collection::freeze`].
pub(crate) struct Frozen<'a> {
    /// The manifest file's bytes.
    pub(crate) manifest_file: Vec<u8>,
    /// The segment files, as (path relative to the collection directory, path on disk).
    pub(crate) files: Vec<(String, PathBuf)>,
    /// The last operation the snapshot holds.
    pub(crate) applied_op: u64,
    _guard: MutexGuard<'a, Manifest>,
}

/// The files a committed manifest names, as (path inside a snapshot, path on disk).
fn snapshot_files(dir: &Path, manifest: &Manifest) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for entry in &manifest.segments {
        let mut names: Vec<String> = SEGMENT_FILES.iter().map(|s| (*s).to_owned()).collect();
        if entry.deleted_gen > 0 {
            names.push(deleted_file(entry.deleted_gen));
        }
        if entry.indexed {
            names.push(HNSW_FILE.to_owned());
        }
        names.extend(entry.sub_graphs.iter().map(|e| e.file.clone()));
        for name in names {
            let relative = format!("{SEGMENTS_DIR}/{}/{name}", entry.id);
            files.push((
                relative,
                dir.join(SEGMENTS_DIR).join(entry.id.to_string()).join(name),
            ));
        }
    }
    files
}

/// Lay out the files of an extracted collection snapshot in `dir` as a collection directory.
pub(crate) fn finish_restored_dir(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir.join(WAL_DIR)).map_err(io(dir))?;
    fs::create_dir_all(dir.join(SEGMENTS_DIR)).map_err(io(dir))?;
    sync_dir(dir)
}
