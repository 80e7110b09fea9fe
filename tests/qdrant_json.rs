//! Request and response bodies read and write the same JSON as Qdrant's REST API, so an
//! application can send them to a Qdrant cluster unchanged. The literals below are shaped like
//! the examples in Qdrant's documentation.

use rro::models::{
    CollectionsResponse, CreateCollection, Distance, GetPoints, PointId, PointsSelector,
    ScoredPoint, SearchRequest, UpdateResult, UpdateStatus, UpsertPoints, VectorParams,
};
use serde_json::json;

#[test]
fn create_collection_body() {
    let body: CreateCollection =
        serde_json::from_value(json!({"vectors": {"size": 300, "distance": "Cosine"}})).unwrap();
    assert_eq!(
        body.vectors,
        VectorParams::new(300, Distance::Cosine).into()
    );
    for (name, distance) in [
        ("Dot", Distance::Dot),
        ("Euclid", Distance::Euclid),
        ("Manhattan", Distance::Manhattan),
    ] {
        assert_eq!(serde_json::to_value(distance).unwrap(), json!(name));
    }
    assert!(serde_json::from_value::<CreateCollection>(
        json!({"vectors": {"size": 3, "distance": "cosine"}})
    )
    .is_err());
}

#[test]
fn upsert_body_with_numeric_and_uuid_ids() {
    let body: UpsertPoints = serde_json::from_value(json!({
        "points": [
            {"id": 1, "payload": {"color": "red"}, "vector": [0.9, 0.1, 0.1]},
            {"id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "payload": {"color": "green"}, "vector": [0.1, 0.9, 0.1]},
            {"id": 3, "vector": [0.1, 0.1, 0.9]}
        ]
    }))
    .unwrap();
    assert_eq!(body.points[0].id, PointId::Num(1));
    assert!(matches!(body.points[1].id, PointId::Uuid(_)));
    assert_eq!(body.points[1].payload.as_ref().unwrap()["color"], "green");
    assert_eq!(body.points[2].payload, None);
}

#[test]
fn bad_point_ids_are_clear_errors() {
    for (bad, hint) in [
        (json!(-1), "negative"),
        (json!("not-a-uuid"), "not a UUID"),
        (json!(1.5), "point id"),
        (json!(null), "point id"),
    ] {
        let err = serde_json::from_value::<PointId>(bad.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains(hint), "{bad}: {err}");
    }
    assert_eq!("42".parse::<PointId>(), Ok(PointId::Num(42)));
    assert!("forty-two".parse::<PointId>().is_err());
}

#[test]
fn search_request_body_defaults_like_qdrant() {
    let body: SearchRequest =
        serde_json::from_value(json!({"vector": [0.2, 0.1, 0.9, 0.7], "limit": 3})).unwrap();
    assert_eq!(body, SearchRequest::new(vec![0.2, 0.1, 0.9, 0.7], 3));
    let full: SearchRequest = serde_json::from_value(json!({
        "vector": [0.2, 0.1], "limit": 3, "offset": 1, "with_payload": true, "with_vector": false, "score_threshold": 0.5
    }))
    .unwrap();
    assert_eq!(
        full,
        SearchRequest::new(vec![0.2, 0.1], 3)
            .offset(1)
            .with_payload(true)
            .with_vector(false)
            .score_threshold(0.5)
    );
    // Round trip writes only what was set.
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"vector": [0.2f32, 0.1f32, 0.9f32, 0.7f32], "limit": 3})
    );
}

#[test]
fn retrieve_and_delete_bodies() {
    let get: GetPoints = serde_json::from_value(json!({"ids": [0, 3, 100]})).unwrap();
    assert!(
        get.with_payload.is_enabled() && !get.with_vector.is_enabled(),
        "Qdrant returns payloads but not vectors by default"
    );
    let delete: PointsSelector = serde_json::from_value(json!({"points": [0, 3, 100]})).unwrap();
    assert_eq!(delete, PointsSelector::ids([0u64, 3, 100]));
}

