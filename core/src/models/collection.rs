//! Collection configuration and description.

use serde::{Deserialize, Serialize};

use super::{StrictModeConfig, VectorsConfig};
use crate::error::StorageError;

/// An `Unsupported` error for `field` when it is present.
pub(crate) fn refuse_if_set<T>(
    value: &Option<T>,
    field: &str,
    supported: &str,
) -> Result<(), StorageError> {
    match value {
        Some(_) => Err(StorageError::unsupported(field, supported)),
        None => Ok(()),
    }
}

/// How vectors are compared. Names and JSON spelling follow Qdrant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Distance {
    /// Cosine similarity; vectors are normalised once at insert, so a search is a dot product.
    /// Higher is closer.
    Cosine,
    /// Dot product. Higher is closer.
    Dot,
    /// Euclidean distance. Lower is closer; the score is the distance.
    Euclid,
    /// Manhattan (L1) distance. Lower is closer; the score is the distance.
    Manhattan,
}

/// How vector components are stored: `"float32"` (what rro does), `"float16"` or `"uint8"`
/// (Qdrant's compact forms, which rro refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    /// 32-bit floats.
    Float32,
    /// 16-bit floats; rro refuses it.
    Float16,
    /// Bytes; rro refuses it.
    Uint8,
}

/// Size and distance of a collection's vectors: `{"size": 384, "distance": "Cosine"}`, and
/// the space's own `hnsw_config` over the collection's. Qdrant's `quantization_config` and
/// `multivector_config` of a space, and a `datatype` other than `float32`, are kept as sent
/// and refused when the collection is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorParams {
    /// Number of components in every vector (1 ..= 65536).
    pub size: u64,
    /// How vectors are compared.
    pub distance: Distance,
    /// Keep sealed segments' vectors on disk, memory-mapped, instead of in RAM (default: in
    /// RAM). The page cache then holds what searches touch, so a collection larger than RAM
    /// still works. In-memory instances keep everything in RAM whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    /// Component type; only `float32` (the default) is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
    /// This space's HNSW settings where they differ from the collection's `hnsw_config`
    /// (its graphs' `m` and `ef_construct`, its searches' default `hnsw_ef`, and its
    /// `full_scan_threshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    /// Qdrant's per-space quantization; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<Box<serde_json::Value>>,
    /// Qdrant's multivectors (several vectors per point in one space); refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<Box<serde_json::Value>>,
}

impl VectorParams {
    /// Vectors of `size` components compared by `distance`, kept in RAM.
    pub fn new(size: u64, distance: Distance) -> Self {
        VectorParams {
            size,
            distance,
            on_disk: None,
            datatype: None,
            hnsw_config: None,
            quantization_config: None,
            multivector_config: None,
        }
    }

    /// Refuse the Qdrant settings of a space rro does not implement; `path` is where the
    /// space is in the request (`vectors` or `vectors.image`).
    pub fn check_supported(&self, path: &str) -> Result<(), StorageError> {
        if matches!(self.datatype, Some(Datatype::Float16 | Datatype::Uint8)) {
            return Err(StorageError::unsupported(
                format!("{path}.datatype"),
                "vectors are stored as float32",
            ));
        }
        refuse_if_set(
            &self.quantization_config,
            &format!("{path}.quantization_config"),
            "full-precision vectors only",
        )?;
        refuse_if_set(
            &self.multivector_config,
            &format!("{path}.multivector_config"),
            "one vector per point and space",
        )
    }

    /// Keep sealed segments' vectors memory-mapped from disk (`true`) or in RAM (`false`).
    pub fn on_disk(mut self, on_disk: bool) -> Self {
        self.on_disk = Some(on_disk);
        self
    }

    /// Give this space its own HNSW settings over the collection's.
    pub fn hnsw_config(mut self, config: HnswConfigDiff) -> Self {
        self.hnsw_config = Some(config);
        self
    }
}

