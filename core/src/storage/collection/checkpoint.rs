//! Checkpoints: seal the appendable segment, write it and the changed deletion sets, commit
//! the manifest, and drop the log the manifest now covers.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::{io, lock, Collection, SEGMENTS_DIR};
use crate::error::StorageError;
use crate::storage::checked::sync_dir;
use crate::storage::manifest::{Manifest, SegmentEntry};
use crate::storage::segment::{deleted_file, Bitset, Segment, SegmentData};
use crate::storage::write;

impl Collection {
    /// Whether the log has grown past the checkpoint threshold.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        let Some(options) = &self.options else {
            return false;
        };
        lock(&self.writer).wal.as_ref().is_some_and(|w| {
            !w.is_read_only() && w.bytes_since_rotate() >= options.checkpoint_bytes
        })
    }

    /// Persist every acknowledged write into segments and truncate the log; returns the
    /// manifest now on disk. A no-op in memory, or when nothing changed.
    pub(crate) fn checkpoint(&self) -> Result<(), StorageError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.read_only.is_some() {
            return Ok(());
        }
        let mut committed = lock(&self.checkpoint);
        self.checkpoint_locked(dir, &mut committed)
    }

    pub(super) fn checkpoint_locked(
        &self,
        dir: &Path,
        committed: &mut Manifest,
    ) -> Result<(), StorageError> {
        // 1. Under the writers' and the state lock, briefly: seal the appendable segment, take
        //    what must be written, and start a new log file for the writes that follow.
        let (manifest, to_write, deletions) = {
            let mut writer = lock(&self.writer);
            let mut state = write(&self.state);
            let applied = writer.next_op - 1;
            let appendable_empty = state.segments.last().is_none_or(|s| s.data.len() == 0);
            let deletions_changed = state.segments.iter().any(|s| s.deleted_dirty);
            if appendable_empty && !deletions_changed && applied == committed.applied_op {
                return Ok(());
            }
            if !appendable_empty {
                let id = state.next_segment_id;
                state.next_segment_id += 1;
                state.segments.push(Segment::appendable(id, self.dim));
            }
            let sealed = state.segments.len() - 1;
            let mut to_write = Vec::new();
            let mut deletions = Vec::new();
            let mut entries = Vec::with_capacity(sealed);
            for segment in &mut state.segments[..sealed] {
                if !segment.persisted {
                    to_write.push((segment.id, segment.data.clone()));
                }
                let mut gen = segment.deleted_gen;
                if segment.deleted_dirty {
                    gen += 1;
                    let mut set = segment.deleted.clone();
                    set.grow(segment.data.len());
                    deletions.push((segment.id, set, gen));
                    segment.deleted_dirty = false;
                }
                entries.push(SegmentEntry {
                    id: segment.id,
                    points: segment.data.len() as u64,
                    deleted_gen: gen,
                    indexed: segment.indexes.has_main_file(),
                    sub_keys: segment.indexes.keys.clone(),
                    sub_graphs: segment.indexes.manifest_entries(),
                });
            }
            let settings = self.settings();
            let manifest = Manifest {
                params: self.config.clone(),
                hnsw_config: settings.hnsw,
                optimizers_config: settings.optimizers,
                cluster: settings.cluster,
                strict_mode_config: settings.strict_mode,
                stale_indexes: settings
                    .stale_indexes
                    .into_iter()
                    .filter(|id| entries.iter().any(|e| e.id == *id))
                    .collect(),
                wal_config: self.wal_config,
                applied_op: applied,
                next_segment_id: state.next_segment_id,
                segments: entries,
                payload_schema: committed.payload_schema.clone(),
            };
            drop(state);
            if let Some(wal) = writer.wal.as_mut() {
                if wal.bytes_since_rotate() > 0 {
                    wal.rotate(applied + 1)?;
                }
            }
            (manifest, to_write, deletions)
        };

        // 2. Without blocking readers or writers: write the files and commit the manifest.
        let written = self.write_checkpoint_files(dir, &manifest, &to_write, &deletions);
        let mut state = write(&self.state);
        for segment in &mut state.segments {
            if let Some((_, _, gen)) = deletions.iter().find(|(id, _, _)| *id == segment.id) {
                if written.is_ok() {
                    segment.deleted_gen = *gen;
                } else {
                    // Not committed: the next checkpoint must write this set again.
                    segment.deleted_dirty = true;
                }
            }
            if written.is_ok() && to_write.iter().any(|(id, _)| *id == segment.id) {
                segment.persisted = true;
            }
        }
        drop(state);
        written?;

        // 3. Committed: drop what the manifest no longer needs.
        for (id, _, gen) in &deletions {
            let seg_dir = dir.join(SEGMENTS_DIR).join(id.to_string());
            remove_stale_deletion_files(&seg_dir, *gen);
        }
        if let Some(wal) = lock(&self.writer).wal.as_mut() {
            wal.remove_up_to(manifest.applied_op)?;
        }
        *committed = manifest;
        if self.on_disk() {
            for (id, data) in &to_write {
                self.map_vectors(dir, *id, data)?;
            }
        }
        self.refresh_field_indexes();
        Ok(())
    }

    /// Whether sealed segments keep their vectors memory-mapped instead of in RAM.
    pub(super) fn on_disk(&self) -> bool {
        self.dir.is_some() && self.spaces.on_disk()
    }

    /// Swap segment `id`'s in-RAM vectors (`data`, just written to its directory) for a
    /// mapping of its file, releasing the RAM. Searches holding the old data finish on it.
    pub(super) fn map_vectors(
        &self,
        dir: &Path,
        id: u64,
        data: &Arc<SegmentData>,
    ) -> Result<(), StorageError> {
        let mapped = data.with_mapped_vectors(&dir.join(SEGMENTS_DIR).join(id.to_string()))?;
        let mut state = write(&self.state);
        if let Some(segment) = state
            .segments
            .iter_mut()
            .find(|s| s.id == id && Arc::ptr_eq(&s.data, data))
        {
            segment.data = Arc::new(mapped);
        }
        Ok(())
    }

    fn write_checkpoint_files(
        &self,
        dir: &Path,
        manifest: &Manifest,
        to_write: &[(u64, std::sync::Arc<SegmentData>)],
        deletions: &[(u64, Bitset, u64)],
    ) -> Result<(), StorageError> {
        let segments_dir = dir.join(SEGMENTS_DIR);
        for (id, data) in to_write {
            let tmp = segments_dir.join(format!("{id}.tmp"));
            if tmp.exists() {
                fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
            }
            fs::create_dir_all(&tmp).map_err(io(&tmp))?;
            data.write_to(&tmp)?;
            sync_dir(&tmp)?;
            let target = segments_dir.join(id.to_string());
            fs::rename(&tmp, &target).map_err(io(&target))?;
        }
        sync_dir(&segments_dir)?;
        for (id, set, gen) in deletions {
            set.write_to(&segments_dir.join(id.to_string()), *gen)?;
        }
        manifest.write(dir)
    }
}

/// Remove deletion files of a segment other than generation `keep`. Best effort: a leftover
/// only costs space and is removed at the next open.
pub(super) fn remove_stale_deletion_files(seg_dir: &Path, keep: u64) {
    let Ok(entries) = fs::read_dir(seg_dir) else {
        return;
    };
    let keep = deleted_file(keep);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name != keep
            && ((name.starts_with("deleted-") && name.ends_with(".bin")) || name.ends_with(".tmp"));
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}
