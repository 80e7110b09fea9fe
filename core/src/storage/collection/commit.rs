//! Committing a finished optimization job: an index added to a segment, or a rebuilt
//! segment replacing its sources.

use std::fs;
use std::sync::Arc;

use super::optimize::{rename_sub_files, Job, JobKind};
use super::{io, lock, Collection, Loc, SEGMENTS_DIR};
use crate::error::StorageError;
use crate::storage::checked::sync_dir;
use crate::storage::hnsw::{HnswGraph, HNSW_FILE};
use crate::storage::manifest::SegmentEntry;
use crate::storage::segment::{Bitset, Segment, SegmentData, SubGraph, SubGraphs};
use crate::storage::{read, write};

impl Collection {
    /// Swap a completed job's result in: persist it (a new segment directory or an index
    /// file, then the manifest), then replace the sources in memory. Writes that reached the
    /// sources while the job ran are carried over: a copied point that was deleted or
    /// superseded meanwhile is marked deleted in the new segment.
    pub(crate) fn commit(&self, job: Job) -> Result<(), StorageError> {
        debug_assert!(job.is_complete());
        let (kind, data, graph, subs) = job.finish();
        let committed = match kind {
            JobKind::Index { id } => self.commit_index(id, graph, subs),
            JobKind::Rebuild {
                id,
                sources,
                origin,
            } => self.commit_rebuild(id, &sources, &origin, data, graph, subs),
        };
        // A rebuilt segment needs its payload indexes.
        self.refresh_field_indexes();
        committed
    }

    fn commit_index(
        &self,
        id: u64,
        graph: Option<HnswGraph>,
        subs: SubGraphs,
    ) -> Result<(), StorageError> {
        let graph = graph.map(Arc::new);
        let mut committed = lock(&self.checkpoint);
        if self.is_closed() {
            return Ok(());
        }
        let mut stale = Vec::new();
        if let Some(dir) = &self.dir {
            let mut manifest = committed.clone();
            let Some(entry) = manifest.segments.iter_mut().find(|e| e.id == id) else {
                return Ok(());
            };
            let seg_dir = dir.join(SEGMENTS_DIR).join(id.to_string());
            if let Some(graph) = &graph {
                graph.write(&seg_dir.join(HNSW_FILE))?;
                entry.indexed = true;
            }
            // New sub-graph files never overwrite the committed ones: they take other names.
            let taken: Vec<String> = entry.sub_graphs.iter().map(|e| e.file.clone()).collect();
            let mut subs = subs;
            rename_sub_files(&mut subs, &taken);
            for sub in &subs.graphs {
                sub.graph.write(&seg_dir.join(&sub.file))?;
            }
            stale = taken;
            entry.sub_keys = subs.keys.clone();
            entry.sub_graphs = subs.entries();
            manifest.write(dir)?;
            *committed = manifest;
            for file in &stale {
                let _ = fs::remove_file(seg_dir.join(file));
            }
            let mut state = write(&self.state);
            if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
                if graph.is_some() {
                    segment.index = graph;
                }
                segment.sub_graphs = Arc::new(subs);
            }
            return Ok(());
        }
        stale.clear();
        let mut state = write(&self.state);
        if let Some(segment) = state.segments.iter_mut().find(|s| s.id == id) {
            if graph.is_some() {
                segment.index = graph;
            }
            segment.sub_graphs = Arc::new(subs);
        }
        Ok(())
    }

    fn commit_rebuild(
        &self,
        id: u64,
        sources: &[u64],
        origin: &[(u32, u32)],
        data: Arc<SegmentData>,
        graph: Option<HnswGraph>,
        subs: SubGraphs,
    ) -> Result<(), StorageError> {
        let seg_dir = self
            .dir
            .as_ref()
            .map(|dir| dir.join(SEGMENTS_DIR).join(id.to_string()));
        if let (Some(dir), Some(seg_dir)) = (&self.dir, &seg_dir) {
            if data.len() > 0 {
                let tmp = dir.join(SEGMENTS_DIR).join(format!("{id}.tmp"));
                if tmp.exists() {
                    fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
                }
                fs::create_dir_all(&tmp).map_err(io(&tmp))?;
                data.write_to(&tmp)?;
                if let Some(graph) = &graph {
                    graph.write(&tmp.join(HNSW_FILE))?;
                }
                for sub in &subs.graphs {
                    sub.graph.write(&tmp.join(&sub.file))?;
                }
                sync_dir(&tmp)?;
                fs::rename(&tmp, seg_dir).map_err(io(seg_dir))?;
                sync_dir(&dir.join(SEGMENTS_DIR))?;
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

        // Swap in memory, carrying over what changed while the job ran.
        let (new_deleted, position) = {
            let mut state = write(&self.state);
            let mut positions = Vec::with_capacity(sources.len());
            for source in sources {
                match state.segments.iter().position(|s| s.id == *source) {
                    Some(p) => positions.push(p as u32),
                    None => return abandon("a source is gone"),
                }
            }
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
            // Positions shift: the new segment takes the first source's place and the other
            // sources go; every location is remapped in one pass over the index.
            let first = positions.iter().copied().min().unwrap_or(0) as usize;
            let keep_new = data.len() > 0;
            let mut remap = Vec::with_capacity(state.segments.len());
            let mut next = 0u32;
            for p in 0..state.segments.len() as u32 {
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
                index: graph.map(Arc::new),
                fields: Arc::default(),
                sub_graphs: Arc::new(SubGraphs {
                    keys: subs.keys.clone(),
                    graphs: subs
                        .graphs
                        .iter()
                        .map(|g| SubGraph {
                            target: g.target.clone(),
                            file: g.file.clone(),
                            graph: g.graph.clone(),
                        })
                        .collect(),
                }),
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
            (any_deleted.then_some(deleted), new_position)
        };

        let Some(dir) = &self.dir else {
            return Ok(());
        };
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
                if let (Some(set), Some(seg_dir)) = (&new_deleted, &seg_dir) {
                    deleted_gen = 1;
                    set.write_to(seg_dir, deleted_gen)?;
                }
                manifest.segments.insert(
                    at.min(manifest.segments.len()),
                    SegmentEntry {
                        id,
                        points: data.len() as u64,
                        deleted_gen,
                        indexed: read(&self.state)
                            .segments
                            .get(position as usize)
                            .is_some_and(|s| s.index.is_some()),
                        sub_keys: subs.keys.clone(),
                        sub_graphs: subs.entries(),
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
        *committed = manifest;
        for source in sources {
            let old = dir.join(SEGMENTS_DIR).join(source.to_string());
            if let Err(e) = fs::remove_dir_all(&old) {
                log::warn!(
                    "could not remove {}: {e}; retried at next open",
                    old.display()
                );
            }
        }
        if self.on_disk() && data.len() > 0 {
            self.map_vectors(dir, id, &data)?;
        }
        Ok(())
    }
}
