//! Body of `POST /collections/{name}/points/batch`: several writes applied as one.

use serde::{Deserialize, Serialize};

use super::{
    DeletePayload, DeleteVectors, PointsSelector, SetPayload, UpdateVectors, UpsertPoints,
};

/// One write of a batch, in Qdrant's JSON: an object with one key naming the kind
/// (`{"upsert": {"points": [..]}}`, `{"delete": {"points": [..]}}`, ...) whose value is the body
/// the single request of that kind takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum UpdateOperation {
    /// Insert or replace points.
    Upsert(UpsertPoints),
    /// Delete points by id or filter.
    Delete(PointsSelector),
    /// Merge keys into payloads.
    SetPayload(SetPayload),
    /// Replace payloads.
    OverwritePayload(SetPayload),
    /// Remove payload keys.
    DeletePayload(DeletePayload),
    /// Remove whole payloads.
    ClearPayload(PointsSelector),
    /// Replace some vectors of existing points.
    UpdateVectors(UpdateVectors),
    /// Remove named vectors.
    DeleteVectors(DeleteVectors),
}

impl UpdateOperation {
    /// The kind's JSON key (`"set_payload"`), to name the operation in errors.
    pub fn kind(&self) -> &'static str {
        match self {
            UpdateOperation::Upsert(_) => "upsert",
            UpdateOperation::Delete(_) => "delete",
            UpdateOperation::SetPayload(_) => "set_payload",
            UpdateOperation::OverwritePayload(_) => "overwrite_payload",
            UpdateOperation::DeletePayload(_) => "delete_payload",
            UpdateOperation::ClearPayload(_) => "clear_payload",
            UpdateOperation::UpdateVectors(_) => "update_vectors",
            UpdateOperation::DeleteVectors(_) => "delete_vectors",
        }
    }
}

/// `{"operations": [..]}`: writes applied in order, all or none, as one logged operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOperations {
    /// The writes, in the order they apply.
    pub operations: Vec<UpdateOperation>,
}

impl UpdateOperations {
    /// A batch of `operations`.
    pub fn new(operations: impl IntoIterator<Item = UpdateOperation>) -> Self {
        UpdateOperations {
            operations: operations.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qdrant_json_of_every_kind_parses() {
        let body = serde_json::json!({"operations": [
            {"upsert": {"points": [{"id": 1, "vector": [1.0, 2.0], "payload": {"a": 1}}]}},
            {"upsert": {"batch": {"ids": [2], "vectors": [[0.0, 1.0]]}}},
            {"delete": {"points": [3]}},
            {"delete": {"filter": {"must": [{"key": "a", "match": {"value": 1}}]}}},
            {"set_payload": {"payload": {"b": 2}, "points": [1], "key": "x"}},
            {"overwrite_payload": {"payload": {"b": 2}, "filter": {}}},
            {"delete_payload": {"keys": ["b"], "points": [1]}},
            {"clear_payload": {"points": [1]}},
            {"update_vectors": {"points": [{"id": 1, "vector": [3.0, 4.0]}]}},
            {"delete_vectors": {"points": [1], "vector": ["image"]}}
        ]});
        let parsed: UpdateOperations = serde_json::from_value(body).unwrap();
        let kinds: Vec<&str> = parsed.operations.iter().map(|o| o.kind()).collect();
        assert_eq!(
            kinds,
            [
                "upsert",
                "upsert",
                "delete",
                "delete",
                "set_payload",
                "overwrite_payload",
                "delete_payload",
                "clear_payload",
                "update_vectors",
                "delete_vectors"
            ]
        );
        let again: UpdateOperations =
            serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        for body in [
            serde_json::json!({"operations": [{"frobnicate": {}}]}),
            serde_json::json!({"operations": [], "extra": 1}),
            serde_json::json!({"operations": [{"delete": {"points": [1]}, "upsert": {"points": []}}]}),
        ] {
            assert!(serde_json::from_value::<UpdateOperations>(body).is_err());
        }
    }
}
