//! Nearest-neighbour search requests and results.

use serde::{Deserialize, Serialize};

use crate::error::StorageError;

use super::collection::refuse_if_set;
use super::{
    Filter, NamedVectorStruct, Payload, PointId, VectorStruct, WithPayloadSelector,
    WithVectorSelector,
};

/// Body of `POST /collections/{name}/points/search`:
/// `{"vector": [0.2, 0.1], "limit": 3, "with_payload": true}`. Qdrant's `shard_key` is kept
/// and refused (rro has no custom sharding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query vector (`[..]`), or `{"name": "image", "vector": [..]}` for a named space;
    /// its length must be the space's vector size.
    pub vector: NamedVectorStruct,
    /// How many results to return at most.
    pub limit: usize,
    /// Only points this filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// How many of the best results to skip first (for paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Which payload keys to return (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_payload: Option<WithPayloadSelector>,
    /// Whether to return vectors (default: no).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "with_vectors"
    )]
    pub with_vector: Option<WithVectorSelector>,
    /// Leave out results worse than this score (below it for Cosine/Dot, above it for
    /// Euclid/Manhattan, whose scores are distances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// How to search: `{"hnsw_ef": 128, "exact": false}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<SearchParams>,
    /// Qdrant's shard selection; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
}

/// The `Unsupported` error for a `shard_key`.
pub(crate) fn refuse_shard_key(shard_key: &Option<serde_json::Value>) -> Result<(), StorageError> {
    refuse_if_set(
        shard_key,
        "shard_key",
        "one shard per collection; leave shard_key out",
    )
}

impl SearchRequest {
    /// Refuse the Qdrant fields rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        refuse_shard_key(&self.shard_key)?;
        check_params(self.params.as_ref())
    }
}

fn check_params(params: Option<&SearchParams>) -> Result<(), StorageError> {
    params.map_or(Ok(()), SearchParams::check_supported)
}

/// `params.quantization` of a search: how Qdrant uses quantized vectors. rro refuses
/// `quantization_config`, so no collection has quantized vectors, and Qdrant then searches
/// the original vectors whatever these say: they are accepted, kept and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizationSearchParams {
    /// Skip quantized vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<bool>,
    /// Re-score the best quantized hits with the original vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescore: Option<bool>,
    /// How many more quantized candidates to fetch before re-scoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversampling: Option<f64>,
}

/// `params` of a search request. `quantization` is accepted and ignored (no rro collection
/// has quantized vectors); `indexed_only: true` and `acorn` are refused.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Candidates kept while walking the HNSW graph: higher finds more of the true nearest
    /// neighbours and takes longer. Default: the collection's `ef_construct`; never below
    /// `limit + offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_ef: Option<usize>,
    /// Compare the query with every point instead of using the index (exact, slower).
    #[serde(default)]
    pub exact: bool,
    /// Qdrant's quantized-search settings; kept and ignored (see
    /// [`QuantizationSearchParams`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantizationSearchParams>,
    /// Qdrant's "search only indexed segments": `false` is what rro does; `true` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_only: Option<bool>,
    /// Qdrant's ACORN filtered-graph search; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acorn: Option<AcornSearchParams>,
}

/// `params.acorn` of a search (Qdrant's ACORN filtered-graph search); rro refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcornSearchParams {
    /// Use ACORN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Filter selectivity above which ACORN is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_selectivity: Option<f64>,
}

impl SearchParams {
    /// Refuse the Qdrant settings rro does not implement.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        if self.indexed_only == Some(true) {
            return Err(StorageError::unsupported(
                "params.indexed_only",
                "every segment is searched (unindexed ones exactly); leave indexed_only out or false",
            ));
        }
        refuse_if_set(
            &self.acorn,
            "params.acorn",
            "filtered searches walk the graph with the filter, or scan exactly when few points match",
        )
    }
}

