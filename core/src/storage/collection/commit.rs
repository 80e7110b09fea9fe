//! Committing a finished optimization job: an index added to a segment, or a rebuilt
//! segment replacing its sources.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::optimize::{rename_index_files, Job, JobKind};
use super::{io, lock, Collection, Loc, State, SEGMENTS_DIR};
use crate::error::StorageError;
use crate::storage::checked::sync_dir;
use crate::storage::manifest::{Manifest, SegmentEntry};
use crate::storage::segment::{Bitset, IndexEntry, Indexes, Segment, SegmentData, Target};
use crate::storage::{read, write};

impl Collection {
    /// Swap a completed job's result in: persist it (a new segment directory or an index
    /// file, then the manifest), then replace the sources in memory. Writes that reached the
    /// sources while the job ran are carried over: a copied point that was deleted or
    /// superseded meanwhile is marked deleted in the new segment.
    pub(crate) fn commit(&self, job: Job) -> Result<(), StorageError> {
        debug_assert!(job.is_complete());
        let built_with = job.params;
        let (kind, data, built) = job.finish();
        let id = match &kind {
            JobKind::Index { id } | JobKind::Rebuild { id, .. } => *id,
        };
        let committed = match kind {
            JobKind::Index { id } => self.commit_index(id, built),
            JobKind::Rebuild {
                id,
                sources,
                origin,
            } => self.commit_rebuild(id, &sources, &origin, data, built),
        };
        // A rebuilt segment needs its payload indexes.
        self.refresh_field_indexes();
        if committed.is_ok() && built_with != self.collection_hnsw_params() {
            // `update_collection` changed the parameters while this job was built.
            self.mark_stale(id);
        }
        committed
    }

