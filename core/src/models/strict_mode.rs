//! Qdrant's `strict_mode_config`: per-collection limits that refuse requests too costly for
//! the deployment, and the checks that apply them. Set at creation or with
//! `update_collection`, kept in the manifest, reported in collection info.
//!
//! rro enforces, when `enabled` is true: `max_query_limit` (the `limit` of searches,
//! recommendations, groups and scrolls), `unindexed_filtering_retrieve` and
//! `unindexed_filtering_update` (`false` refuses a filter on a payload key without an index,
//! in reads and in writes by filter respectively; any index kind on the key counts; a `nested`
//! condition's keys count as `key[].inner`), `search_max_hnsw_ef`, `search_allow_exact`,
//! `upsert_max_batchsize` (points of an upsert or vector update), `filter_max_conditions`
//! (conditions at every depth of one filter) and `condition_max_size` (values of one
//! `match.any`/`match.except` or ids of one `has_id`). Every other field of Qdrant's type is
//! refused as `Unsupported`.

use serde::{Deserialize, Serialize};

use super::{AnyVariants, Condition, Filter, Match, SearchParams};
use crate::error::StorageError;

/// `strict_mode_config` of a collection: `{"enabled": true, "max_query_limit": 100}`. Absent
/// fields impose nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrictModeConfig {
    /// Whether the limits apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Largest `limit` of a search, recommendation, group search or scroll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_limit: Option<usize>,
    /// Qdrant's largest per-request `timeout`; refused (rro requests carry no timeout, the
    /// client handle's applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout: Option<usize>,
    /// `false`: reads may filter only on indexed payload keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_retrieve: Option<bool>,
    /// `false`: writes by filter may filter only on indexed payload keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_update: Option<bool>,
    /// Largest `params.hnsw_ef` of a search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_hnsw_ef: Option<usize>,
    /// `false`: searches may not ask for `params.exact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_allow_exact: Option<bool>,
    /// Qdrant's quantization oversampling limit; refused (no quantization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_oversampling: Option<f64>,
    /// Most points in one upsert or vector update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert_max_batchsize: Option<usize>,
    /// Qdrant's collection vector size limit; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_vector_size_bytes: Option<usize>,
    /// Qdrant's read rate limit; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_rate_limit: Option<usize>,
    /// Qdrant's write rate limit; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_rate_limit: Option<usize>,
    /// Qdrant's collection payload size limit; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_payload_size_bytes: Option<usize>,
    /// Qdrant's point count limit; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_count: Option<usize>,
    /// Most conditions in one filter, counted at every depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_max_conditions: Option<usize>,
    /// Most values in one `match.any`/`match.except`, or ids in one `has_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_max_size: Option<usize>,
    /// Qdrant's multivector limits; refused (no multivectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<Box<serde_json::Value>>,
    /// Qdrant's sparse vector limits; refused (no sparse vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_config: Option<Box<serde_json::Value>>,
    /// Qdrant's payload index count limit; refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_index_count: Option<usize>,
}

/// What rro enforces, for the `supported` text of a refusal.
const SUPPORTED: &str = "strict mode enforces enabled, max_query_limit, unindexed_filtering_retrieve, unindexed_filtering_update, search_max_hnsw_ef, search_allow_exact, upsert_max_batchsize, filter_max_conditions and condition_max_size";

fn forbidden(description: String, help: String) -> StorageError {
    StorageError::StrictMode { description, help }
}

