//! The optimizer's side of a collection: planning optimizations, preparing their jobs, and
//! the bookkeeping that lets callers wait for the optimizer. Committing a job is `commit.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use futures::channel::oneshot;

use super::{lock, Collection};
use crate::error::StorageError;
use crate::models::PayloadSchemaType;
use crate::storage::hnsw::{HnswBuilder, HnswParams, HNSW_FILE};
use crate::storage::payload_index::FieldIndexes;
use crate::storage::plan::{self, Plan, SegmentShape, Thresholds};
use crate::storage::segment::{
    Bitset, IndexEntry, Indexes, Segment, SegmentData, Target, VectorIndex,
};
use crate::storage::space::Space;
use crate::storage::{read, write};

/// How long the optimizer leaves a collection alone after an optimization failed, so that a
/// persistent failure (a full disk) does not rebuild an index at every write.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(5);

/// An optimization being carried out: the points its indexes are built over, and what to do
/// with the result. Built by [`Collection::prepare`]; the graphs are filled by any number of
/// threads through [`Job::insert_next`]; [`Collection::commit`] swaps the result in.
pub(crate) struct Job {
    kind: JobKind,
    /// The points: the indexed segment's own data, or the new segment of a rebuild.
    data: Arc<SegmentData>,
    /// The graphs to build, one after the other.
    builds: Vec<GraphBuild>,
    /// The payload keys the per-value graphs are for.
    keys: Vec<String>,
    total: usize,
    next: AtomicUsize,
    done: Arc<AtomicUsize>,
    /// The HNSW parameters its graphs are built with, to tell at commit whether an update
    /// changed them meanwhile.
    pub(super) params: HnswParams,
}

/// A graph being built: over every offset of the segment (the unnamed space's, inserted by
/// offset), or over a subset (a named space's points, or one value's), inserted by node.
struct GraphBuild {
    target: Target,
    builder: HnswBuilder,
    /// The offsets to insert into a graph over every offset; `None` for a subset graph,
    /// whose nodes `0..nodes` are inserted.
    offsets: Option<Vec<u32>>,
    nodes: usize,
}

impl GraphBuild {
    fn len(&self) -> usize {
        self.offsets.as_ref().map_or(self.nodes, Vec::len)
    }
}

pub(super) enum JobKind {
    /// Give the sealed segment `id` the indexes it lacks.
    Index { id: u64 },
    /// Replace `sources` by the new segment `id`; `origin[o]` is where new offset `o` came
    /// from, as (index into `sources`, offset there).
    Rebuild {
        id: u64,
        sources: Vec<u64>,
        origin: Vec<(u32, u32)>,
    },
}

impl Job {
    /// Insert the next point into its graph; `false` once every point is in.
    pub(crate) fn insert_next(&self) -> bool {
        let mut k = self.next.fetch_add(1, AtomicOrdering::Relaxed);
        let vectors = self.data.vectors();
        let mut inserted = false;
        for build in &self.builds {
            if k < build.len() {
                match &build.offsets {
                    Some(offsets) => build.builder.insert(vectors, offsets[k]),
                    None => build.builder.insert_node(vectors, k as u32),
                }
                inserted = true;
                break;
            }
            k -= build.len();
        }
        if inserted {
            self.done.fetch_add(1, AtomicOrdering::Release);
        }
        inserted
    }

    /// Whether every point is in its graphs (or there is no graph to build).
    pub(crate) fn is_complete(&self) -> bool {
        self.done.load(AtomicOrdering::Acquire) == self.total()
    }

    /// Insertions the graphs take in all.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// The counter of points inserted so far.
    pub(crate) fn progress(&self) -> Arc<AtomicUsize> {
        self.done.clone()
    }

    /// What the job was, its points, and the indexes it built (file names provisional:
    /// `hnsw.bin` for the unnamed space's graph, `hnsw-sub-<k>.bin` for the others).
    pub(super) fn finish(self) -> (JobKind, Arc<SegmentData>, Indexes) {
        let entries = self
            .builds
            .into_iter()
            .enumerate()
            .map(|(k, build)| IndexEntry {
                file: if build.offsets.is_some() {
                    HNSW_FILE.to_owned()
                } else {
                    format!("hnsw-sub-{k}.bin")
                },
                target: build.target,
                index: VectorIndex::Hnsw(Arc::new(build.builder.finish())),
            })
            .collect();
        let indexes = Indexes {
            keys: self.keys,
            entries,
        };
        (self.kind, self.data, indexes)
    }
}