    /// Add the indexes an index job built to segment `id`: the graphs of whole spaces it
    /// already had stay, and its per-value graphs are replaced by the new ones. New files
    /// never overwrite committed ones (they take other names); the replaced files go once
    /// the manifest no longer names them.
    fn commit_index(&self, id: u64, built: Indexes) -> Result<(), StorageError> {
        let mut committed = lock(&self.checkpoint);
        if self.is_closed() {
            return Ok(());
        }
        let Some(current) = read(&self.state)
            .segments
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.indexes.clone())
        else {
            return Ok(());
        };
        let taken: Vec<String> = current.files().map(str::to_owned).collect();
        let mut indexes = built;
        rename_index_files(&mut indexes, &taken);
        let built_spaces: Vec<Target> = indexes
            .entries
            .iter()
            .filter(|e| matches!(e.target, Target::Space(_)))
            .map(|e| e.target.clone())
            .collect();
        let (kept, replaced): (Vec<IndexEntry>, Vec<IndexEntry>) =
            current.entries.iter().cloned().partition(|e| {
                matches!(e.target, Target::Space(_)) && !built_spaces.contains(&e.target)
            });
        indexes.entries.splice(0..0, kept);
        if let Some(dir) = &self.dir {
            let mut manifest = committed.clone();
            let Some(entry) = manifest.segments.iter_mut().find(|e| e.id == id) else {
                return Ok(());
            };
            let seg_dir = dir.join(SEGMENTS_DIR).join(id.to_string());
            for new in indexes.entries.iter().filter(|e| !taken.contains(&e.file)) {
                new.index.write(&seg_dir.join(&new.file))?;
            }
            entry.indexed = indexes.has_main_file();
            entry.sub_keys = indexes.keys.clone();
            entry.sub_graphs = indexes.manifest_entries();
            manifest.write(dir)?;
            *committed = manifest;
            for old in &replaced {
                let _ = fs::remove_file(seg_dir.join(&old.file));
            }
        }
        let mut state = write(&self.state);
        if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
            segment.indexes = Arc::new(indexes);
        }
        Ok(())
    }

    /// Replace the sources of a rebuild by the new segment `id`: write its directory, swap it
    /// in memory carrying over what changed while the job ran, commit the manifest, and drop
    /// the sources' directories. The rebuild is abandoned (its directory removed) if the
    /// collection closed or a source went away meanwhile.
    fn commit_rebuild(
        &self,
        id: u64,
        sources: &[u64],
        origin: &[(u32, u32)],
        data: Arc<SegmentData>,
        built: Indexes,
    ) -> Result<(), StorageError> {
        let seg_dir = self
            .dir
            .as_ref()
            .map(|dir| dir.join(SEGMENTS_DIR).join(id.to_string()));
        if let (Some(dir), Some(seg_dir)) = (&self.dir, &seg_dir) {
            if data.len() > 0 {
                write_rebuilt_dir(dir, id, seg_dir, &data, &built)?;
            }
        }
        let mut committed = lock(&self.checkpoint);
        let abandon = |why: &str| {
            log::debug!("rebuild of segments {sources:?} abandoned: {why}");
            if let Some(seg_dir) = &seg_dir {
                let _ = fs::remove_dir_all(seg_dir);
            }
            Ok(())
        };
        if self.is_closed() {
            return abandon("the collection is closed");
        }
        if self.dir.is_some()
            && !sources
                .iter()
                .all(|s| committed.segments.iter().any(|e| e.id == *s))
        {
            return abandon("a source is no longer committed");
        }
        let Some(new_deleted) = self.swap_rebuilt(id, sources, origin, &data, &built) else {
            return abandon("a source is gone");
        };

        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let rebuilt = Rebuilt {
            id,
            sources,
            data: &data,
            built: &built,
            new_deleted: new_deleted.as_ref(),
            seg_dir: seg_dir.as_deref(),
        };
        *committed = self.commit_rebuilt_manifest(dir, &committed, &rebuilt)?;
        remove_source_dirs(dir, sources);
        if self.on_disk() && data.len() > 0 {
            self.map_vectors(dir, id, &data)?;
        }
        Ok(())
    }

    /// Swap the rebuilt segment in memory in place of `sources`, carrying over what changed
    /// while the job ran: a copied point that was deleted or superseded meanwhile is marked
    /// deleted in the new segment. Returns those deletions (`None` if there are none); `None`
    /// when a source is gone.
    fn swap_rebuilt(
        &self,
        id: u64,
        sources: &[u64],
        origin: &[(u32, u32)],
        data: &Arc<SegmentData>,
        built: &Indexes,
    ) -> Option<Option<Bitset>> {
        let mut state = write(&self.state);
        let mut positions = Vec::with_capacity(sources.len());
        for source in sources {
            positions.push(state.segments.iter().position(|s| s.id == *source)? as u32);
        }
        let (deleted, live) = carried_over_deletions(&state, &positions, origin, data);
        let keep_new = data.len() > 0;
        let (remap, first) = remap_positions(state.segments.len(), &positions, keep_new);
        let new_position = if keep_new { remap[first] } else { u32::MAX };
        for loc in state.index.values_mut() {
            loc.segment = remap[loc.segment as usize];
        }
        for offset in 0..data.len() {
            if !deleted.contains(offset) {
                state.index.insert(
                    data.id(offset),
                    Loc {
                        segment: new_position,
                        offset: offset as u32,
                    },
                );
            }
        }
        let new_segment = keep_new.then(|| Segment {
            id,
            data: data.clone(),
            deleted: deleted.clone(),
            live,
            persisted: self.dir.is_some(),
            deleted_gen: 0,
            deleted_dirty: false,
            indexes: Arc::new(built.clone()),
            fields: Arc::default(),
        });
        let old = std::mem::take(&mut state.segments);
        let mut new_segment = new_segment;
        for (p, segment) in old.into_iter().enumerate() {
            if p == first {
                if let Some(s) = new_segment.take() {
                    state.segments.push(s);
                }
            } else if !positions.contains(&(p as u32)) {
                state.segments.push(segment);
            }
        }
        debug_assert!(state
            .index
            .values()
            .all(|l| (l.segment as usize) < state.segments.len()));
        let any_deleted = live < data.len();
        Some(any_deleted.then_some(deleted))
    }

    /// Write the manifest with the rebuilt segment in place of its sources, and record in
    /// memory whether its deletion set is committed; returns the manifest now on disk.
    fn commit_rebuilt_manifest(
        &self,
        dir: &Path,
        committed: &Manifest,
        rebuilt: &Rebuilt<'_>,
    ) -> Result<Manifest, StorageError> {
        let Rebuilt {
            id,
            sources,
            data,
            built,
            new_deleted,
            seg_dir,
        } = *rebuilt;
        // The manifest must hold the carried-over deletions itself: the log records behind
        // them may already be gone (a checkpoint during the job removes what it covered).
        let mut manifest = committed.clone();
        let at = manifest
            .segments
            .iter()
            .position(|e| sources.contains(&e.id))
            .unwrap_or(manifest.segments.len());
        manifest.segments.retain(|e| !sources.contains(&e.id));
        let mut deleted_gen = 0;
        let written = (|| {
            if data.len() > 0 {
                if let (Some(set), Some(seg_dir)) = (new_deleted, seg_dir) {
                    deleted_gen = 1;
                    set.write_to(seg_dir, deleted_gen)?;
                }
                manifest.segments.insert(
                    at.min(manifest.segments.len()),
                    SegmentEntry {
                        id,
                        points: data.len() as u64,
                        deleted_gen,
                        indexed: built.has_main_file(),
                        sub_keys: built.keys.clone(),
                        sub_graphs: built.manifest_entries(),
                    },
                );
            }
            manifest.next_segment_id = manifest.next_segment_id.max(id + 1);
            manifest.write(dir)
        })();
        {
            let mut state = write(&self.state);
            if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
                if written.is_ok() {
                    segment.deleted_gen = deleted_gen;
                } else {
                    // Not committed: the next checkpoint writes the set and the manifest.
                    segment.deleted_dirty = true;
                }
            }
        }
        written?;
        Ok(manifest)
    }
}

