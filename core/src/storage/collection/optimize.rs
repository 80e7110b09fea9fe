//! The optimizer's side of a collection: planning optimizations, preparing their jobs, and
//! the bookkeeping that lets callers wait for the optimizer. Committing a job is `commit.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use futures::channel::oneshot;

use super::{lock, Collection};
use crate::error::StorageError;
use crate::models::{Distance, PayloadSchemaType};
use crate::storage::hnsw::{HnswBuilder, HnswGraph, HnswParams};
use crate::storage::payload_index::FieldIndexes;
use crate::storage::plan::{self, Plan, SegmentShape, Thresholds};
use crate::storage::segment::{Bitset, GraphFor, Segment, SegmentData, SubGraph, SubGraphs};
use crate::storage::{read, write};

/// How long the optimizer leaves a collection alone after an optimization failed, so that a
/// persistent failure (a full disk) does not rebuild an index at every write.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(5);

/// An optimization being carried out: the points an HNSW graph is built over, and what to do
/// with the result. Built by [`Collection::prepare`]; the graph is filled by any number of
/// threads through [`Job::insert_next`]; [`Collection::commit`] swaps the result in.
pub(crate) struct Job {
    kind: JobKind,
    /// The points: the indexed segment's own data, or the new segment of a rebuild.
    data: Arc<SegmentData>,
    /// Offsets to insert into the graph.
    nodes: Vec<u32>,
    builder: Option<HnswBuilder>,
    /// Per-value sub-graphs to build after the main graph.
    subs: Vec<SubBuild>,
    /// The payload keys the sub-graphs are for.
    sub_keys: Vec<String>,
    next: AtomicUsize,
    done: Arc<AtomicUsize>,
    /// The HNSW parameters its graphs are built with, to tell at commit whether an update
    /// changed them meanwhile.
    pub(super) params: HnswParams,
}

/// A sub-graph being built: over the live points of a named space, or whose `key` holds
/// `value`.
struct SubBuild {
    target: GraphFor,
    builder: HnswBuilder,
    nodes: usize,
}

pub(super) enum JobKind {
    /// Give the sealed segment `id` an index.
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
    /// Insert the next point into the graph; `false` once every point is in.
    pub(crate) fn insert_next(&self) -> bool {
        let mut k = self.next.fetch_add(1, AtomicOrdering::Relaxed);
        let main = self.main_nodes();
        if k < main {
            if let Some(builder) = &self.builder {
                builder.insert(self.data.vectors(), self.nodes[k]);
            }
        } else {
            k -= main;
            let mut inserted = false;
            for sub in &self.subs {
                if k < sub.nodes {
                    sub.builder.insert_node(self.data.vectors(), k as u32);
                    inserted = true;
                    break;
                }
                k -= sub.nodes;
            }
            if !inserted {
                return false;
            }
        }
        self.done.fetch_add(1, AtomicOrdering::Release);
        true
    }

    fn main_nodes(&self) -> usize {
        if self.builder.is_some() {
            self.nodes.len()
        } else {
            0
        }
    }

    /// Whether every point is in its graphs (or there is no graph to build).
    pub(crate) fn is_complete(&self) -> bool {
        self.done.load(AtomicOrdering::Acquire) == self.total()
    }

    /// Insertions the graphs take in all.
    pub(crate) fn total(&self) -> usize {
        self.main_nodes() + self.subs.iter().map(|s| s.nodes).sum::<usize>()
    }

    /// The counter of points inserted so far.
    pub(crate) fn progress(&self) -> Arc<AtomicUsize> {
        self.done.clone()
    }

    pub(super) fn finish(self) -> (JobKind, Arc<SegmentData>, Option<HnswGraph>, SubGraphs) {
        let graph = self.builder.map(HnswBuilder::finish);
        let graphs = self
            .subs
            .into_iter()
            .enumerate()
            .map(|(k, sub)| SubGraph {
                target: sub.target,
                file: format!("hnsw-sub-{k}.bin"),
                graph: Arc::new(sub.builder.finish()),
            })
            .collect();
        let subs = SubGraphs {
            keys: self.sub_keys,
            graphs,
        };
        (self.kind, self.data, graph, subs)
    }
}

/// The optimizer's side of a collection: planning, carrying out and committing optimizations,
/// and the bookkeeping that lets callers wait for it. The async driver is `crate::optimizer`.
impl Collection {
    /// The distance of the main graph: the unnamed space's (named collections have none).
    fn main_distance(&self) -> Distance {
        self.spaces
            .single()
            .map_or(Distance::Dot, |space| space.distance())
    }

    /// What the sub-graphs of a segment are built for: the payload keys of per-value
    /// sub-graphs, or (named collections) one entry per space.
    fn graph_keys(&self, schema: &BTreeMap<String, PayloadSchemaType>) -> Vec<String> {
        if self.spaces.is_named() {
            self.spaces
                .all()
                .iter()
                .map(|s| format!("vector:{}", s.name))
                .collect()
        } else {
            sub_keys(schema)
        }
    }

    /// Whether a segment has every graph it should have: the main graph and the per-value
    /// sub-graphs of the schema, or (named collections) a graph per space.
    fn graphs_complete(
        &self,
        segment: &Segment,
        schema: &BTreeMap<String, PayloadSchemaType>,
    ) -> bool {
        let main = self.spaces.is_named() || segment.index.is_some();
        main && segment.sub_graphs.keys == self.graph_keys(schema)
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds::new(&self.settings().optimizers, self.dim)
    }