/// The optimizer's side of a collection: planning, carrying out and committing optimizations,
/// and the bookkeeping that lets callers wait for it. The async driver is `crate::optimizer`.
impl Collection {
    /// Whether a segment has every index it should have: a graph per space, and the
    /// per-value graphs of the schema's keys.
    fn graphs_complete(
        &self,
        segment: &Segment,
        schema: &BTreeMap<String, PayloadSchemaType>,
    ) -> bool {
        self.spaces
            .all()
            .iter()
            .all(|space| segment.indexes.has_space(&space.name))
            && segment.indexes.keys == sub_keys(schema)
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds::new(&read(&self.settings).optimizers, self.dim)
    }

    /// The collection's build parameters (a space may have its own over them), as a job
    /// records them to tell whether an update changed them while it was built.
    pub(super) fn collection_hnsw_params(&self) -> HnswParams {
        let hnsw = self.hnsw();
        HnswParams {
            m: hnsw.m,
            ef_construct: hnsw.ef_construct,
        }
    }

    /// The build parameters of `space`'s graphs.
    fn hnsw_params(&self, space: &Space) -> HnswParams {
        let hnsw = self.space_hnsw(space);
        HnswParams {
            m: hnsw.m,
            ef_construct: hnsw.ef_construct,
        }
    }

    /// The next optimization worth doing, if any.
    pub(crate) fn plan(&self) -> Option<Plan> {
        if self.read_only.is_some() || self.is_closed() {
            return None;
        }
        let state = read(&self.state);
        let (appendable, sealed) = state.segments.split_last()?;
        let shapes: Vec<SegmentShape> = sealed
            .iter()
            .filter(|s| s.persisted || self.dir.is_none())
            .map(|s| SegmentShape {
                id: s.id,
                len: s.data.len(),
                live: s.live,
                indexed: self.graphs_complete(s, &state.schema),
            })
            .collect();
        plan::next(appendable.data.len(), &shapes, &self.thresholds()).or_else(|| {
            // Indexes built before an update of the HNSW parameters are rebuilt with the
            // current ones, one segment at a time, once nothing more urgent is left.
            let settings = read(&self.settings);
            shapes
                .iter()
                .find(|s| settings.stale_indexes.contains(&s.id))
                .map(|s| Plan::Rebuild(vec![s.id]))
        })
    }

    /// Seal the write segment: a checkpoint on disk, a new write segment in memory.
    pub(crate) fn seal(&self) -> Result<(), StorageError> {
        if self.dir.is_some() {
            return self.checkpoint();
        }
        let _writer = lock(&self.writer);
        let mut state = write(&self.state);
        if state.segments.last().is_some_and(|s| s.data.len() > 0) {
            let id = state.next_segment_id;
            state.next_segment_id += 1;
            state.segments.push(Segment::appendable(id, self.dim));
        }
        drop(state);
        self.refresh_field_indexes();
        Ok(())
    }

    /// Get `plan` (an index or a rebuild) ready to build: gather or copy its points. `None`
    /// when its segments are gone meanwhile.
    pub(crate) fn prepare(&self, plan: &Plan) -> Option<Job> {
        match plan {
            Plan::Seal => None,
            Plan::Index(id) => {
                let (data, deleted, built, fields, schema) = {
                    let state = read(&self.state);
                    let segment = state.segments.iter().find(|s| s.id == *id)?;
                    (
                        segment.data.clone(),
                        segment.deleted.clone(),
                        segment.indexes.clone(),
                        segment.fields.clone(),
                        state.schema.clone(),
                    )
                };
                let fields = if fields.fits(&schema) {
                    fields
                } else {
                    Arc::new(FieldIndexes::build(&schema, data.len(), |o| {
                        data.payload(o)
                    }))
                };
                // A space that has its graph keeps it (the payload schema changed, and only
                // the per-value graphs are built again).
                let builds = self.graph_builds(&data, &fields, &schema, &deleted, *id, &built);
                let mut job = self.job(JobKind::Index { id: *id }, data, builds);
                job.keys = sub_keys(&schema);
                Some(job)
            }
            Plan::Rebuild(ids) => {
                let (id, sources) = {
                    let mut state = write(&self.state);
                    let mut sources = Vec::with_capacity(ids.len());
                    for id in ids {
                        let segment = state.segments.iter().find(|s| s.id == *id)?;
                        sources.push((segment.data.clone(), segment.deleted.clone()));
                    }
                    let id = state.next_segment_id;
                    state.next_segment_id += 1;
                    (id, sources)
                };
                // Copying is the one O(points) step outside the graph build; no lock is held.
                let live: usize = sources
                    .iter()
                    .map(|(d, del)| (0..d.len()).filter(|&o| !del.contains(o)).count())
                    .sum();
                let mut data = SegmentData::with_capacity(self.dim, live);
                let mut origin = Vec::with_capacity(live);
                for (k, (source, deleted)) in sources.iter().enumerate() {
                    for offset in (0..source.len()).filter(|&o| !deleted.contains(o)) {
                        data.push_from(source, offset);
                        origin.push((k as u32, offset as u32));
                    }
                }
                let indexed = self.thresholds().indexing.is_some_and(|n| live >= n);
                let kind = JobKind::Rebuild {
                    id,
                    sources: ids.clone(),
                    origin,
                };
                let (builds, keys) = if indexed {
                    let schema = read(&self.state).schema.clone();
                    let fields = FieldIndexes::build(&schema, data.len(), |o| data.payload(o));
                    let none = Bitset::default();
                    let builds =
                        self.graph_builds(&data, &fields, &schema, &none, id, &Indexes::default());
                    (builds, sub_keys(&schema))
                } else {
                    (Vec::new(), Vec::new())
                };
                let mut job = self.job(kind, Arc::new(data), builds);
                job.keys = keys;
                Some(job)
            }
        }
    }