#[test]
fn responses_have_qdrant_field_names() {
    let hit = ScoredPoint {
        id: PointId::Num(3),
        version: 2,
        score: 0.5,
        payload: None,
        vector: None,
    };
    assert_eq!(
        serde_json::to_value(&hit).unwrap(),
        json!({"id": 3, "version": 2, "score": 0.5, "payload": null, "vector": null})
    );
    let update = UpdateResult {
        operation_id: 7,
        status: UpdateStatus::Completed,
    };
    assert_eq!(
        serde_json::to_value(update).unwrap(),
        json!({"operation_id": 7, "status": "completed"})
    );
    let list: CollectionsResponse =
        serde_json::from_value(json!({"collections": [{"name": "test_collection"}]})).unwrap();
    assert_eq!(list.collections[0].name, "test_collection");
}

/// A field Qdrant does not have (a typo) is a parse error naming it, wherever it is: at the
/// top of a body or inside one of its objects.
#[test]
fn unknown_fields_are_parse_errors_naming_them() {
    use rro::models::{
        CountRequest, CreateFieldIndex, DeletePayload, DeleteVectors, PointsSelector,
        RecommendRequest, ScrollRequest, SearchGroupsRequest, SearchRequestBatch, SetPayload,
        UpdateVectors,
    };
    fn refused<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        body: serde_json::Value,
        typo: &str,
    ) {
        match serde_json::from_value::<T>(body.clone()) {
            Ok(parsed) => panic!("{body} parsed as {parsed:?}"),
            Err(e) => assert!(e.to_string().contains(typo), "{body}: {e}"),
        }
    }
    let v = json!({"size": 4, "distance": "Dot"});
    refused::<CreateCollection>(json!({"vectors": v, "shard_numbr": 2}), "shard_numbr");
    refused::<CreateCollection>(
        json!({"vectors": {"size": 4, "distance": "Dot", "on_dsk": true}}),
        "on_dsk",
    );
    refused::<CreateCollection>(
        json!({"vectors": {"img": {"size": 4, "distance": "Dot", "on_dsk": true}}}),
        "on_dsk",
    );
    refused::<CreateCollection>(
        json!({"vectors": v, "hnsw_config": {"ef_constuct": 8}}),
        "ef_constuct",
    );
    refused::<CreateCollection>(
        json!({"vectors": v, "optimizers_config": {"indexing_treshold": 8}}),
        "indexing_treshold",
    );
    refused::<CreateCollection>(
        json!({"vectors": v, "wal_config": {"wal_capacity": 8}}),
        "wal_capacity",
    );
    refused::<UpsertPoints>(json!({"pionts": []}), "pionts");
    refused::<UpsertPoints>(
        json!({"points": [{"id": 1, "vector": [1.0], "paylaod": {}}]}),
        "paylaod",
    );
    refused::<UpsertPoints>(
        json!({"batch": {"ids": [1], "vectors": [[1.0]], "payload": [{}]}}),
        "payload",
    );
    refused::<GetPoints>(json!({"ids": [1], "with_vectros": true}), "with_vectros");
    refused::<SearchRequest>(json!({"vector": [1.0], "limit": 1, "filtr": {}}), "filtr");
    refused::<SearchRequest>(
        json!({"vector": [1.0], "limit": 1, "params": {"hnsw": 8}}),
        "hnsw",
    );
    refused::<SearchRequest>(
        json!({"vector": [1.0], "limit": 1, "params": {"quantization": {"rescor": true}}}),
        "rescor",
    );
    refused::<SearchRequestBatch>(json!({"searches": [], "extra": 1}), "extra");
    refused::<SearchRequest>(
        json!({"vector": {"name": "a", "vector": [1.0], "nmae": "b"}, "limit": 1}),
        "nmae",
    );
    refused::<SearchRequest>(
        json!({"vector": [1.0], "limit": 1, "with_payload": {"exclud": ["a"]}}),
        "exclud",
    );
    refused::<ScrollRequest>(
        json!({"order_by": {"key": "a", "directon": "asc"}}),
        "directon",
    );
    refused::<SearchRequestBatch>(
        json!({"searches": [{"vector": [1.0], "limit": 1, "lmit": 2}]}),
        "lmit",
    );
    refused::<RecommendRequest>(json!({"positive": [1], "limit": 1, "lookup": {}}), "lookup");
    refused::<SearchGroupsRequest>(
        json!({"vector": [1.0], "group_by": "a", "group_size": 1, "limit": 1, "groupby": "b"}),
        "groupby",
    );
    refused::<ScrollRequest>(json!({"limit": 1, "ofset": 3}), "ofset");
    refused::<CountRequest>(json!({"exakt": true}), "exakt");
    refused::<PointsSelector>(json!({"points": [1], "filters": {}}), "filters");
    refused::<SetPayload>(json!({"payload": {}, "points": [1], "keys": "a"}), "keys");
    refused::<DeletePayload>(json!({"keys": ["a"], "points": [1], "key": "a"}), "key");
    refused::<DeleteVectors>(
        json!({"vector": ["a"], "points": [1], "vectors": ["b"]}),
        "vectors",
    );
    refused::<UpdateVectors>(
        json!({"points": [{"id": 1, "vector": [1.0], "vectors": [2.0]}]}),
        "vectors",
    );
    refused::<UpdateVectors>(json!({"points": [], "shard": 1}), "shard");
    refused::<CreateFieldIndex>(
        json!({"field_name": "a", "field_schema": "keyword", "wait": true}),
        "wait",
    );
    refused::<CreateFieldIndex>(
        json!({"field_name": "a", "field_schema": {"type": "float", "is_tenant": true}}),
        "is_tenant",
    );
    refused::<CreateFieldIndex>(
        json!({"field_name": "a", "field_schema": {"type": "keyword", "on_dsk": true}}),
        "on_dsk",
    );
}

