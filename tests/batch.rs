//! `points/batch` through the client on every backend: random mixed batches against a model
//! of the collection written here, and a batch with a bad write that changes nothing.

mod common;

use std::collections::BTreeMap;

use common::{Ctx, Rng};
use rro::models::{
    Condition, CreateCollection, DeletePayload, DeleteVectors, Distance, Filter, GetPoints,
    Payload, PointId, PointStruct, PointVectors, PointsSelector, SetPayload, UpdateOperation,
    UpdateOperations, UpdateVectors, UpsertPoints, VectorParams, VectorStruct, VectorsConfig,
};
use rro::{RroClient, RroError, StorageError};
use serde_json::Value;

backend_tests!(
    mixed_batches_match_a_model_of_the_collection,
    a_batch_with_a_bad_write_changes_nothing,
);

const IDS: u64 = 24;
const NAMES: [&str; 2] = ["a", "b"];

/// A point as the model holds it: its named vectors and its payload (empty for none).
type Model = BTreeMap<u64, (BTreeMap<String, Vec<f32>>, Payload)>;

async fn collection(ctx: &Ctx) -> RroClient {
    let client = ctx.open_default().await;
    let spaces = NAMES.map(|n| (n, VectorParams::new(2, Distance::Dot)));
    client
        .create_collection("c", CreateCollection::new(VectorsConfig::named(spaces)))
        .await
        .unwrap();
    client
}

/// What the collection holds, in the model's form.
async fn read_back(client: &RroClient) -> Model {
    let records = client
        .get_points(
            "c",
            GetPoints::new((0..IDS).map(PointId::Num)).with_vector(true),
        )
        .await
        .unwrap();
    records
        .into_iter()
        .map(|r| {
            let PointId::Num(id) = r.id else {
                panic!("unexpected id {}", r.id)
            };
            let vectors = match r.vector {
                Some(VectorStruct::Named(map)) => map,
                None => BTreeMap::new(),
                Some(other) => panic!("unnamed vector {other:?}"),
            };
            (id, (vectors, r.payload.unwrap_or_default()))
        })
        .collect()
}

fn bucket_filter(bucket: i64) -> Filter {
    Filter::must([Condition::matches("bucket", bucket)])
}

fn in_bucket(payload: &Payload, bucket: i64) -> bool {
    payload.get("bucket").and_then(Value::as_i64) == Some(bucket)
}

/// A random selector: some ids, or the points of a bucket; and which model points it picks.
fn selector(rng: &mut Rng, model: &Model) -> (PointsSelector, Vec<u64>) {
    if rng.next().is_multiple_of(2) {
        let ids: Vec<u64> = (0..1 + rng.next() % 4).map(|_| rng.next() % IDS).collect();
        let mut picked: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| model.contains_key(id))
            .collect();
        picked.sort();
        picked.dedup();
        (PointsSelector::ids(ids), picked)
    } else {
        let bucket = (rng.next() % 3) as i64;
        let picked = model
            .iter()
            .filter(|(_, (_, p))| in_bucket(p, bucket))
            .map(|(id, _)| *id)
            .collect();
        (PointsSelector::filter(bucket_filter(bucket)), picked)
    }
}

fn some_payload(rng: &mut Rng) -> Payload {
    let mut payload = Payload::new();
    payload.insert("bucket".into(), Value::from(rng.next() % 3));
    if rng.next().is_multiple_of(2) {
        payload.insert("x".into(), Value::from(rng.next() % 100));
    }
    payload
}

/// One random write, applied to `model` the way Qdrant's documentation describes it.
fn random_write(rng: &mut Rng, model: &mut Model) -> UpdateOperation {
    match rng.next() % 8 {
        0 => {
            let mut points = Vec::new();
            for _ in 0..1 + rng.next() % 4 {
                let id = rng.next() % IDS;
                let names: Vec<&str> = NAMES
                    .iter()
                    .copied()
                    .filter(|_| !rng.next().is_multiple_of(3))
                    .collect();
                let vectors: BTreeMap<String, Vec<f32>> = names
                    .iter()
                    .map(|n| (n.to_string(), rng.vector(2)))
                    .collect();
                let payload = (!rng.next().is_multiple_of(4)).then(|| some_payload(rng));
                model.insert(id, (vectors.clone(), payload.clone().unwrap_or_default()));
                let mut point = PointStruct::new(id, VectorStruct::Named(vectors));
                point.payload = payload;
                points.push(point);
            }
            UpdateOperation::Upsert(UpsertPoints { points })
        }
        1 => {
            let (selector, picked) = selector(rng, model);
            for id in picked {
                model.remove(&id);
            }
            UpdateOperation::Delete(selector)
        }
        2 | 3 => {
            let (selector, picked) = selector(rng, model);
            let payload = some_payload(rng);
            let merge = rng.next().is_multiple_of(2);
            for id in picked {
                let stored = &mut model.get_mut(&id).unwrap().1;
                if !merge {
                    stored.clear();
                }
                for (k, v) in &payload {
                    stored.insert(k.clone(), v.clone());
                }
            }
            let set = SetPayload::new(payload, selector);
            if merge {
                UpdateOperation::SetPayload(set)
            } else {
                UpdateOperation::OverwritePayload(set)
            }
        }
        4 => {
            let (selector, picked) = selector(rng, model);
            let key = if rng.next().is_multiple_of(2) {
                "x"
            } else {
                "bucket"
            };
            for id in picked {
                model.get_mut(&id).unwrap().1.remove(key);
            }
            UpdateOperation::DeletePayload(DeletePayload::new([key], selector))
        }
        5 => {
            let (selector, picked) = selector(rng, model);
            for id in picked {
                model.get_mut(&id).unwrap().1.clear();
            }
            UpdateOperation::ClearPayload(selector)
        }
        6 => {
            let mut points = Vec::new();
            for _ in 0..1 + rng.next() % 3 {
                let id = rng.next() % IDS;
                let name = NAMES[(rng.next() % 2) as usize];
                let vector = rng.vector(2);
                if let Some((vectors, _)) = model.get_mut(&id) {
                    vectors.insert(name.to_owned(), vector.clone());
                }
                points.push(PointVectors {
                    id: id.into(),
                    vector: VectorStruct::named([(name, vector)]),
                });
            }
            UpdateOperation::UpdateVectors(UpdateVectors { points })
        }
        _ => {
            let (selector, picked) = selector(rng, model);
            let name = NAMES[(rng.next() % 2) as usize];
            for id in picked {
                model.get_mut(&id).unwrap().0.remove(name);
            }
            UpdateOperation::DeleteVectors(DeleteVectors::new([name], selector))
        }
    }
}