/// A rebuilt segment, swapped in memory, on its way into the manifest.
struct Rebuilt<'a> {
    id: u64,
    sources: &'a [u64],
    data: &'a SegmentData,
    built: &'a Indexes,
    /// Points copied into the new segment and deleted or superseded since.
    new_deleted: Option<&'a Bitset>,
    /// The new segment's directory.
    seg_dir: Option<&'a Path>,
}

/// Write the directory of the rebuilt segment `id` (vectors, points, payloads and graphs)
/// into `segments/<id>.tmp`, then rename it to `seg_dir`, synced.
fn write_rebuilt_dir(
    dir: &Path,
    id: u64,
    seg_dir: &Path,
    data: &SegmentData,
    built: &Indexes,
) -> Result<(), StorageError> {
    let tmp = dir.join(SEGMENTS_DIR).join(format!("{id}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    data.write_to(&tmp)?;
    built.write_all(&tmp)?;
    sync_dir(&tmp)?;
    fs::rename(&tmp, seg_dir).map_err(io(seg_dir))?;
    sync_dir(&dir.join(SEGMENTS_DIR))
}

/// Which copied points of a rebuild are still the live version: new offset `o` (copied from
/// `origin[o]`, as source index and offset there) is live if the index still points at
/// where it was copied from; every other one is marked deleted. Returns the deletions and
/// the number of live points.
fn carried_over_deletions(
    state: &State,
    positions: &[u32],
    origin: &[(u32, u32)],
    data: &SegmentData,
) -> (Bitset, usize) {
    let mut deleted = Bitset::default();
    deleted.grow(data.len());
    let mut live = 0;
    for (offset, &(k, from)) in origin.iter().enumerate() {
        let here = Loc {
            segment: positions[k as usize],
            offset: from,
        };
        if state.index.get(&data.id(offset)) == Some(&here) {
            live += 1;
        } else {
            deleted.insert(offset);
        }
    }
    (deleted, live)
}

/// Positions shift when a rebuild commits: the new segment takes the first source's place
/// (if `keep_new`) and the other sources go. Returns the new position of every old one
/// (`u32::MAX` for a source) and the first source's old position.
fn remap_positions(segments: usize, positions: &[u32], keep_new: bool) -> (Vec<u32>, usize) {
    let first = positions.iter().copied().min().unwrap_or(0) as usize;
    let mut remap = Vec::with_capacity(segments);
    let mut next = 0u32;
    for p in 0..segments as u32 {
        if p as usize == first && keep_new {
            remap.push(next);
            next += 1;
        } else if positions.contains(&p) {
            remap.push(u32::MAX);
        } else {
            remap.push(next);
            next += 1;
        }
    }
    (remap, first)
}

/// Remove the directories of a rebuild's sources once the manifest no longer names them.
fn remove_source_dirs(dir: &Path, sources: &[u64]) {
    for source in sources {
        let old = dir.join(SEGMENTS_DIR).join(source.to_string());
        if let Err(e) = fs::remove_dir_all(&old) {
            log::warn!(
                "could not remove {}: {e}; retried at next open",
                old.display()
            );
        }
    }
}
