//! Unit tests of the collection: search against brute force, on-disk mapping, rejected
//! batches, thresholds and cancellation.

use super::*;
use crate::models::{
    CreateCollection, Distance, GetPoints, PointStruct, SearchRequest, VectorParams,
};
use crate::storage::distance::{score, Order};
use crate::storage::vector::normalize;

/// Higher is better, whatever the distance.
fn goodness(order: Order, score: f32) -> f32 {
    match order {
        Order::LargerBetter => score,
        Order::SmallerBetter => -score,
    }
}

fn collection(distance: Distance) -> Collection {
    Collection::new(VectorParams::new(2, distance)).unwrap()
}

fn never() -> bool {
    false
}

#[test]
fn search_matches_brute_force_for_every_distance() {
    let pts: Vec<(u64, [f32; 2])> = (0..50u64)
        .map(|i| (i, [(i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()]))
        .collect();
    let q = [0.3f32, -0.7];
    for distance in [
        Distance::Cosine,
        Distance::Dot,
        Distance::Euclid,
        Distance::Manhattan,
    ] {
        let c = collection(distance);
        c.upsert(
            pts.iter()
                .map(|(id, v)| PointStruct::new(*id, v.to_vec()))
                .collect(),
        )
        .unwrap();
        let got = c
            .search(&SearchRequest::new(q.to_vec(), 5).offset(2), &never)
            .unwrap()
            .unwrap();
        let mut qn = q.to_vec();
        if distance == Distance::Cosine {
            normalize(&mut qn);
        }
        let mut all: Vec<(f32, u64)> = pts
            .iter()
            .map(|(id, v)| {
                let mut v = v.to_vec();
                if distance == Distance::Cosine {
                    normalize(&mut v);
                }
                (goodness(Order::of(distance), score(distance, &qn, &v)), *id)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let expected: Vec<PointId> = all[2..7].iter().map(|(_, id)| PointId::Num(*id)).collect();
        let got_ids: Vec<PointId> = got.iter().map(|s| s.id).collect();
        assert_eq!(got_ids, expected, "{distance:?}");
    }
}

#[test]
fn on_disk_segments_are_mapped_and_in_ram_ones_are_not() {
    let points: Vec<PointStruct> = (0..100u64)
        .map(|i| PointStruct::new(i, vec![i as f32, 1.0, 0.5, -1.0]))
        .collect();
    let options = DiskOptions {
        durability: Durability::Interval(std::time::Duration::from_secs(1)),
        on_corruption: OnCorruption::Fail,
        checkpoint_bytes: 1 << 20,
    };
    for on_disk in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let create = CreateCollection::new(VectorParams::new(4, Distance::Dot).on_disk(on_disk));
        Collection::init_dir(dir.path(), create).unwrap();
        let query = SearchRequest::new(vec![1.0, 0.0, 0.0, 0.0], 3);
        let mapped = |c: &Collection| read(&c.state).segments[0].data.is_mapped();
        let expected = on_disk && cfg!(target_endian = "little");
        let (c, _) = Collection::open(dir.path(), options.clone()).unwrap();
        c.upsert(points.clone()).unwrap();
        let before = c.search(&query, &never).unwrap().unwrap();
        c.checkpoint().unwrap();
        assert_eq!(mapped(&c), expected, "on_disk {on_disk} after sealing");
        assert_eq!(c.search(&query, &never).unwrap().unwrap(), before);
        drop(c);
        let (c, _) = Collection::open(dir.path(), options.clone()).unwrap();
        assert_eq!(mapped(&c), expected, "on_disk {on_disk} after reopening");
        assert_eq!(c.search(&query, &never).unwrap().unwrap(), before);
    }
}

#[test]
fn rejected_batch_changes_nothing() {
    let c = collection(Distance::Dot);
    c.upsert(vec![PointStruct::new(1u64, vec![1.0, 1.0])])
        .unwrap();
    let err = c
        .upsert(vec![
            PointStruct::new(1u64, vec![9.0, 9.0]),
            PointStruct::new(2u64, vec![f32::NAN, 0.0]),
        ])
        .unwrap_err();
    assert!(matches!(
        err,
        StorageError::NonFiniteVector { index: 0, .. }
    ));
    let got = c.get(&GetPoints::new([1u64, 2]).with_vector(true));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].plain_vector(), Some(&[1.0, 1.0][..]));
}

