//! `facet`: how many live points hold each value of an indexed keyword, integer or bool key,
//! among those a filter matches.
//!
//! As in Qdrant the key must have an index of one of those kinds (the index decides which
//! values count: strings for keyword, `i64` integers for integer, bools for bool). A sealed
//! segment whose index is built answers from its posting lists; the write segment, and a
//! sealed one whose index is not built yet, from its payloads, with the index's rules (the
//! values the key reaches, arrays opened one level, each distinct value once per point). So
//! counts are exact and never depend on whether an index is ready.

use std::collections::HashMap;

use serde_json::Value;

use super::{read, Collection};
use crate::error::StorageError;
use crate::models::{
    parse_key, FacetHit, FacetRequest, FacetResponse, FacetValue, Match, MatchValue, Payload,
    PayloadSchemaType, DEFAULT_FACET_LIMIT,
};
use crate::storage::filter::values_at;

impl Collection {
    /// The most frequent values of `request.key` among the live points its filter matches
    /// (all without one), with exact counts; see the module docs.
    pub fn facet(&self, request: &FacetRequest) -> Result<FacetResponse, StorageError> {
        let limit = request.limit.unwrap_or(DEFAULT_FACET_LIMIT);
        if limit == 0 {
            return Err(StorageError::BadRequest(
                "facet limit must be at least 1".into(),
            ));
        }
        parse_key(&request.key).map_err(|why| {
            StorageError::BadRequest(format!("facet key \"{}\": {why}", request.key))
        })?;
        if let Some(filter) = &request.filter {
            filter.validate().map_err(StorageError::from)?;
        }
        let state = read(&self.state);
        let kind = match state.schema.get(&request.key) {
            Some(
                kind @ (PayloadSchemaType::Keyword
                | PayloadSchemaType::Integer
                | PayloadSchemaType::Bool),
            ) => *kind,
            _ => {
                return Err(StorageError::BadRequest(format!(
                    "facet needs an index on \"{}\" of one of the kinds keyword, integer, bool \
                     (as Qdrant); create one with create_field_index",
                    request.key
                )))
            }
        };
        // Per segment, which offsets the filter matches (`None`: every live one).
        let matched: Option<Vec<Vec<bool>>> = request.filter.as_ref().map(|filter| {
            let mut matched: Vec<Vec<bool>> = state
                .segments
                .iter()
                .map(|s| vec![false; s.data.len()])
                .collect();
            state.for_each_match(Some(filter), self.exact_limit(), &mut |_, loc| {
                matched[loc.segment as usize][loc.offset as usize] = true;
            });
            matched
        });
        let mut counts: HashMap<FacetValue, u64> = HashMap::new();
        for (position, segment) in state.segments.iter().enumerate() {
            let counted = |offset: usize| {
                !segment.deleted.contains(offset)
                    && matched.as_ref().is_none_or(|m| m[position][offset])
            };
            match segment
                .fields
                .get(&request.key)
                .filter(|i| i.kind() == kind)
            {
                Some(index) => {
                    for (condition, offsets) in index.values() {
                        let n = offsets.iter().filter(|&&o| counted(o as usize)).count() as u64;
                        let value = match condition.r#match {
                            Some(Match::Value(value)) => facet_value(value),
                            _ => None,
                        };
                        if let (Some(value), true) = (value, n > 0) {
                            *counts.entry(value).or_default() += n;
                        }
                    }
                }
                None => {
                    for offset in (0..segment.data.len()).filter(|&o| counted(o)) {
                        if let Some(payload) = segment.data.payload_ref(offset) {
                            for value in values_of(&payload, &request.key, kind) {
                                *counts.entry(value).or_default() += 1;
                            }
                        }
                    }
                }
            }
        }
        let mut hits: Vec<FacetHit> = counts
            .into_iter()
            .map(|(value, count)| FacetHit { value, count })
            .collect();
        hits.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        hits.truncate(limit);
        Ok(FacetResponse { hits })
    }
}

fn facet_value(value: MatchValue) -> Option<FacetValue> {
    Some(match value {
        MatchValue::Keyword(word) => FacetValue::Keyword(word),
        MatchValue::Integer(n) => FacetValue::Integer(n),
        MatchValue::Bool(b) => FacetValue::Bool(b),
    })
}

/// The distinct values of `kind` that `key` reaches in `payload`, arrays opened one level:
/// what an index of that kind would hold for the point.
fn values_of(payload: &Payload, key: &str, kind: PayloadSchemaType) -> Vec<FacetValue> {
    let mut values: Vec<FacetValue> = values_at(payload, key)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|value| match value {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            single => vec![single],
        })
        .filter_map(|leaf| match (kind, leaf) {
            (PayloadSchemaType::Keyword, Value::String(s)) => Some(FacetValue::Keyword(s.clone())),
            (PayloadSchemaType::Integer, Value::Number(n)) => n.as_i64().map(FacetValue::Integer),
            (PayloadSchemaType::Bool, Value::Bool(b)) => Some(FacetValue::Bool(*b)),
            _ => None,
        })
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::models::{
        CreateFieldIndex, Distance, FacetRequest, FacetValue, PayloadSchemaType, PointStruct,
        VectorParams,
    };
    use crate::storage::TableOfContent;

    /// After a flush the sealed segment has its keyword index, and the facet read from it
    /// equals the one read from the payloads before.
    #[test]
    fn a_sealed_segment_answers_from_its_index_with_the_same_counts() {
        let dir = tempfile::tempdir().unwrap();
        let toc = TableOfContent::open(&Config::new(dir.path())).unwrap();
        toc.create_collection("c", VectorParams::new(1, Distance::Dot).into())
            .unwrap();
        let c = toc.collection("c").unwrap();
        c.create_field_index(&CreateFieldIndex::new("s", PayloadSchemaType::Keyword))
            .unwrap();
        let words = ["a", "b", "b", "c", "c", "c"];
        c.upsert(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    PointStruct::new(i as u64, vec![1.0])
                        .with_payload(crate::payload!({"s": [w, w]}))
                })
                .collect(),
        )
        .unwrap();
        let before = c.facet(&FacetRequest::new("s")).unwrap();
        let expected = [("c", 3), ("b", 2), ("a", 1)];
        let got: Vec<(FacetValue, u64)> = before
            .hits
            .iter()
            .map(|h| (h.value.clone(), h.count))
            .collect();
        let want: Vec<(FacetValue, u64)> = expected
            .iter()
            .map(|(w, n)| (FacetValue::Keyword(w.to_string()), *n))
            .collect();
        assert_eq!(got, want);
        toc.flush().unwrap();
        let indexed = super::read(&c.state).segments[0].fields.get("s").is_some();
        assert!(indexed, "the sealed segment has its index");
        assert_eq!(c.facet(&FacetRequest::new("s")).unwrap(), before);
    }
}