/// The HNSW index of a collection: `{"m": 16, "ef_construct": 100, "full_scan_threshold": 10000}`.
/// Fields left out of the JSON take their defaults. `max_indexing_threads`, `on_disk` and
/// `inline_storage` are accepted, kept and ignored (README, "Accepted and ignored");
/// `payload_m` is honoured when it equals `m` (what rro builds) and refused otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HnswConfig {
    /// Links per node (level 0 keeps twice as many). More links: better recall, more memory,
    /// slower builds. Default 16.
    pub m: usize,
    /// Candidates considered while building. Higher: better graph, slower builds. Default 100;
    /// also the default `hnsw_ef` of searches.
    pub ef_construct: usize,
    /// Segments whose live vectors take fewer kilobytes than this are searched exactly even
    /// when indexed, because a scan is then as fast (Qdrant's unit). Default 10,000 KiB.
    pub full_scan_threshold: usize,
    /// Links per node of the per-value graphs of payload keys; rro builds them with `m`, so
    /// any other value is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<u32>,
    /// Qdrant's thread limit for index builds; ignored (builds are rro's own work).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<u32>,
    /// Qdrant's "keep the graph on disk"; ignored (where the graph lives cannot change results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    /// Qdrant's "store vectors inside the graph file"; ignored (a storage layout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
            payload_m: None,
            max_indexing_threads: None,
            on_disk: None,
            inline_storage: None,
        }
    }
}

impl HnswConfig {
    /// These settings with a space's own over them.
    pub fn merged(&self, diff: Option<&HnswConfigDiff>) -> HnswConfig {
        diff.map_or(*self, |diff| diff.applied_to(self))
    }