    /// The graphs a segment needs beside those it has (`built`): for each space, a graph over
    /// its points unless it has one, and a graph per value of a keyword, integer or bool field
    /// that more of its points hold than a filtered search would score exactly. The unnamed
    /// space's graph covers every offset; the others cover subsets.
    fn graph_builds(
        &self,
        data: &SegmentData,
        fields: &FieldIndexes,
        schema: &BTreeMap<String, PayloadSchemaType>,
        deleted: &Bitset,
        id: u64,
        built: &Indexes,
    ) -> Vec<GraphBuild> {
        let seed = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let named = self.spaces.is_named();
        let mut builds = Vec::new();
        for (k, space) in self.spaces.all().iter().enumerate() {
            let params = self.hnsw_params(space);
            let limit = self.space_exact_limit(space);
            let present = |o: u32| {
                !deleted.contains(o as usize) && (!named || space.present(data.vector(o as usize)))
            };
            // A graph over some of the segment's offsets: a named space's points, or a value's.
            let subset = |target: Target, live: Vec<u32>, seed: u64| GraphBuild {
                target,
                nodes: live.len(),
                builder: HnswBuilder::subset(space.dim, live, space.distance(), params, seed)
                    .with_layout(self.dim, space.column),
                offsets: None,
            };
            if !built.has_space(&space.name) {
                let live: Vec<u32> = (0..data.len() as u32).filter(|&o| present(o)).collect();
                let target = Target::Space(space.name.clone());
                builds.push(if named {
                    subset(target, live, seed ^ (k as u64).wrapping_add(1 << 32))
                } else {
                    GraphBuild {
                        target,
                        builder: HnswBuilder::new(
                            self.dim,
                            data.len(),
                            space.distance(),
                            params,
                            seed,
                        ),
                        offsets: Some(live),
                        nodes: 0,
                    }
                });
            }
            for key in sub_keys(schema) {
                let Some(index) = fields.get(&key) else {
                    continue;
                };
                for (condition, offsets) in index.values() {
                    let Some(crate::models::Match::Value(value)) = condition.r#match else {
                        continue;
                    };
                    if offsets.len() <= limit {
                        continue;
                    }
                    let live: Vec<u32> = offsets.iter().copied().filter(|&o| present(o)).collect();
                    if live.len() <= limit {
                        continue;
                    }
                    let target = Target::Value {
                        space: space.name.clone(),
                        key: key.clone(),
                        value,
                    };
                    let seed = seed ^ builds.len() as u64 ^ ((k as u64) << 40);
                    builds.push(subset(target, live, seed));
                }
            }
        }
        builds
    }

    fn job(&self, kind: JobKind, data: Arc<SegmentData>, builds: Vec<GraphBuild>) -> Job {
        let total = builds.iter().map(GraphBuild::len).sum();
        Job {
            kind,
            data,
            builds,
            keys: Vec::new(),
            total,
            next: AtomicUsize::new(0),
            done: Arc::new(AtomicUsize::new(0)),
            params: self.collection_hnsw_params(),
        }
    }

    /// Carry out every pending optimization now (seal, merge, vacuum, index), building on
    /// this thread and `threads - 1` more, and return when nothing is left. For applications
    /// that use the engine without an instance; an instance optimizes in the background.
    /// Fails with `BadRequest` if an optimization of this collection is already running.
    pub fn optimize(&self, threads: usize) -> Result<(), StorageError> {
        {
            let mut optimizer = lock(&self.optimizer);
            if optimizer.running {
                return Err(StorageError::BadRequest(
                    "an optimization of this collection is already running".into(),
                ));
            }
            optimizer.running = true;
        }
        let outcome = (|| {
            while let Some(plan) = self.plan() {
                if plan == Plan::Seal {
                    self.seal()?;
                    continue;
                }
                let Some(job) = self.prepare(&plan) else {
                    break;
                };
                self.set_optimizer_progress(&job);
                std::thread::scope(|scope| {
                    for _ in 1..threads.max(1) {
                        scope.spawn(|| while job.insert_next() {});
                    }
                    while job.insert_next() {}
                });
                self.commit(job)?;
            }
            Ok(())
        })();
        self.record_optimization(outcome.as_ref().map(|_| ()).map_err(ToString::to_string));
        self.optimizer_done(true);
        outcome
    }

    /// Memory taken by every vector index (the links of the HNSW graphs), in bytes.
    pub fn index_links_bytes(&self) -> usize {
        read(&self.state)
            .segments
            .iter()
            .map(|s| s.indexes.resident_bytes())
            .sum()
    }

    /// Claim the optimizer for this collection if it has work and nobody runs it; `true`
    /// means the caller must run it and call [`optimizer_done`](Self::optimizer_done).
    pub(crate) fn try_start_optimizer(&self) -> bool {
        let mut optimizer = lock(&self.optimizer);
        if optimizer.running
            || optimizer
                .failed_at
                .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE)
            || self.plan().is_none()
        {
            return false;
        }
        optimizer.running = true;
        true
    }

    /// The optimizer task asks whether to stop. It stops (and wakes every waiter) when there is
    /// nothing left to do, or when `stop` is set; otherwise it carries on.
    pub(crate) fn optimizer_done(&self, stop: bool) -> bool {
        let waiters = {
            let mut optimizer = lock(&self.optimizer);
            if !stop && self.plan().is_some() {
                return false;
            }
            optimizer.running = false;
            optimizer.progress = None;
            std::mem::take(&mut optimizer.waiters)
        };
        for waiter in waiters {
            let _ = waiter.send(());
        }
        true
    }

    /// Publish the progress of the job about to be built.
    pub(crate) fn set_optimizer_progress(&self, job: &Job) {
        lock(&self.optimizer).progress = Some((job.progress(), job.total()));
    }

    /// Record how an optimization went (an error turns the collection red until one succeeds).
    pub(crate) fn record_optimization(&self, outcome: Result<(), String>) {
        let mut optimizer = lock(&self.optimizer);
        match outcome {
            Ok(()) => {
                optimizer.error = None;
                optimizer.failed_at = None;
            }
            Err(error) => {
                log::error!("optimization failed: {error}");
                optimizer.error = Some(error);
                optimizer.failed_at = Some(std::time::Instant::now());
            }
        }
    }

    /// A receiver that fires when the running optimizer goes idle; `None` if none runs.
    pub(crate) fn wait_idle(&self) -> Option<oneshot::Receiver<()>> {
        let mut optimizer = lock(&self.optimizer);
        if !optimizer.running {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        optimizer.waiters.push(tx);
        Some(rx)
    }
}

/// The payload keys that get per-value sub-graphs: keyword, integer and bool indexes.
pub(super) fn sub_keys(schema: &BTreeMap<String, PayloadSchemaType>) -> Vec<String> {
    schema
        .iter()
        .filter(|(_, kind)| {
            matches!(
                kind,
                PayloadSchemaType::Keyword | PayloadSchemaType::Integer | PayloadSchemaType::Bool
            )
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// Give the indexes of `built` file names that none of `taken` has (`hnsw.bin` keeps its
/// name: it is only built when the segment has none).
pub(super) fn rename_index_files(built: &mut Indexes, taken: &[String]) {
    let mut next = 0usize;
    for entry in &mut built.entries {
        if entry.file == HNSW_FILE {
            continue;
        }
        loop {
            let name = format!("hnsw-sub-{next}.bin");
            next += 1;
            if !taken.contains(&name) {
                entry.file = name;
                break;
            }
        }
    }
}