impl StrictModeConfig {
    /// Refuse the fields rro does not enforce; `path` is where the config is in the request.
    pub fn check_supported(&self, path: &str) -> Result<(), StorageError> {
        let refused = [
            ("max_timeout", self.max_timeout.is_some()),
            (
                "search_max_oversampling",
                self.search_max_oversampling.is_some(),
            ),
            (
                "max_collection_vector_size_bytes",
                self.max_collection_vector_size_bytes.is_some(),
            ),
            ("read_rate_limit", self.read_rate_limit.is_some()),
            ("write_rate_limit", self.write_rate_limit.is_some()),
            (
                "max_collection_payload_size_bytes",
                self.max_collection_payload_size_bytes.is_some(),
            ),
            ("max_points_count", self.max_points_count.is_some()),
            ("multivector_config", self.multivector_config.is_some()),
            ("sparse_config", self.sparse_config.is_some()),
            (
                "max_payload_index_count",
                self.max_payload_index_count.is_some(),
            ),
        ];
        match refused.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(StorageError::unsupported(
                format!("{path}.{field}"),
                SUPPORTED,
            )),
            None => Ok(()),
        }
    }

    /// This config with every field `update` sets replaced (Qdrant's update semantics).
    pub fn merged(&self, update: &StrictModeConfig) -> StrictModeConfig {
        fn pick<T: Clone>(new: &Option<T>, old: &Option<T>) -> Option<T> {
            new.clone().or_else(|| old.clone())
        }
        StrictModeConfig {
            enabled: pick(&update.enabled, &self.enabled),
            max_query_limit: pick(&update.max_query_limit, &self.max_query_limit),
            max_timeout: pick(&update.max_timeout, &self.max_timeout),
            unindexed_filtering_retrieve: pick(
                &update.unindexed_filtering_retrieve,
                &self.unindexed_filtering_retrieve,
            ),
            unindexed_filtering_update: pick(
                &update.unindexed_filtering_update,
                &self.unindexed_filtering_update,
            ),
            search_max_hnsw_ef: pick(&update.search_max_hnsw_ef, &self.search_max_hnsw_ef),
            search_allow_exact: pick(&update.search_allow_exact, &self.search_allow_exact),
            search_max_oversampling: pick(
                &update.search_max_oversampling,
                &self.search_max_oversampling,
            ),
            upsert_max_batchsize: pick(&update.upsert_max_batchsize, &self.upsert_max_batchsize),
            max_collection_vector_size_bytes: pick(
                &update.max_collection_vector_size_bytes,
                &self.max_collection_vector_size_bytes,
            ),
            read_rate_limit: pick(&update.read_rate_limit, &self.read_rate_limit),
            write_rate_limit: pick(&update.write_rate_limit, &self.write_rate_limit),
            max_collection_payload_size_bytes: pick(
                &update.max_collection_payload_size_bytes,
                &self.max_collection_payload_size_bytes,
            ),
            max_points_count: pick(&update.max_points_count, &self.max_points_count),
            filter_max_conditions: pick(&update.filter_max_conditions, &self.filter_max_conditions),
            condition_max_size: pick(&update.condition_max_size, &self.condition_max_size),
            multivector_config: pick(&update.multivector_config, &self.multivector_config),
            sparse_config: pick(&update.sparse_config, &self.sparse_config),
            max_payload_index_count: pick(
                &update.max_payload_index_count,
                &self.max_payload_index_count,
            ),
        }
    }

    /// Whether the limits apply.
    pub fn is_enabled(&self) -> bool {
        self.enabled == Some(true)
    }

    /// Check a read: its `limit`, its filter (`indexed` says which payload keys have an
    /// index) and its search parameters.
    pub(crate) fn check_read(
        &self,
        limit: Option<usize>,
        filter: Option<&Filter>,
        params: Option<&SearchParams>,
        indexed: &dyn Fn(&str) -> bool,
    ) -> Result<(), StorageError> {
        if !self.is_enabled() {
            return Ok(());
        }
        if let (Some(limit), Some(max)) = (limit, self.max_query_limit) {
            check_limit(limit, max, "limit")?;
        }
        if let Some(params) = params {
            if let (Some(ef), Some(max)) = (params.hnsw_ef, self.search_max_hnsw_ef) {
                check_limit(ef, max, "hnsw_ef")?;
            }
            if params.exact && self.search_allow_exact == Some(false) {
                return Err(forbidden(
                    "Exact search disabled!".into(),
                    "Set \"exact\" to false.".into(),
                ));
            }
        }
        self.check_filter(filter, self.unindexed_filtering_retrieve, indexed)
    }

    /// Check the filter of a write by filter.
    pub(crate) fn check_update_filter(
        &self,
        filter: Option<&Filter>,
        indexed: &dyn Fn(&str) -> bool,
    ) -> Result<(), StorageError> {
        if !self.is_enabled() {
            return Ok(());
        }
        self.check_filter(filter, self.unindexed_filtering_update, indexed)
    }

    /// Check the number of points of an upsert or vector update.
    pub(crate) fn check_batch(&self, points: usize) -> Result<(), StorageError> {
        match (self.is_enabled(), self.upsert_max_batchsize) {
            (true, Some(max)) if points > max => Err(forbidden(
                format!(
                    "Batch size {points} exceeds the limit of {max} for \"upsert_max_batchsize\""
                ),
                format!("Reduce your batch to at most {max} points."),
            )),
            _ => Ok(()),
        }
    }

    /// Whether checking a filter needs to know which keys are indexed.
    pub(crate) fn needs_schema(&self) -> bool {
        self.is_enabled()
            && (self.unindexed_filtering_retrieve == Some(false)
                || self.unindexed_filtering_update == Some(false))
    }

    fn check_filter(
        &self,
        filter: Option<&Filter>,
        unindexed_allowed: Option<bool>,
        indexed: &dyn Fn(&str) -> bool,
    ) -> Result<(), StorageError> {
        let Some(filter) = filter else {
            return Ok(());
        };
        if let Some(max) = self.filter_max_conditions {
            let count = count_conditions(filter);
            if count > max {
                return Err(forbidden(
                    format!("Filter condition limit reached ({count} > {max})"),
                    format!("Reduce the number of conditions of your filter to at most {max}."),
                ));
            }
        }
        let mut failure = None;
        for_each_condition(filter, "", &mut |prefix, condition| {
            if failure.is_some() {
                return;
            }
            if let Some(max) = self.condition_max_size {
                let size = condition_size(condition);
                if size > max {
                    failure = Some(forbidden(
                        format!("Condition size limit exceeded ({size} > {max})"),
                        format!("Use at most {max} values in one condition."),
                    ));
                    return;
                }
            }
            if unindexed_allowed == Some(false) {
                if let Some(key) = condition_key(condition) {
                    let key = format!("{prefix}{key}");
                    if !indexed(&key) {
                        failure = Some(forbidden(
                            format!("Index required but not found for \"{key}\""),
                            "Create an index for this key or use a different filter.".into(),
                        ));
                    }
                }
            }
        });
        failure.map_or(Ok(()), Err)
    }
}