    /// Refuse the settings rro does not implement.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        self.check_supported_at("hnsw_config")
    }

    /// [`check_supported`](Self::check_supported) for settings found at `path` of a request.
    pub fn check_supported_at(&self, path: &str) -> Result<(), StorageError> {
        match self.payload_m {
            Some(payload_m) if payload_m as usize != self.m => Err(StorageError::unsupported(
                format!("{path}.payload_m"),
                format!(
                    "per-value graphs are built with hnsw_config.m ({}); leave payload_m out or set it to m",
                    self.m
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// When the optimizer seals, indexes, merges and vacuums segments:
/// `{"indexing_threshold": 20000, "default_segment_number": 2}`. Sizes are in kilobytes of
/// vectors, as in Qdrant (a 384-d vector takes 1.5 KiB). Fields left out take their defaults.
/// `memmap_threshold`, `flush_interval_sec` and `max_optimization_threads` are accepted, kept
/// and ignored (README, "Accepted and ignored").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizersConfig {
    /// Fraction of deleted points above which a segment is rebuilt without them. Default 0.2.
    pub deleted_threshold: f64,
    /// A segment is vacuumed only once it has at least this many deleted points. Default 1000.
    pub vacuum_min_vector_number: usize,
    /// The optimizer merges the smallest sealed segments while there are more than this.
    /// 0 picks the default, 2. A search visits every segment, so fewer is faster to search;
    /// more is cheaper to merge into.
    pub default_segment_number: usize,
    /// Merges never make a segment larger than this many KiB of vectors. Default 200,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_segment_size: Option<usize>,
    /// The write segment is sealed and indexed once its vectors pass this many KiB; 0 turns
    /// indexing off. Default 20,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexing_threshold: Option<usize>,
    /// Qdrant's size above which segments are memory-mapped; ignored (rro maps by
    /// `vectors.on_disk`; where vectors live cannot change results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memmap_threshold: Option<u32>,
    /// Qdrant's interval between flushes; ignored (rro's durability is `Config::durability`
    /// and its checkpoint size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_interval_sec: Option<u32>,
    /// Qdrant's limit of concurrent optimizations; ignored (rro runs one per collection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_optimization_threads: Option<u32>,
}

impl Default for OptimizersConfig {
    fn default() -> Self {
        OptimizersConfig {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size: None,
            indexing_threshold: None,
            memmap_threshold: None,
            flush_interval_sec: None,
            max_optimization_threads: None,
        }
    }
}

/// Qdrant's write-ahead log settings: `{"wal_capacity_mb": 32, "wal_segments_ahead": 0}`.
/// Accepted, kept and ignored: rro's log has its own checkpoint size (`Config`), and log file
/// sizes cannot change results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// Size of one log file in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_capacity_mb: Option<u32>,
    /// Log files created ahead of need.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_segments_ahead: Option<u32>,
    /// Closed log files kept after a checkpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_retain_closed: Option<u32>,
}

/// How Qdrant spreads points over shards: `"auto"` (by id hash) or `"custom"` (by shard key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardingMethod {
    /// Points are spread by id; an embedded engine has one shard, so this is what rro does.
    Auto,
    /// Points are placed by a shard key given with each request; rro refuses it.
    Custom,
}

/// Qdrant's cluster settings of a collection: accepted, kept with the collection and reported
/// in its info, never acted on. An embedded engine is one process with one copy of the data,
/// so none of them can change a result (README, "Accepted and ignored").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterParams {
    /// Shards of the collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_number: Option<u32>,
    /// How points are spread over shards; only `auto` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_method: Option<ShardingMethod>,
    /// Copies of each shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    /// Copies that must confirm a write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_consistency_factor: Option<u32>,
    /// Whether payloads live on disk rather than in RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk_payload: Option<bool>,
}

impl ClusterParams {
    /// Whether no setting was given.
    pub fn is_empty(&self) -> bool {
        *self == ClusterParams::default()
    }
}

/// Default of [`OptimizersConfig::indexing_threshold`], in KiB.
pub const DEFAULT_INDEXING_THRESHOLD_KB: usize = 20_000;
/// Default of [`OptimizersConfig::max_segment_size`], in KiB.
pub const DEFAULT_MAX_SEGMENT_SIZE_KB: usize = 200_000;

/// Body of `PUT /collections/{name}`: `{"vectors": {"size": 4, "distance": "Dot"}}`, optionally
/// with `hnsw_config`, `optimizers_config` and `strict_mode_config`. Qdrant's cluster settings
/// and `wal_config` are kept and ignored; its `quantization_config`, `sparse_vectors`,
/// `init_from`, `metadata` and `sharding_method: "custom"` are kept as sent and refused by
/// [`check_supported`](Self::check_supported) when the collection is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    /// The collection's vector space. Qdrant lets a body leave it out (a collection of sparse
    /// vectors only); rro then has no space and refuses the collection.
    #[serde(default = "no_vectors")]
    pub vectors: VectorsConfig,
    /// The HNSW index parameters (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfig>,
    /// The optimizer's thresholds (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizers_config: Option<OptimizersConfig>,
    /// Qdrant's shard count; kept and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_number: Option<u32>,
    /// Qdrant's sharding method: `auto` is kept and ignored, `custom` refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_method: Option<ShardingMethod>,
    /// Qdrant's copies per shard; kept and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    /// Qdrant's write quorum; kept and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_consistency_factor: Option<u32>,
    /// Qdrant's "payloads on disk"; kept and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk_payload: Option<bool>,
    /// Qdrant's log settings; kept and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_config: Option<WalConfig>,
    /// Qdrant's vector quantization; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<Box<serde_json::Value>>,
    /// Qdrant's sparse vector spaces; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_vectors: Option<Box<serde_json::Value>>,
    /// Qdrant's per-collection request limits (the fields rro enforces; others are refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<StrictModeConfig>,
    /// Qdrant's "copy points from another collection"; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<Box<serde_json::Value>>,
    /// Qdrant's free-form collection metadata; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<serde_json::Value>>,
}

fn no_vectors() -> VectorsConfig {
    VectorsConfig::Multi(std::collections::BTreeMap::new())
}