async fn mixed_batches_match_a_model_of_the_collection(ctx: Ctx) {
    let client = collection(&ctx).await;
    let mut rng = Rng(0xBA7C4);
    let mut model = Model::new();
    for round in 0..60 {
        let writes = 1 + rng.next() % 8;
        let operations: Vec<UpdateOperation> = (0..writes)
            .map(|_| random_write(&mut rng, &mut model))
            .collect();
        let results = client
            .batch_update_points("c", UpdateOperations::new(operations))
            .await
            .unwrap();
        assert_eq!(results.len() as u64, writes);
        assert!(results.windows(2).all(|w| w[0] == w[1]), "one operation");
        assert_eq!(read_back(&client).await, model, "after batch {round}");
        if round % 20 == 19 {
            // Sealed segments too: later batches then rewrite points that live there.
            client.flush().await.unwrap();
        }
    }
    client.shutdown().await.unwrap();
}

async fn a_batch_with_a_bad_write_changes_nothing(ctx: Ctx) {
    let client = collection(&ctx).await;
    let mut rng = Rng(7);
    let mut model = Model::new();
    let seed: Vec<UpdateOperation> = (0..6).map(|_| random_write(&mut rng, &mut model)).collect();
    client
        .batch_update_points("c", UpdateOperations::new(seed))
        .await
        .unwrap();
    let before = read_back(&client).await;
    let good = || {
        vec![
            UpdateOperation::Delete(PointsSelector::filter(Filter::default())),
            UpdateOperation::Upsert(UpsertPoints {
                points: vec![PointStruct::new(
                    1u64,
                    VectorStruct::named([("a", vec![1.0, 2.0])]),
                )],
            }),
        ]
    };
    let bad = [
        // Wrong dimension.
        UpdateOperation::Upsert(UpsertPoints {
            points: vec![PointStruct::new(
                2u64,
                VectorStruct::named([("b", vec![1.0])]),
            )],
        }),
        // Unknown vector name.
        UpdateOperation::UpdateVectors(UpdateVectors {
            points: vec![PointVectors {
                id: 1u64.into(),
                vector: VectorStruct::named([("nope", vec![1.0, 2.0])]),
            }],
        }),
        UpdateOperation::DeleteVectors(DeleteVectors::new(["nope"], PointsSelector::ids([1u64]))),
        // A key that does not parse.
        UpdateOperation::DeletePayload(DeletePayload::new(["a..b"], PointsSelector::ids([1u64]))),
        // A payload nested deeper than the limit.
        UpdateOperation::SetPayload(SetPayload::new(
            deep_payload(rro::models::MAX_PAYLOAD_DEPTH + 1),
            PointsSelector::ids([1u64]),
        )),
    ];
    for (n, write) in bad.into_iter().enumerate() {
        let mut operations = good();
        operations.push(write);
        let error = client
            .batch_update_points("c", UpdateOperations::new(operations))
            .await
            .expect_err(&format!("bad write {n} refused"));
        match &error {
            // Too deep a payload is refused by the client's depth guard, before the engine
            // sees the batch, with the guard's own message.
            RroError::Storage(StorageError::BadRequest(why)) if n == 4 => {
                assert!(why.contains("MAX_PAYLOAD_DEPTH"), "{why}")
            }
            RroError::Storage(StorageError::BadRequest(why)) => {
                assert!(why.contains("operations[2]"), "bad write {n}: {why}")
            }
            other => panic!("bad write {n}: {other:?}"),
        }
        assert_eq!(
            read_back(&client).await,
            before,
            "bad write {n} changed nothing"
        );
    }
    client.shutdown().await.unwrap();
}

/// A payload `depth` levels deep (the object itself is the first level).
fn deep_payload(depth: usize) -> Payload {
    let mut value = Value::from(1);
    for _ in 1..depth {
        value = Value::Array(vec![value]);
    }
    [("deep".to_owned(), value)].into_iter().collect()
}
