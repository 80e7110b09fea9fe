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