impl CreateCollection {
    /// A collection of `vectors` with default index and optimizer settings.
    pub fn new(vectors: impl Into<VectorsConfig>) -> Self {
        CreateCollection {
            vectors: vectors.into(),
            hnsw_config: None,
            optimizers_config: None,
            shard_number: None,
            sharding_method: None,
            replication_factor: None,
            write_consistency_factor: None,
            on_disk_payload: None,
            wal_config: None,
            quantization_config: None,
            sparse_vectors: None,
            strict_mode_config: None,
            init_from: None,
            metadata: None,
        }
    }

    /// The cluster settings of the request, kept with the collection.
    pub fn cluster_params(&self) -> ClusterParams {
        ClusterParams {
            shard_number: self.shard_number,
            sharding_method: self.sharding_method,
            replication_factor: self.replication_factor,
            write_consistency_factor: self.write_consistency_factor,
            on_disk_payload: self.on_disk_payload,
        }
    }

    /// Refuse the Qdrant settings rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        if self.sharding_method == Some(ShardingMethod::Custom) {
            return Err(StorageError::unsupported(
                "sharding_method",
                "one shard per collection (\"auto\")",
            ));
        }
        refuse_if_set(
            &self.quantization_config,
            "quantization_config",
            "full-precision vectors only",
        )?;
        refuse_if_set(
            &self.sparse_vectors,
            "sparse_vectors",
            "dense vectors (`vectors`) only",
        )?;
        if let Some(strict) = &self.strict_mode_config {
            strict.check_supported("strict_mode_config")?;
        }
        refuse_if_set(
            &self.init_from,
            "init_from",
            "collections start empty; copy points with scroll and upsert",
        )?;
        refuse_if_set(&self.metadata, "metadata", "no collection metadata")?;
        if let Some(hnsw) = &self.hnsw_config {
            hnsw.check_supported()?;
        }
        for (name, params) in self.vectors.spaces() {
            let path = if name.is_empty() {
                "vectors".to_owned()
            } else {
                format!("vectors.{name}")
            };
            params.check_supported(&path)?;
        }
        Ok(())
    }

    /// Use `config` for the HNSW index.
    pub fn hnsw_config(mut self, config: HnswConfig) -> Self {
        self.hnsw_config = Some(config);
        self
    }

    /// Use `config` for the optimizer.
    pub fn optimizers_config(mut self, config: OptimizersConfig) -> Self {
        self.optimizers_config = Some(config);
        self
    }
}

impl From<VectorParams> for CreateCollection {
    fn from(vectors: VectorParams) -> Self {
        CreateCollection::new(vectors)
    }
}

/// Health of a collection, as Qdrant reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectionStatus {
    /// Ready; every segment is fully usable.
    Green,
    /// Usable, but an optimization (index build) is running.
    Yellow,
    /// An operation failed; see the collection's error.
    Red,
}

/// `config.params` of a collection's info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionParams {
    /// The collection's vector space.
    pub vectors: VectorsConfig,
    /// Qdrant's cluster settings as given at creation (kept, never acted on).
    #[serde(flatten)]
    pub cluster: ClusterParams,
}

/// `config` of a collection's info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Parameters fixed at creation.
    pub params: CollectionParams,
    /// The HNSW index parameters.
    pub hnsw_config: HnswConfig,
    /// The optimizer's thresholds.
    pub optimizer_config: OptimizersConfig,
    /// Qdrant's log settings as given at creation (kept, never acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_config: Option<WalConfig>,
    /// The request limits, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<StrictModeConfig>,
}

/// `optimizer_status` of a collection's info: `"ok"` or `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerStatus {
    /// The last optimization succeeded (or none ran).
    Ok,
    /// The last optimization failed; it is retried at the next write.
    Error(String),
}

/// How far the running optimization is: `{"done": 5000, "total": 59004}` points inserted
/// into the index being built. rro's addition to Qdrant's info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptimizationProgress {
    /// Points handled so far.
    pub done: u64,
    /// Points the optimization handles in all.
    pub total: u64,
}

