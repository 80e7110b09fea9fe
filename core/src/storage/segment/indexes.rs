//! The vector indexes of a segment, behind one seam: how a segment finds the nearest vectors
//! of one space.
//!
//! Every vector space of a collection is searched the same way, the unnamed vector being the
//! space `""`. For each space a segment has one [`VectorIndex`] ([`Indexes::space`]), and
//! possibly per-value indexes ([`Indexes::value`]): an index over the points of the space
//! whose payload holds one value of a keyword, integer or bool field, which a filter that
//! requires that value walks instead of the whole space's. Which index a search uses, and
//! whether it uses one at all, is the planner's choice (`search.rs`); the index only answers.
//!
//! ## Adding an index kind
//! 1. A variant of [`VectorIndex`], with its arms of [`VectorIndex::search`],
//!    [`VectorIndex::write`], [`VectorIndex::load`] and [`VectorIndex::resident_bytes`].
//! 2. Its build in `collection/optimize.rs` (a `GraphBuild` produces the entries the
//!    optimizer commits) and, if it changes what the planner should prefer, a line in
//!    `search.rs`.
//! 3. Its entries persist through the manifest as below; a new kind needs a way to tell its
//!    file apart on load (a new manifest field, defaulted for old manifests).
//!
//! ## On disk
//! Indexes are files of the segment's directory, named by the collection manifest's
//! [`SegmentEntry`](crate::storage::manifest::SegmentEntry):
//! - the unnamed space's graph is `hnsw.bin`, present when the entry says `indexed`;
//! - every other graph is an entry of `sub_graphs`: with an empty `key`, the graph of the
//!   named space `space`; with a `key`, the graph of the points of space `space` (absent:
//!   the unnamed space) whose `key` holds `value`.
//!
//! Indexes are derived data: a file that fails to load is logged and left out, and the
//! optimizer builds it again (the segment is searched without it meanwhile).

use std::path::Path;
use std::sync::Arc;

use crate::error::StorageError;
use crate::models::MatchValue;
use crate::storage::distance::graph_distance;
use crate::storage::hnsw::{HnswGraph, HNSW_FILE};
use crate::storage::manifest::{SegmentEntry, SubGraphEntry};
use crate::storage::space::{Space, Spaces};

/// How often, in scored rows, an exact scan asks whether to stop.
const STOP_CHECK_ROWS: usize = 4096;

/// How a segment finds the nearest vectors of one space (or of one value's points in it).
#[derive(Debug, Clone)]
pub(crate) enum VectorIndex {
    /// No index: every candidate is scored exactly. What a space has before the optimizer
    /// indexed it, and what the planner asks for when a graph would visit more points than
    /// an exact scan.
    Plain,
    /// An HNSW graph over the space's points (or a subset of them).
    Hnsw(Arc<HnswGraph>),
}

/// The answer to a search while it lasts, or that the caller asked it to stop.
pub(crate) type Flow = Result<(), Stopped>;

/// A search stopped because its caller gave up; whatever it found is to be discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

/// Where one space's vectors are and what is asked of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpaceQuery<'a> {
    /// The segment's rows, `stride` f32 each.
    pub(crate) rows: &'a [f32],
    /// The width of a row (all the collection's spaces side by side).
    pub(crate) stride: usize,
    /// The space searched: its block of each row and its distance.
    pub(crate) space: &'a Space,
    /// Whether a row may lack this space's vector (named spaces are optional per point).
    pub(crate) may_be_absent: bool,
    /// The query, `space.dim` components, prepared for the space's distance.
    pub(crate) query: &'a [f32],
    /// How many results are wanted.
    pub(crate) wanted: usize,
    /// The beam width of a graph walk.
    pub(crate) ef: usize,
}

