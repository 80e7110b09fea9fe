//! Nearest-neighbour search requests and results.

use serde::{Deserialize, Serialize};

use super::{Payload, PointId};

/// Body of `POST /collections/{name}/points/search`:
/// `{"vector": [0.2, 0.1], "limit": 3, "with_payload": true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query vector; its length must be the collection's vector size.
    pub vector: Vec<f32>,
    /// How many results to return at most.
    pub limit: usize,
    /// How many of the best results to skip first (for paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Whether to return payloads (default: no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_payload: Option<bool>,
    /// Whether to return vectors (default: no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_vector: Option<bool>,
    /// Leave out results worse than this score (below it for Cosine/Dot, above it for
    /// Euclid/Manhattan, whose scores are distances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// How to search: `{"hnsw_ef": 128, "exact": false}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<SearchParams>,
}

/// `params` of a search request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchParams {
    /// Candidates kept while walking the HNSW graph: higher finds more of the true nearest
    /// neighbours and takes longer. Default: the collection's `ef_construct`; never below
    /// `limit + offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_ef: Option<usize>,
    /// Compare the query with every point instead of using the index (exact, slower).
    #[serde(default)]
    pub exact: bool,
}

/// Body of `POST /collections/{name}/points/search/batch`: several searches in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequestBatch {
    /// The searches; results come back in the same order.
    pub searches: Vec<SearchRequest>,
}

impl SearchRequest {
    /// The `limit` nearest points to `vector`, without payloads or vectors.
    pub fn new(vector: Vec<f32>, limit: usize) -> Self {
        SearchRequest {
            vector,
            limit,
            offset: None,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
            params: None,
        }
    }

    /// Keep `ef` candidates while walking the HNSW graph.
    pub fn hnsw_ef(mut self, ef: usize) -> Self {
        self.params
            .get_or_insert_with(SearchParams::default)
            .hnsw_ef = Some(ef);
        self
    }

    /// Search exactly (`true`) instead of through the index.
    pub fn exact(mut self, exact: bool) -> Self {
        self.params.get_or_insert_with(SearchParams::default).exact = exact;
        self
    }

    /// Whether to return payloads.
    pub fn with_payload(mut self, yes: bool) -> Self {
        self.with_payload = Some(yes);
        self
    }

    /// Whether to return vectors.
    pub fn with_vector(mut self, yes: bool) -> Self {
        self.with_vector = Some(yes);
        self
    }

    /// Skip the `offset` best results.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Leave out results worse than `threshold`.
    pub fn score_threshold(mut self, threshold: f32) -> Self {
        self.score_threshold = Some(threshold);
        self
    }
}

/// One search hit: `{"id": 1, "version": 3, "score": 0.9, "payload": null, "vector": null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    /// The point's id.
    pub id: PointId,
    /// The write (operation id) that last changed the point.
    pub version: u64,
    /// Similarity (Cosine, Dot) or distance (Euclid, Manhattan) to the query.
    pub score: f32,
    /// The payload, when asked for.
    #[serde(default)]
    pub payload: Option<Payload>,
    /// The stored vector, when asked for.
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
}