/// Result of `GET /collections/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Health of the collection: green when idle, yellow while the optimizer has work, red
    /// when writes are refused or the optimizer failed.
    pub status: CollectionStatus,
    /// Whether the last optimization succeeded.
    pub optimizer_status: OptimizerStatus,
    /// Number of live points.
    pub points_count: u64,
    /// Live points in segments with an HNSW index.
    pub indexed_vectors_count: u64,
    /// Number of segments the points live in.
    pub segments_count: u64,
    /// Progress of the running optimization, if one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimization: Option<OptimizationProgress>,
    /// Indexed payload keys: their kind and how many points hold such values.
    #[serde(default)]
    pub payload_schema: std::collections::BTreeMap<String, super::PayloadIndexInfo>,
    /// The collection's configuration.
    pub config: CollectionConfig,
}

/// One entry of `GET /collections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionDescription {
    /// The collection's name.
    pub name: String,
}

/// Result of `GET /collections`: `{"collections": [{"name": "docs"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CollectionsResponse {
    /// Every collection, sorted by name.
    pub collections: Vec<CollectionDescription>,
}

/// Qdrant's `HnswConfigDiff`: HNSW settings over others, a field left out keeping theirs. A
/// space's own `hnsw_config` over the collection's (`{"m": 32}`), or what an update changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswConfigDiff {
    /// New [`HnswConfig::m`]; indexed segments are rebuilt with it in the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    /// New [`HnswConfig::ef_construct`]; indexed segments are rebuilt with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<usize>,
    /// New [`HnswConfig::full_scan_threshold`]; applies to the next search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    /// New [`HnswConfig::payload_m`] (must equal `m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<u32>,
    /// Kept and ignored, as at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<u32>,
    /// Kept and ignored, as at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    /// Kept and ignored, as at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
}

impl HnswConfigDiff {
    /// `config` with the fields of this diff replaced.
    pub fn applied_to(&self, config: &HnswConfig) -> HnswConfig {
        HnswConfig {
            m: self.m.unwrap_or(config.m),
            ef_construct: self.ef_construct.unwrap_or(config.ef_construct),
            full_scan_threshold: self
                .full_scan_threshold
                .unwrap_or(config.full_scan_threshold),
            payload_m: self.payload_m.or(config.payload_m),
            max_indexing_threads: self.max_indexing_threads.or(config.max_indexing_threads),
            on_disk: self.on_disk.or(config.on_disk),
            inline_storage: self.inline_storage.or(config.inline_storage),
        }
    }
}

/// `optimizers_config` of an update: the fields to change, others keep their value.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizersConfigDiff {
    /// New [`OptimizersConfig::deleted_threshold`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_threshold: Option<f64>,
    /// New [`OptimizersConfig::vacuum_min_vector_number`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacuum_min_vector_number: Option<usize>,
    /// New [`OptimizersConfig::default_segment_number`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_segment_number: Option<usize>,
    /// New [`OptimizersConfig::max_segment_size`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_segment_size: Option<usize>,
    /// New [`OptimizersConfig::indexing_threshold`]; a lower one indexes what now passes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexing_threshold: Option<usize>,
    /// Kept and ignored, as at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memmap_threshold: Option<u32>,
    /// Kept and ignored, as at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_interval_sec: Option<u32>,
    /// Kept and ignored, as at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_optimization_threads: Option<u32>,
}

impl OptimizersConfigDiff {
    /// `config` with the fields of this diff replaced.
    pub fn applied_to(&self, config: &OptimizersConfig) -> OptimizersConfig {
        OptimizersConfig {
            deleted_threshold: self.deleted_threshold.unwrap_or(config.deleted_threshold),
            vacuum_min_vector_number: self
                .vacuum_min_vector_number
                .unwrap_or(config.vacuum_min_vector_number),
            default_segment_number: self
                .default_segment_number
                .unwrap_or(config.default_segment_number),
            max_segment_size: self.max_segment_size.or(config.max_segment_size),
            indexing_threshold: self.indexing_threshold.or(config.indexing_threshold),
            memmap_threshold: self.memmap_threshold.or(config.memmap_threshold),
            flush_interval_sec: self.flush_interval_sec.or(config.flush_interval_sec),
            max_optimization_threads: self
                .max_optimization_threads
                .or(config.max_optimization_threads),
        }
    }
}