impl SpaceQuery<'_> {
    /// Score `offsets` exactly, feeding `found` the graph distance of each accepted one that
    /// has a vector in the space.
    pub(crate) fn score(
        &self,
        offsets: impl Iterator<Item = u32>,
        accept: &impl Fn(u32) -> bool,
        stop: &dyn Fn() -> bool,
        found: &mut impl FnMut(f32, u32),
    ) -> Flow {
        let metric = graph_distance(self.space.distance());
        for (k, offset) in offsets.enumerate() {
            if (k + 1).is_multiple_of(STOP_CHECK_ROWS) && stop() {
                return Err(Stopped);
            }
            let start = offset as usize * self.stride;
            let Some(row) = self.rows.get(start..start + self.stride) else {
                continue;
            };
            if (self.may_be_absent && !self.space.present(row)) || !accept(offset) {
                continue;
            }
            found(metric(self.query, self.space.of(row)), offset);
        }
        Ok(())
    }

    /// [`score`](Self::score) every row in order: the exact scan, in one pass over the rows.
    fn scan(
        &self,
        accept: &impl Fn(u32) -> bool,
        stop: &dyn Fn() -> bool,
        found: &mut impl FnMut(f32, u32),
    ) -> Flow {
        let metric = graph_distance(self.space.distance());
        let (column, dim) = (self.space.column, self.space.dim);
        for (offset, row) in self.rows.chunks_exact(self.stride.max(1)).enumerate() {
            if (offset + 1).is_multiple_of(STOP_CHECK_ROWS) && stop() {
                return Err(Stopped);
            }
            let offset = offset as u32;
            if (self.may_be_absent && !self.space.present(row)) || !accept(offset) {
                continue;
            }
            if let Some(vector) = row.get(column..column + dim) {
                found(metric(self.query, vector), offset);
            }
        }
        Ok(())
    }
}

impl VectorIndex {
    /// Feed `found` candidates for the `q.wanted` nearest accepted vectors, as (graph
    /// distance, offset): every accepted one for `Plain`, the best the walk finds for a graph.
    /// `stop` is asked now and then; a stopped search returns [`Stopped`].
    pub(crate) fn search(
        &self,
        q: &SpaceQuery<'_>,
        accept: &impl Fn(u32) -> bool,
        stop: &dyn Fn() -> bool,
        found: &mut impl FnMut(f32, u32),
    ) -> Flow {
        match self {
            VectorIndex::Plain => q.scan(accept, stop, found),
            VectorIndex::Hnsw(graph) => {
                let hits =
                    graph.search_until(q.rows, q.space.dim, q.query, q.wanted, q.ef, accept, stop);
                if stop() {
                    return Err(Stopped);
                }
                for (d, offset) in hits {
                    found(d, offset);
                }
                Ok(())
            }
        }
    }

    /// Whether a search walks a structure rather than scoring every candidate.
    pub(crate) fn is_graph(&self) -> bool {
        matches!(self, VectorIndex::Hnsw(_))
    }

    /// The index's own memory (not the vectors it points into), in bytes.
    pub(crate) fn resident_bytes(&self) -> usize {
        match self {
            VectorIndex::Plain => 0,
            VectorIndex::Hnsw(graph) => graph.links_bytes(),
        }
    }

    /// Write the index to `path` (a `Plain` index has nothing to write).
    pub(crate) fn write(&self, path: &Path) -> Result<(), StorageError> {
        match self {
            VectorIndex::Plain => Ok(()),
            VectorIndex::Hnsw(graph) => graph.write(path),
        }
    }

    /// Load a graph written by [`write`](Self::write) for a segment of `len` offsets, whose
    /// vectors are `space`'s block of rows `stride` wide. `subset` says whether the graph
    /// must cover a subset of the offsets (every graph but the unnamed space's does).
    pub(crate) fn load(
        path: &Path,
        len: usize,
        space: &Space,
        stride: usize,
        subset: bool,
    ) -> Result<VectorIndex, StorageError> {
        let graph = HnswGraph::load(path, len, space.distance())?;
        if graph.offsets().is_some() != subset {
            return Err(StorageError::corrupted(
                path,
                0,
                format!(
                    "expected a graph over {} offsets",
                    if subset { "some" } else { "all" }
                ),
            ));
        }
        Ok(VectorIndex::Hnsw(Arc::new(
            graph.with_layout(stride, space.column),
        )))
    }

