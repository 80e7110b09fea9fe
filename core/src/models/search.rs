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
        }
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