/// `params` of an update: Qdrant's cluster settings, kept and reported, never acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionParamsDiff {
    /// New copies per shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    /// New write quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_consistency_factor: Option<u32>,
    /// Qdrant's read fan-out; refused (rro has no replicas to fan out to and no place to keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_fan_out_factor: Option<u32>,
    /// New "payloads on disk".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk_payload: Option<bool>,
}

impl CollectionParamsDiff {
    /// `params` with the fields of this diff replaced.
    pub fn applied_to(&self, params: &ClusterParams) -> ClusterParams {
        ClusterParams {
            replication_factor: self.replication_factor.or(params.replication_factor),
            write_consistency_factor: self
                .write_consistency_factor
                .or(params.write_consistency_factor),
            on_disk_payload: self.on_disk_payload.or(params.on_disk_payload),
            ..*params
        }
    }
}

/// Body of `PATCH /collections/{name}`: `{"optimizers_config": {"indexing_threshold": 10000}}`.
/// Applied while the collection serves requests and kept in its manifest. Qdrant's per-space
/// `vectors` changes, `quantization_config`, `sparse_vectors` and `metadata` are kept as sent
/// and refused by [`check_supported`](Self::check_supported).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCollection {
    /// Optimizer thresholds to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizers_config: Option<OptimizersConfigDiff>,
    /// HNSW parameters to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    /// Cluster settings to change (kept, never acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<CollectionParamsDiff>,
    /// Request limits to change (fields given replace the current ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<StrictModeConfig>,
    /// Qdrant's per-space changes (`on_disk`, `hnsw_config`, `quantization_config`); refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<Box<serde_json::Value>>,
    /// Qdrant's quantization; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<Box<serde_json::Value>>,
    /// Qdrant's sparse vector spaces; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_vectors: Option<Box<serde_json::Value>>,
    /// Qdrant's collection metadata; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<serde_json::Value>>,
}

impl UpdateCollection {
    /// Refuse the Qdrant settings rro recognises but cannot change.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        if let Some(vectors) = &self.vectors {
            // Name the first per-space field, so the refusal points at what was asked.
            let field = vectors
                .as_object()
                .and_then(|spaces| {
                    spaces.iter().find_map(|(space, params)| {
                        let first = params.as_object()?.keys().next()?.clone();
                        Some(if space.is_empty() {
                            format!("vectors.{first}")
                        } else {
                            format!("vectors.{space}.{first}")
                        })
                    })
                })
                .unwrap_or_else(|| "vectors".to_owned());
            return Err(StorageError::unsupported(
                field,
                "a space's parameters are fixed at creation; per-space hnsw_config is refused",
            ));
        }
        refuse_if_set(
            &self.quantization_config,
            "quantization_config",
            "full-precision vectors only",
        )?;
        refuse_if_set(
            &self.sparse_vectors,
            "sparse_vectors",
            "dense vectors (`vectors`) only",
        )?;
        refuse_if_set(&self.metadata, "metadata", "no collection metadata")?;
        if let Some(params) = &self.params {
            refuse_if_set(
                &params.read_fan_out_factor,
                "params.read_fan_out_factor",
                "one copy of the data, nothing to fan out to",
            )?;
        }
        if let Some(strict) = &self.strict_mode_config {
            strict.check_supported("strict_mode_config")?;
        }
        Ok(())
    }

    /// Change the HNSW parameters by `diff`.
    pub fn hnsw_config(mut self, diff: HnswConfigDiff) -> Self {
        self.hnsw_config = Some(diff);
        self
    }

    /// Change the optimizer thresholds by `diff`.
    pub fn optimizers_config(mut self, diff: OptimizersConfigDiff) -> Self {
        self.optimizers_config = Some(diff);
        self
    }

    /// Change the request limits by `config`.
    pub fn strict_mode_config(mut self, config: StrictModeConfig) -> Self {
        self.strict_mode_config = Some(config);
        self
    }
}