    /// How many live offsets the index covers, given the segment's deletions.
    fn live_nodes(&self, is_deleted: &dyn Fn(usize) -> bool, live: usize) -> u64 {
        match self {
            VectorIndex::Plain => 0,
            VectorIndex::Hnsw(graph) => match graph.offsets() {
                None => live as u64,
                Some(offsets) => {
                    offsets.iter().filter(|&&o| !is_deleted(o as usize)).count() as u64
                }
            },
        }
    }
}

/// The answer of [`Indexes::space`] for a space with no index.
static PLAIN: VectorIndex = VectorIndex::Plain;

/// What points an index covers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// Every point that has a vector in this space (`""`: the unnamed vector).
    Space(String),
    /// The points of `space` whose `key` holds `value`.
    Value {
        space: String,
        key: String,
        value: MatchValue,
    },
}

/// One built index of a segment.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntry {
    /// What it covers.
    pub(crate) target: Target,
    /// Its file in the segment's directory.
    pub(crate) file: String,
    /// The index.
    pub(crate) index: VectorIndex,
}

/// Every vector index of a segment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Indexes {
    /// The payload keys the per-value indexes were built for (a key whose values are all
    /// small has none); the optimizer builds them again when the schema's keys change.
    pub(crate) keys: Vec<String>,
    /// The built indexes.
    pub(crate) entries: Vec<IndexEntry>,
}

impl Indexes {
    /// The index of space `name`: [`VectorIndex::Plain`] until one is built.
    pub(crate) fn space(&self, name: &str) -> &VectorIndex {
        self.entries
            .iter()
            .find(|e| matches!(&e.target, Target::Space(n) if n == name))
            .map_or(&PLAIN, |e| &e.index)
    }

    /// Whether space `name` has a built index.
    pub(crate) fn has_space(&self, name: &str) -> bool {
        self.space(name).is_graph()
    }

    /// The index over the points of space `space` whose `key` holds `value`, if one was built.
    pub(crate) fn value(&self, space: &str, key: &str, value: &MatchValue) -> Option<&VectorIndex> {
        self.entries
            .iter()
            .find(|e| {
                matches!(&e.target, Target::Value { space: s, key: k, value: v }
                    if s == space && k == key && v == value)
            })
            .map(|e| &e.index)
    }

    /// Memory taken by every index, in bytes.
    pub(crate) fn resident_bytes(&self) -> usize {
        self.entries.iter().map(|e| e.index.resident_bytes()).sum()
    }

    /// Live vectors in the indexes of whole spaces, summed over the spaces.
    pub(crate) fn indexed_vectors(&self, is_deleted: &dyn Fn(usize) -> bool, live: usize) -> u64 {
        self.entries
            .iter()
            .filter(|e| matches!(e.target, Target::Space(_)))
            .map(|e| e.index.live_nodes(is_deleted, live))
            .sum()
    }

