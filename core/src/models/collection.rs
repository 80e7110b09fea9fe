//! Collection configuration and description.

use serde::{Deserialize, Serialize};

use super::VectorsConfig;

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

/// Size and distance of a collection's vectors: `{"size": 384, "distance": "Cosine"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl VectorParams {
    /// Vectors of `size` components compared by `distance`, kept in RAM.
    pub fn new(size: u64, distance: Distance) -> Self {
        VectorParams {
            size,
            distance,
            on_disk: None,
        }
    }

    /// Keep sealed segments' vectors memory-mapped from disk (`true`) or in RAM (`false`).
    pub fn on_disk(mut self, on_disk: bool) -> Self {
        self.on_disk = Some(on_disk);
        self
    }
}

/// The HNSW index of a collection: `{"m": 16, "ef_construct": 100, "full_scan_threshold": 10000}`.
/// Fields left out of the JSON take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
        }
    }
}

/// When the optimizer seals, indexes, merges and vacuums segments:
/// `{"indexing_threshold": 20000, "default_segment_number": 2}`. Sizes are in kilobytes of
/// vectors, as in Qdrant (a 384-d vector takes 1.5 KiB). Fields left out take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
}

impl Default for OptimizersConfig {
    fn default() -> Self {
        OptimizersConfig {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size: None,
            indexing_threshold: None,
        }
    }
}

/// Default of [`OptimizersConfig::indexing_threshold`], in KiB.
pub const DEFAULT_INDEXING_THRESHOLD_KB: usize = 20_000;
/// Default of [`OptimizersConfig::max_segment_size`], in KiB.
pub const DEFAULT_MAX_SEGMENT_SIZE_KB: usize = 200_000;

/// Body of `PUT /collections/{name}`: `{"vectors": {"size": 4, "distance": "Dot"}}`, optionally
/// with `hnsw_config` and `optimizers_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateCollection {
    /// The collection's vector space.
    pub vectors: VectorsConfig,
    /// The HNSW index parameters (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfig>,
    /// The optimizer's thresholds (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizers_config: Option<OptimizersConfig>,
}

impl CreateCollection {
    /// A collection of `vectors` with default index and optimizer settings.
    pub fn new(vectors: impl Into<VectorsConfig>) -> Self {
        CreateCollection {
            vectors: vectors.into(),
            hnsw_config: None,
            optimizers_config: None,
        }
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
