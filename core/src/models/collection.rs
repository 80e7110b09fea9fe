//! Collection configuration and description.

use serde::{Deserialize, Serialize};

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
}

impl VectorParams {
    /// Vectors of `size` components compared by `distance`.
    pub fn new(size: u64, distance: Distance) -> Self {
        VectorParams { size, distance }
    }
}

/// Body of `PUT /collections/{name}`: `{"vectors": {"size": 4, "distance": "Dot"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateCollection {
    /// The collection's vector space.
    pub vectors: VectorParams,
}

impl From<VectorParams> for CreateCollection {
    fn from(vectors: VectorParams) -> Self {
        CreateCollection { vectors }
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
    pub vectors: VectorParams,
}

/// `config` of a collection's info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Parameters fixed at creation.
    pub params: CollectionParams,
}

/// Result of `GET /collections/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Health of the collection.
    pub status: CollectionStatus,
    /// Number of live points.
    pub points_count: u64,
    /// Number of segments the points live in.
    pub segments_count: u64,
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