    pub(super) fn hnsw_params(&self) -> HnswParams {
        let hnsw = self.settings().hnsw;
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
            let stale = self.settings().stale_indexes;
            shapes
                .iter()
                .find(|s| stale.contains(&s.id))
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
        let seed = |id: u64| id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match plan {
            Plan::Seal => None,
            Plan::Index(id) => {
                let (data, deleted, has_graph, fields, schema) = {
                    let state = read(&self.state);
                    let segment = state.segments.iter().find(|s| s.id == *id)?;
                    (
                        segment.data.clone(),
                        segment.deleted.clone(),
                        segment.index.is_some(),
                        segment.fields.clone(),
                        state.schema.clone(),
                    )
                };
                let nodes = (0..data.len() as u32)
                    .filter(|&o| !deleted.contains(o as usize))
                    .collect();
                // A segment that has its graph and lacks only sub-graphs (the payload schema
                // changed) keeps its graph. Named collections have no main graph, only one
                // per space.
                let builder = (!has_graph && !self.spaces.is_named()).then(|| {
                    HnswBuilder::new(
                        self.dim,
                        data.len(),
                        self.main_distance(),
                        self.hnsw_params(),
                        seed(*id),
                    )
                });
                let fields = if fields.fits(&schema) {
                    fields
                } else {
                    Arc::new(FieldIndexes::build(&schema, data.len(), |o| {
                        data.payload(o)
                    }))
                };
                let subs = self.sub_builds(&data, &fields, &schema, &deleted, *id);
                let mut job = self.job(JobKind::Index { id: *id }, data, nodes, builder);
                job.subs = subs;
                job.sub_keys = self.graph_keys(&schema);
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
                let builder = (indexed && !self.spaces.is_named()).then(|| {
                    HnswBuilder::new(
                        self.dim,
                        live,
                        self.main_distance(),
                        self.hnsw_params(),
                        seed(id),
                    )
                });
                let nodes = (0..live as u32).collect();
                let kind = JobKind::Rebuild {
                    id,
                    sources: ids.clone(),
                    origin,
                };
                let (subs, keys) = if indexed {
                    let schema = read(&self.state).schema.clone();
                    let fields = FieldIndexes::build(&schema, data.len(), |o| data.payload(o));
                    let none = Bitset::default();
                    (
                        self.sub_builds(&data, &fields, &schema, &none, id),
                        self.graph_keys(&schema),
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
                let mut job = self.job(kind, Arc::new(data), nodes, builder);
                job.subs = subs;
                job.sub_keys = keys;
                Some(job)
            }
        }
    }

    /// Builders of the sub-graphs of a segment: one per value of a keyword, integer or bool
    /// field that more points hold than a filtered search would score exactly.
    fn sub_builds(
        &self,
        data: &SegmentData,
        fields: &FieldIndexes,
        schema: &BTreeMap<String, PayloadSchemaType>,
        deleted: &Bitset,
        id: u64,
    ) -> Vec<SubBuild> {
        let limit = self.exact_limit();
        let mut subs = Vec::new();
        if self.spaces.is_named() {
            for (k, space) in self.spaces.all().iter().enumerate() {
                let live: Vec<u32> = (0..data.len())
                    .filter(|&o| !deleted.contains(o) && space.present(data.vector(o)))
                    .map(|o| o as u32)
                    .collect();
                let nodes = live.len();
                let builder = HnswBuilder::subset(
                    space.dim,
                    live,
                    space.distance(),
                    self.hnsw_params(),
                    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64).wrapping_add(1 << 32),
                )
                .with_layout(self.dim, space.column);
                subs.push(SubBuild {
                    target: GraphFor::Space(space.name.clone()),
                    builder,
                    nodes,
                });
            }
            return subs;
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
                let live: Vec<u32> = offsets
                    .iter()
                    .copied()
                    .filter(|&o| !deleted.contains(o as usize))
                    .collect();
                let nodes = live.len();
                let builder = HnswBuilder::subset(
                    self.dim,
                    live,
                    self.main_distance(),
                    self.hnsw_params(),
                    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ subs.len() as u64,
                );
                subs.push(SubBuild {
                    target: GraphFor::Value {
                        key: key.clone(),
                        value,
                    },
                    builder,
                    nodes,
                });
            }
        }
        subs
    }

    fn job(
        &self,
        kind: JobKind,
        data: Arc<SegmentData>,
        nodes: Vec<u32>,
        builder: Option<HnswBuilder>,
    ) -> Job {
        Job {
            kind,
            data,
            nodes,
            builder,
            subs: Vec::new(),
            sub_keys: Vec::new(),
            next: AtomicUsize::new(0),
            done: Arc::new(AtomicUsize::new(0)),
            params: self.hnsw_params(),
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

    /// Memory taken by the links of every HNSW index, in bytes.
    pub fn index_links_bytes(&self) -> usize {
        read(&self.state)
            .segments
            .iter()
            .filter_map(|s| s.index.as_ref())
            .map(|g| g.links_bytes())
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

/// Give `subs` file names that none of `taken` has.
pub(super) fn rename_sub_files(subs: &mut SubGraphs, taken: &[String]) {
    let mut next = 0usize;
    for sub in &mut subs.graphs {
        loop {
            let name = format!("hnsw-sub-{next}.bin");
            next += 1;
            if !taken.contains(&name) {
                sub.file = name;
                break;
            }
        }
    }
}