/// Body of `POST /collections/{name}/points/search/batch`: several searches in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequestBatch {
    /// The searches; results come back in the same order.
    pub searches: Vec<SearchRequest>,
}

impl SearchRequest {
    /// The `limit` nearest points to `vector`, without payloads or vectors.
    pub fn new(vector: impl Into<NamedVectorStruct>, limit: usize) -> Self {
        SearchRequest {
            vector: vector.into(),
            limit,
            filter: None,
            offset: None,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
            params: None,
            shard_key: None,
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

    /// Only points `filter` matches.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Which payload keys to return: `true`, `false`, or a [`WithPayloadSelector`].
    pub fn with_payload(mut self, selector: impl Into<WithPayloadSelector>) -> Self {
        self.with_payload = Some(selector.into());
        self
    }

    /// Which vectors to return: `true`, `false`, or names.
    pub fn with_vector(mut self, selector: impl Into<WithVectorSelector>) -> Self {
        self.with_vector = Some(selector.into());
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
    /// The stored vector or named vectors, when asked for.
    #[serde(default)]
    pub vector: Option<VectorStruct>,
}

impl ScoredPoint {
    /// The returned unnamed vector, if any (`None` for named vectors).
    pub fn plain_vector(&self) -> Option<&[f32]> {
        self.vector.as_ref().and_then(VectorStruct::as_single)
    }
}

/// A positive or negative example of a recommendation: a point id or a vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RecommendExample {
    /// A stored point, by id.
    Id(PointId),
    /// A vector.
    Vector(Vec<f32>),
}

impl From<u64> for RecommendExample {
    fn from(id: u64) -> Self {
        RecommendExample::Id(PointId::Num(id))
    }
}

impl From<PointId> for RecommendExample {
    fn from(id: PointId) -> Self {
        RecommendExample::Id(id)
    }
}

impl From<Vec<f32>> for RecommendExample {
    fn from(vector: Vec<f32>) -> Self {
        RecommendExample::Vector(vector)
    }
}

impl<'de> Deserialize<'de> for RecommendExample {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.is_array() {
            serde_json::from_value(value)
                .map(RecommendExample::Vector)
                .map_err(serde::de::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(RecommendExample::Id)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// How examples are combined: only `average_vector` (Qdrant's default) is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendStrategy {
    /// Search for `avg(positive) + avg(positive) - avg(negative)`, as Qdrant does.
    #[default]
    AverageVector,
    /// Score each candidate by its best positive against its best negative example; rro refuses
    /// it with a typed error.
    BestScore,
}

/// Body of `POST /collections/{name}/points/recommend`:
/// `{"positive": [100, 231], "negative": [718], "limit": 10, "filter": {...}}`. Qdrant's
/// `lookup_from` and `shard_key` are kept and refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// Points (ids) or vectors the results should be like; at least one.
    pub positive: Vec<RecommendExample>,
    /// Points or vectors the results should be unlike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub negative: Vec<RecommendExample>,
    /// How the examples are combined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RecommendStrategy>,
    /// Only points this filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The named vector space to recommend in (default: the unnamed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    /// How to search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<SearchParams>,
    /// How many results to return at most; example points are never among them.
    pub limit: usize,
    /// How many of the best results to skip first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Which payload keys to return (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_payload: Option<WithPayloadSelector>,
    /// Whether to return vectors (default: no).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "with_vectors"
    )]
    pub with_vector: Option<WithVectorSelector>,
    /// Leave out results worse than this score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// Qdrant's "take example ids from another collection"; refused (never answered from
    /// this collection instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_from: Option<serde_json::Value>,
    /// Qdrant's shard selection; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
}

impl RecommendRequest {
    /// Refuse the Qdrant fields rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        refuse_shard_key(&self.shard_key)?;
        refuse_if_set(
            &self.lookup_from,
            "lookup_from",
            "example ids are looked up in the collection recommended from",
        )?;
        if self.strategy == Some(RecommendStrategy::BestScore) {
            return Err(StorageError::unsupported(
                "strategy",
                "the average_vector strategy",
            ));
        }
        check_params(self.params.as_ref())
    }