    /// The file names of the indexes.
    pub(crate) fn files(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.file.as_str())
    }

    /// Write every index into `dir`.
    pub(crate) fn write_all(&self, dir: &Path) -> Result<(), StorageError> {
        self.entries
            .iter()
            .try_for_each(|e| e.index.write(&dir.join(&e.file)))
    }

    /// Whether the unnamed space's graph (`hnsw.bin`) is among them.
    pub(crate) fn has_main_file(&self) -> bool {
        self.files().any(|f| f == HNSW_FILE)
    }

    /// Their manifest entries (all but `hnsw.bin`, which the entry's `indexed` stands for).
    pub(crate) fn manifest_entries(&self) -> Vec<SubGraphEntry> {
        self.entries
            .iter()
            .filter(|e| e.file != HNSW_FILE)
            .map(|e| match &e.target {
                Target::Space(name) => SubGraphEntry {
                    key: String::new(),
                    value: serde_json::Value::Null,
                    space: Some(name.clone()),
                    file: e.file.clone(),
                },
                Target::Value { space, key, value } => SubGraphEntry {
                    key: key.clone(),
                    value: match value {
                        MatchValue::Keyword(s) => serde_json::Value::from(s.clone()),
                        MatchValue::Integer(n) => serde_json::Value::from(*n),
                        MatchValue::Bool(b) => serde_json::Value::from(*b),
                    },
                    space: (!space.is_empty()).then(|| space.clone()),
                    file: e.file.clone(),
                },
            })
            .collect()
    }

    /// Load the indexes `entry` names from `seg_dir`, for a segment of `len` offsets. Loaded,
    /// never rebuilt: an index costs minutes to build and milliseconds to read. One that
    /// fails to load is logged and left out for the optimizer to build again.
    pub(crate) fn load(seg_dir: &Path, entry: &SegmentEntry, len: usize, spaces: &Spaces) -> Self {
        let mut entries = Vec::with_capacity(entry.sub_graphs.len() + 1);
        let stride = spaces.width();
        if entry.indexed {
            let loaded = match spaces.single() {
                Some(space) => {
                    VectorIndex::load(&seg_dir.join(HNSW_FILE), len, space, stride, false)
                }
                None => Err(StorageError::BadRequest(
                    "hnsw.bin in a collection of named vectors".into(),
                )),
            };
            match loaded {
                Ok(index) => entries.push(IndexEntry {
                    target: Target::Space(String::new()),
                    file: HNSW_FILE.to_owned(),
                    index,
                }),
                Err(error) => log::warn!("the index of segment {} is rebuilt: {error}", entry.id),
            }
        }
        for sub in &entry.sub_graphs {
            let loaded = target_of(sub, spaces)
                .filter(|_| !sub.file.contains(['/', '\\']) && !sub.file.contains(".."))
                .ok_or_else(|| format!("bad entry {sub:?}"))
                .and_then(|(target, space)| {
                    VectorIndex::load(&seg_dir.join(&sub.file), len, space, stride, true)
                        .map(|index| (target, index))
                        .map_err(|e| e.to_string())
                });
            match loaded {
                Ok((target, index)) => entries.push(IndexEntry {
                    target,
                    file: sub.file.clone(),
                    index,
                }),
                Err(error) => log::warn!(
                    "a graph of segment {} is rebuilt: {} ({error})",
                    entry.id,
                    sub.file
                ),
            }
        }
        Indexes {
            keys: entry.sub_keys.clone(),
            entries,
        }
    }
}

/// What a manifest's graph entry covers, and the space its vectors are in.
fn target_of<'s>(sub: &SubGraphEntry, spaces: &'s Spaces) -> Option<(Target, &'s Space)> {
    let space_name = sub.space.clone().unwrap_or_default();
    let space = if spaces.is_named() {
        spaces.get(&space_name).ok()?
    } else {
        spaces.single().filter(|_| space_name.is_empty())?
    };
    if sub.key.is_empty() {
        // The unnamed space's graph is `hnsw.bin`, never an entry.
        return (!space_name.is_empty()).then_some((Target::Space(space_name), space));
    }
    let value = match_value(&sub.value)?;
    Some((
        Target::Value {
            space: space_name,
            key: sub.key.clone(),
            value,
        },
        space,
    ))
}

/// The match value a graph entry's JSON value stands for.
fn match_value(value: &serde_json::Value) -> Option<MatchValue> {
    match value {
        serde_json::Value::String(s) => Some(MatchValue::Keyword(s.clone())),
        serde_json::Value::Bool(b) => Some(MatchValue::Bool(*b)),
        serde_json::Value::Number(n) => n.as_i64().map(MatchValue::Integer),
        _ => None,
    }
}