#[test]
fn score_threshold_and_cancellation() {
    let c = collection(Distance::Dot);
    c.upsert(
        (0..10_000u64)
            .map(|i| PointStruct::new(i, vec![i as f32, 0.0]))
            .collect(),
    )
    .unwrap();
    let hits = c
        .search(
            &SearchRequest::new(vec![1.0, 0.0], 100).score_threshold(9_995.0),
            &never,
        )
        .unwrap()
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert!(c
        .search(&SearchRequest::new(vec![1.0, 0.0], 3), &|| true)
        .unwrap()
        .is_none());
}

/// Named spaces are planned like the unnamed one: each gets its graph and a graph per large
/// value of an indexed keyword field, a filter requiring that value walks it, and the answers
/// are the filtered brute force's (recall checked against a reference computed here). The
/// graphs survive a reopen.
#[test]
fn named_spaces_get_per_value_graphs_that_filtered_searches_walk() {
    use crate::models::{
        CreateFieldIndex, Filter, HnswConfig, NamedVectorStruct, OptimizersConfig,
        PayloadSchemaType, VectorStruct, VectorsConfig,
    };
    use crate::storage::segment::Target;
    use std::collections::{BTreeMap, HashSet};

    const SPACES: [(&str, usize, Distance); 2] =
        [("a", 8, Distance::Cosine), ("b", 4, Distance::Euclid)];
    const COLORS: [&str; 3] = ["red", "blue", "rare"];
    let color = |i: u64| match i % 21 {
        0 => "rare",
        k if k % 2 == 0 => "red",
        _ => "blue",
    };
    // Every fifth point has no vector in "b".
    let has = |i: u64, space: usize| space == 0 || !i.is_multiple_of(5);
    let vector = |i: u64, space: usize| -> Vec<f32> {
        (0..SPACES[space].1)
            .map(|k| ((i * 31 + k as u64 * 7 + space as u64 * 13) as f32 * 0.618).sin())
            .collect()
    };
    let create =
        CreateCollection::new(VectorsConfig::named(SPACES.iter().map(
            |(name, dim, distance)| (*name, VectorParams::new(*dim as u64, *distance)),
        )))
        .hnsw_config(HnswConfig {
            m: 16,
            ef_construct: 64,
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(1),
            default_segment_number: 1,
            ..OptimizersConfig::default()
        });
    let points: Vec<PointStruct> = (0..1_500u64)
        .map(|i| {
            let named: BTreeMap<String, Vec<f32>> = (0..SPACES.len())
                .filter(|&s| has(i, s))
                .map(|s| (SPACES[s].0.to_owned(), vector(i, s)))
                .collect();
            PointStruct::new(i, VectorStruct::Named(named))
                .with_payload(crate::payload!({ "color": color(i) }))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    Collection::init_dir(dir.path(), create).unwrap();
    let options = DiskOptions {
        durability: Durability::Interval(std::time::Duration::from_secs(1)),
        on_corruption: OnCorruption::Fail,
        checkpoint_bytes: 1 << 30,
    };
    let (c, _) = Collection::open(dir.path(), options.clone()).unwrap();
    c.upsert(points).unwrap();
    c.create_field_index(&CreateFieldIndex::new("color", PayloadSchemaType::Keyword))
        .unwrap();
    c.optimize(1).unwrap();

    let check = |c: &Collection, when: &str| {
        {
            let state = read(&c.state);
            let sealed = &state.segments[..state.segments.len() - 1];
            assert_eq!(sealed.len(), 1, "{when}: one indexed segment");
            let indexes = &sealed[0].indexes;
            for (name, _, _) in SPACES {
                assert!(indexes.has_space(name), "{when}: graph of {name}");
                for value in ["red", "blue"] {
                    let v = crate::models::MatchValue::Keyword(value.into());
                    assert!(
                        indexes.value(name, "color", &v).is_some(),
                        "{when}: graph of {name} for {value}"
                    );
                }
                // 72 points are "rare": scored exactly, no graph of their own.
                let rare = crate::models::MatchValue::Keyword("rare".into());
                assert!(indexes.value(name, "color", &rare).is_none());
            }
            let values = indexes
                .entries
                .iter()
                .filter(|e| matches!(e.target, Target::Value { .. }))
                .count();
            assert_eq!(values, 4, "{when}");
        }
        for (s, (name, _, distance)) in SPACES.iter().enumerate() {
            for wanted in COLORS {
                let (mut found, mut total) = (0, 0);
                for q in 0..8u64 {
                    let query = vector(10_000 + q, s);
                    let filter = Filter::must([crate::models::Condition::matches("color", wanted)]);
                    let request =
                        SearchRequest::new(NamedVectorStruct::named(*name, query.clone()), 10)
                            .filter(filter)
                            .hnsw_ef(64);
                    let hits = c.search(&request, &never).unwrap().unwrap();
                    let mut qn = query.clone();
                    if *distance == Distance::Cosine {
                        normalize(&mut qn);
                    }
                    let mut truth: Vec<(f32, u64)> = (0..1_500u64)
                        .filter(|&i| has(i, s) && color(i) == wanted)
                        .map(|i| {
                            let mut v = vector(i, s);
                            if *distance == Distance::Cosine {
                                normalize(&mut v);
                            }
                            (goodness(Order::of(*distance), score(*distance, &qn, &v)), i)
                        })
                        .collect();
                    truth.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                    let best: HashSet<PointId> = truth
                        .iter()
                        .take(10)
                        .map(|(_, i)| PointId::Num(*i))
                        .collect();
                    assert_eq!(hits.len(), 10, "{when} {name} {wanted}");
                    for hit in &hits {
                        let PointId::Num(i) = hit.id else {
                            panic!("{:?}", hit.id)
                        };
                        assert!(has(i, s) && color(i) == wanted, "{when}: {i} returned");
                    }
                    found += hits.iter().filter(|h| best.contains(&h.id)).count();
                    total += best.len();
                }
                assert!(
                    found * 10 >= total * 9,
                    "{when} {name} {wanted}: recall {found}/{total}"
                );
            }
        }
    };
    check(&c, "built");
    drop(c);
    let (c, _) = Collection::open(dir.path(), options).unwrap();
    check(&c, "reopened");
}

/// A space's own `hnsw_config` builds its graphs (and only its graphs) with its settings, is
/// kept in the manifest, and is checked like the collection's, errors naming the space.
#[test]
fn a_space_hnsw_config_builds_its_graphs() {
    use crate::models::{
        HnswConfig, HnswConfigDiff, OptimizersConfig, VectorStruct, VectorsConfig,
    };
    use crate::storage::segment::VectorIndex;
    use std::collections::BTreeMap;

    let spaces = |a: HnswConfigDiff| {
        VectorsConfig::named([
            ("a", VectorParams::new(4, Distance::Dot).hnsw_config(a)),
            ("b", VectorParams::new(4, Distance::Dot)),
        ])
    };
    let own = HnswConfigDiff {
        m: Some(6),
        ef_construct: Some(20),
        ..HnswConfigDiff::default()
    };
    let create = CreateCollection::new(spaces(own))
        .hnsw_config(HnswConfig {
            m: 12,
            ef_construct: 40,
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(1),
            default_segment_number: 1,
            ..OptimizersConfig::default()
        });
    let c = Collection::with_config(create.clone()).unwrap();
    let points: Vec<PointStruct> = (0..300u64)
        .map(|i| {
            let v: Vec<f32> = (0..4).map(|k| ((i * 4 + k) as f32 * 0.77).sin()).collect();
            let named: BTreeMap<String, Vec<f32>> =
                [("a".to_owned(), v.clone()), ("b".to_owned(), v)].into();
            PointStruct::new(i, VectorStruct::Named(named))
        })
        .collect();
    c.upsert(points).unwrap();
    c.optimize(1).unwrap();
    {
        let state = read(&c.state);
        let indexes = &state.segments[0].indexes;
        for (space, m, ef) in [("a", 6, 20), ("b", 12, 40)] {
            let VectorIndex::Hnsw(graph) = indexes.space(space) else {
                panic!("{space} has no graph");
            };
            assert_eq!(
                (graph.params().m, graph.params().ef_construct),
                (m, ef),
                "{space}"
            );
        }
    }
    assert_eq!(c.info().config.params.vectors, spaces(own));

    let refused = |diff: HnswConfigDiff| {
        Collection::with_config(CreateCollection {
            vectors: spaces(diff),
            ..create.clone()
        })
        .unwrap_err()
        .to_string()
    };
    let bad_m = refused(HnswConfigDiff {
        m: Some(1),
        ..HnswConfigDiff::default()
    });
    assert!(bad_m.contains("vectors.a.hnsw_config.m is 1"), "{bad_m}");
    let payload_m = refused(HnswConfigDiff {
        payload_m: Some(7),
        ..HnswConfigDiff::default()
    });
    assert!(
        payload_m.contains("vectors.a.hnsw_config.payload_m"),
        "{payload_m}"
    );
}