    /// The `limit` points most like `positive`.
    pub fn new(
        positive: impl IntoIterator<Item = impl Into<RecommendExample>>,
        limit: usize,
    ) -> Self {
        RecommendRequest {
            positive: positive.into_iter().map(Into::into).collect(),
            negative: Vec::new(),
            strategy: None,
            filter: None,
            using: None,
            params: None,
            limit,
            offset: None,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
            lookup_from: None,
            shard_key: None,
        }
    }

    /// Results should be unlike these.
    pub fn negative(
        mut self,
        negative: impl IntoIterator<Item = impl Into<RecommendExample>>,
    ) -> Self {
        self.negative = negative.into_iter().map(Into::into).collect();
        self
    }

    /// Only points `filter` matches.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Which payload keys to return.
    pub fn with_payload(mut self, selector: impl Into<WithPayloadSelector>) -> Self {
        self.with_payload = Some(selector.into());
        self
    }

    /// Recommend in the named vector space `name`.
    pub fn using(mut self, name: impl Into<String>) -> Self {
        self.using = Some(name.into());
        self
    }
}

/// Body of `POST /collections/{name}/points/search/groups`: the best `limit` groups of points
/// sharing a value at `group_by`, up to `group_size` hits each. Qdrant's `with_lookup` and
/// `shard_key` are kept and refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchGroupsRequest {
    /// The query vector (named, for a named space).
    pub vector: NamedVectorStruct,
    /// Only points this filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// How to search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<SearchParams>,
    /// Which payload keys to return (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_payload: Option<WithPayloadSelector>,
    /// Whether to return vectors (default: no).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "with_vectors"
    )]
    pub with_vector: Option<WithVectorSelector>,
    /// Leave out results worse than this score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f32>,
    /// The payload key to group by: its string or integer values (each value of an array
    /// puts the point in that group).
    pub group_by: String,
    /// Hits per group at most.
    pub group_size: usize,
    /// Groups at most.
    pub limit: usize,
    /// Qdrant's "attach points of another collection to each group"; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_lookup: Option<serde_json::Value>,
    /// Qdrant's shard selection; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
}

impl SearchGroupsRequest {
    /// Refuse the Qdrant fields rro recognises but does not implement.
    pub fn check_supported(&self) -> Result<(), StorageError> {
        refuse_shard_key(&self.shard_key)?;
        refuse_if_set(
            &self.with_lookup,
            "with_lookup",
            "groups carry only their hits",
        )?;
        check_params(self.params.as_ref())
    }

    /// The `limit` best groups by `group_by`, `group_size` hits each.
    pub fn new(
        vector: impl Into<NamedVectorStruct>,
        group_by: impl Into<String>,
        group_size: usize,
        limit: usize,
    ) -> Self {
        SearchGroupsRequest {
            vector: vector.into(),
            filter: None,
            params: None,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
            group_by: group_by.into(),
            group_size,
            limit,
            with_lookup: None,
            shard_key: None,
        }
    }

    /// Only points `filter` matches.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Which payload keys to return.
    pub fn with_payload(mut self, selector: impl Into<WithPayloadSelector>) -> Self {
        self.with_payload = Some(selector.into());
        self
    }
}

/// The value a group is keyed by: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupId {
    /// An integer value.
    Int(i64),
    /// A string value.
    Str(String),
}

/// One group of hits: `{"id": "libs", "hits": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointGroup {
    /// The value at `group_by` the hits share.
    pub id: GroupId,
    /// The group's hits, best first.
    pub hits: Vec<ScoredPoint>,
}

/// Result of a group search: `{"groups": [...]}`, best group (by its best hit) first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupsResult {
    /// The groups.
    pub groups: Vec<PointGroup>,
}
