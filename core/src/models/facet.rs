//! Body and answer of `POST /collections/{name}/facet`: how many points hold each value of a
//! payload key.

use serde::{Deserialize, Serialize};

use super::Filter;

/// Qdrant's default number of hits.
pub const DEFAULT_FACET_LIMIT: usize = 10;

/// `{"key": "section", "filter": {..}, "limit": 10, "exact": true}`: the values of an indexed
/// keyword, integer or bool key among the points the filter matches, most frequent first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetRequest {
    /// The payload key; it needs a keyword, integer or bool index, as in Qdrant.
    pub key: String,
    /// Count only the points this filter matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// How many values to return (Qdrant's default: 10); at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Qdrant may estimate counts unless this is `true`; rro's counts are always exact, which
    /// either setting allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
}

impl FacetRequest {
    /// Count the values of `key` over every point.
    pub fn new(key: impl Into<String>) -> Self {
        FacetRequest {
            key: key.into(),
            filter: None,
            limit: None,
            exact: None,
        }
    }

    /// Count only the points `filter` matches.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Return at most `limit` values.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// A value of a faceted key. Values of one kind order naturally; kinds order as Qdrant's
/// (keywords, then integers, then bools).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FacetValue {
    /// A string.
    Keyword(String),
    /// An integer.
    Integer(i64),
    /// A bool.
    Bool(bool),
}

/// One value and the number of points holding it (a point holding it twice counts once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetHit {
    /// The value.
    pub value: FacetValue,
    /// Points holding it.
    pub count: u64,
}

/// `{"hits": [..]}`: by count, largest first, and by value, smallest first, among equal counts
/// (Qdrant's order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetResponse {
    /// The values.
    pub hits: Vec<FacetHit>,
}
