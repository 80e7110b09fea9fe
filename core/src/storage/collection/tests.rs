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