/// Qdrant fields rro keeps but does not implement parse, so the same JSON reaches rro, and
/// the typed model holds them for the operation to refuse.
#[test]
fn recognised_fields_parse_and_are_kept() {
    use rro::models::{RecommendRequest, SearchGroupsRequest};
    let create: CreateCollection = serde_json::from_value(json!({
        "vectors": {"size": 4, "distance": "Dot", "datatype": "uint8", "multivector_config": {"comparator": "max_sim"}},
        "quantization_config": {"scalar": {"type": "int8"}},
        "sparse_vectors": {"text": {}},
        "shard_number": 2,
    }))
    .unwrap();
    assert!(create.quantization_config.is_some() && create.sparse_vectors.is_some());
    assert_eq!(create.cluster_params().shard_number, Some(2));
    let recommend: RecommendRequest = serde_json::from_value(
        json!({"positive": [1], "limit": 1, "lookup_from": {"collection": "other"}}),
    )
    .unwrap();
    assert_eq!(recommend.lookup_from, Some(json!({"collection": "other"})));
    let groups: SearchGroupsRequest = serde_json::from_value(json!({
        "vector": [1.0], "group_by": "a", "group_size": 1, "limit": 1,
        "with_lookup": "documents"
    }))
    .unwrap();
    assert_eq!(groups.with_lookup, Some(json!("documents")));
    // Qdrant's column form of an upsert reads as the same points.
    let batch: UpsertPoints = serde_json::from_value(json!({
        "batch": {"ids": [1, 2], "vectors": [[1.0], [2.0]], "payloads": [{"a": 1}, null]}
    }))
    .unwrap();
    let points: UpsertPoints = serde_json::from_value(json!({
        "points": [{"id": 1, "vector": [1.0], "payload": {"a": 1}}, {"id": 2, "vector": [2.0]}]
    }))
    .unwrap();
    assert_eq!(batch, points);
    let short = serde_json::from_value::<UpsertPoints>(
        json!({"batch": {"ids": [1, 2], "vectors": [[1.0]]}}),
    )
    .unwrap_err();
    assert!(short.to_string().contains("2 ids but 1 vectors"), "{short}");
}