fn check_limit(value: usize, max: usize, name: &str) -> Result<(), StorageError> {
    if value > max {
        return Err(forbidden(
            format!("Limit exceeded {value} > {max} for \"{name}\""),
            format!("Reduce the \"{name}\" parameter to or below {max}."),
        ));
    }
    Ok(())
}

/// The conditions of `filter`'s own lists.
fn conditions(filter: &Filter) -> impl Iterator<Item = &Condition> {
    let lists = [&filter.must, &filter.should, &filter.must_not];
    lists
        .into_iter()
        .flatten()
        .flatten()
        .chain(filter.min_should.iter().flat_map(|m| m.conditions.iter()))
}

/// Conditions at every depth; a nested filter counts its own conditions (the client bounds
/// filter depth before a request reaches a handler, so this recursion is bounded).
fn count_conditions(filter: &Filter) -> usize {
    conditions(filter)
        .map(|condition| match condition {
            Condition::Filter(inner) => count_conditions(inner),
            Condition::Nested(nested) => count_conditions(&nested.filter).max(1),
            _ => 1,
        })
        .sum()
}

/// Call `f` with every leaf condition and the key prefix it sits under (`diet[].` inside a
/// `nested` on `diet`).
fn for_each_condition(filter: &Filter, prefix: &str, f: &mut dyn FnMut(&str, &Condition)) {
    for condition in conditions(filter) {
        match condition {
            Condition::Filter(inner) => for_each_condition(inner, prefix, f),
            Condition::Nested(nested) => {
                let key = nested.key.trim_end_matches("[]");
                for_each_condition(&nested.filter, &format!("{prefix}{key}[]."), f)
            }
            leaf => f(prefix, leaf),
        }
    }
}

fn condition_key(condition: &Condition) -> Option<&str> {
    match condition {
        Condition::Field(field) => Some(&field.key),
        Condition::IsEmpty(field) | Condition::IsNull(field) => Some(&field.key),
        _ => None,
    }
}

fn condition_size(condition: &Condition) -> usize {
    match condition {
        Condition::HasId(ids) => ids.len(),
        Condition::Field(field) => match &field.r#match {
            Some(Match::Any(values) | Match::Except(values)) => match values {
                AnyVariants::Keywords(list) => list.len(),
                AnyVariants::Integers(list) => list.len(),
            },
            _ => 0,
        },
        _ => 0,
    }
}
