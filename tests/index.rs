//! The HNSW index and the optimizer through the client, on every backend: recall, search
//! parameters, batch search, indexes that survive a restart without a rebuild, searches while
//! the optimizer swaps segments under concurrent writes and deletes, vacuum, and builds that
//! stop at shutdown.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Ctx, Rng};
use futures::future::join;
use rro::models::{
    CollectionStatus, CreateCollection, Distance, GetPoints, HnswConfig, OptimizersConfig, PointId,
    PointStruct, PointsSelector, SearchRequest, VectorParams,
};
use rro::{RroClient, RroError, StorageError};

backend_tests!(
    indexed_search_finds_the_true_neighbours,
    search_parameters_and_batches,
    the_index_is_loaded_not_rebuilt_after_a_restart,
    searches_stay_exact_while_the_optimizer_swaps_segments,
    deleted_points_are_vacuumed_and_merged_away,
    shutdown_stops_a_running_build,
    bad_index_settings_are_refused,
);

/// A collection config that indexes as soon as `threshold_points` vectors of `dim` are there.
fn indexed(dim: u64, distance: Distance, threshold_points: usize) -> CreateCollection {
    // Rounded down, so the threshold in points is at most `threshold_points`.
    let kb = threshold_points * dim as usize * 4 / 1024;
    CreateCollection::new(VectorParams::new(dim, distance))
        .hnsw_config(HnswConfig {
            m: 16,
            ef_construct: 64,
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(kb),
            default_segment_number: 1,
            ..OptimizersConfig::default()
        })
}

async fn upsert_all(client: &RroClient, name: &str, points: &[(u64, Vec<f32>)]) {
    for chunk in points.chunks(500) {
        client
            .upsert_points(
                name,
                chunk
                    .iter()
                    .map(|(id, v)| PointStruct::new(*id, v.clone()))
                    .collect(),
            )
            .await
            .expect("upsert");
    }
}

fn hit_ids(hits: &[rro::models::ScoredPoint]) -> Vec<PointId> {
    hits.iter().map(|h| h.id).collect()
}

async fn wait_ready(client: &RroClient, name: &str) -> rro::models::CollectionInfo {
    client
        .with_timeout(Duration::from_secs(110))
        .wait_index_ready(name)
        .await
        .expect("index ready")
}

async fn recall(client: &RroClient, name: &str, queries: &[Vec<f32>], ef: usize) -> f64 {
    let mut found = 0;
    for q in queries {
        let exact = client
            .search(name, SearchRequest::new(q.clone(), 10).exact(true))
            .await
            .unwrap();
        let approx = client
            .search(name, SearchRequest::new(q.clone(), 10).hnsw_ef(ef))
            .await
            .unwrap();
        let truth: HashSet<PointId> = exact.iter().map(|h| h.id).collect();
        found += approx.iter().filter(|h| truth.contains(&h.id)).count();
    }
    found as f64 / (queries.len() * 10) as f64
}

async fn indexed_search_finds_the_true_neighbours(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("docs", indexed(32, Distance::Cosine, 1000))
        .await
        .unwrap();
    let mut rng = Rng(1);
    let points: Vec<(u64, Vec<f32>)> = (0..5000).map(|i| (i, rng.vector(32))).collect();
    upsert_all(&client, "docs", &points).await;
    let info = wait_ready(&client, "docs").await;
    assert_eq!(info.status, CollectionStatus::Green);
    assert_eq!(info.points_count, 5000);
    // Everything sealed at the threshold is indexed; the write segment keeps the rest.
    assert!(info.indexed_vectors_count >= 4000, "{info:?}");
    assert!(info.optimization.is_none());
    let queries: Vec<Vec<f32>> = (0..50).map(|_| rng.vector(32)).collect();
    let r = recall(&client, "docs", &queries, 64).await;
    assert!(r >= 0.9, "recall@10 at ef 64 is {r}");
    client.shutdown().await.unwrap();
}

async fn search_parameters_and_batches(ctx: Ctx) {
    let client = ctx.open_default().await;
    client
        .create_collection("docs", indexed(16, Distance::Euclid, 500))
        .await
        .unwrap();
    let mut rng = Rng(2);
    let points: Vec<(u64, Vec<f32>)> = (0..3000).map(|i| (i, rng.vector(16))).collect();
    upsert_all(&client, "docs", &points).await;
    wait_ready(&client, "docs").await;

    // Exact search is brute force: compare with a scan done here.
    let q = rng.vector(16);
    let mut truth: Vec<(f32, u64)> = points
        .iter()
        .map(|(id, v)| {
            let d: f32 = v.iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum();
            (d.sqrt(), *id)
        })
        .collect();
    truth.sort_by(|a, b| a.0.total_cmp(&b.0));
    let exact = client
        .search(
            "docs",
            SearchRequest::new(q.clone(), 5).exact(true).offset(2),
        )
        .await
        .unwrap();
    let expected: Vec<PointId> = truth[2..7]
        .iter()
        .map(|(_, id)| PointId::Num(*id))
        .collect();
    assert_eq!(hit_ids(&exact), expected);
    for (hit, (d, _)) in exact.iter().zip(&truth[2..7]) {
        assert!((hit.score - d).abs() < 1e-4, "{} vs {d}", hit.score);
    }

    // Through the index: a threshold keeps only close hits; payloads and vectors on request.
    let cut = truth[20].0;
    let near = client
        .search(
            "docs",
            SearchRequest::new(q.clone(), 100)
                .hnsw_ef(200)
                .score_threshold(cut)
                .with_vector(true)
                .with_payload(true),
        )
        .await
        .unwrap();
    assert!(!near.is_empty() && near.len() <= 21, "{}", near.len());
    assert!(near.iter().all(|h| h.score <= cut));
    assert!(near.windows(2).all(|w| w[0].score <= w[1].score));
    let first = &near[0];
    let PointId::Num(first_id) = first.id else {
        panic!("numeric ids only")
    };
    assert_eq!(first.plain_vector(), Some(&points[first_id as usize].1[..]));

    // A batch answers like the single searches, in order.
    let queries: Vec<SearchRequest> = (0..5)
        .map(|_| SearchRequest::new(rng.vector(16), 3).hnsw_ef(64))
        .collect();
    let batch = client.search_batch("docs", queries.clone()).await.unwrap();
    assert_eq!(batch.len(), 5);
    for (request, hits) in queries.into_iter().zip(&batch) {
        assert_eq!(client.search("docs", request).await.unwrap(), *hits);
    }
    let wrong = client
        .search_batch("docs", vec![SearchRequest::new(vec![1.0; 3], 1)])
        .await;
    assert!(matches!(
        wrong,
        Err(RroError::Storage(StorageError::WrongDimension { .. }))
    ));
    client.shutdown().await.unwrap();
}

async fn the_index_is_loaded_not_rebuilt_after_a_restart(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = ctx.persistent_config(dir.path());
    let client = ctx.open(config.clone()).await;
    client
        .create_collection("docs", indexed(24, Distance::Dot, 1000))
        .await
        .unwrap();
    let mut rng = Rng(3);
    // 2000 points end up in one indexed segment; the 400 left in the write segment are sealed
    // at shutdown, too few to make the optimizer rebuild the index (see `plan.rs`).
    let points: Vec<(u64, Vec<f32>)> = (0..2400).map(|i| (i, rng.vector(24))).collect();
    upsert_all(&client, "docs", &points).await;
    let before = wait_ready(&client, "docs").await;
    assert!(before.indexed_vectors_count >= 2000, "{before:?}");
    let queries: Vec<SearchRequest> = (0..20)
        .map(|_| SearchRequest::new(rng.vector(24), 10).hnsw_ef(32))
        .collect();
    let hits_before = client.search_batch("docs", queries.clone()).await.unwrap();
    client.shutdown().await.unwrap();

    let index_files: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("hnsw.bin"))
        .map(|p| {
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, modified)
        })
        .collect();
    assert!(!index_files.is_empty(), "no index file was written");

    let client = ctx.open(config).await;
    // Right after the open, before any optimizer could have built anything: the index is
    // there and the collection is green.
    let info = client.collection_info("docs").await.unwrap();
    assert_eq!(info.status, CollectionStatus::Green, "{info:?}");
    assert_eq!(info.indexed_vectors_count, before.indexed_vectors_count);
    assert_eq!(info.points_count, 2400);
    // The same graph answers the same way.
    assert_eq!(
        client.search_batch("docs", queries).await.unwrap(),
        hits_before
    );
    wait_ready(&client, "docs").await;
    client.shutdown().await.unwrap();
    for (path, modified) in index_files {
        let now = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(now, modified, "{} was rewritten", path.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Writers and deleters run while the optimizer seals, indexes and merges (threshold 300
/// points, one segment wanted). Every search checks that each point acknowledged before it
/// started is found by an exact search for its own vector, and that deleted points are not.
async fn searches_stay_exact_while_the_optimizer_swaps_segments(ctx: Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = ctx.persistent_config(dir.path());
    let client = ctx.open(config.update_threads(2)).await;
    client
        .create_collection("docs", indexed(8, Distance::Euclid, 300))
        .await
        .unwrap();
    let mut rng = Rng(4);
    let all: Vec<(u64, Vec<f32>)> = (0..4000).map(|i| (i, rng.vector(8))).collect();
    let acked = std::sync::Mutex::new((0usize, HashSet::<u64>::new()));
    // Every third round deletes the earlier points whose id is the round's residue mod 7; a
    // point may be deleted while a search for it runs, so only points the schedule never
    // deletes must always be found.
    let deleted_by_schedule = |id: u64| {
        (0..all.len() as u64 / 200)
            .any(|round| round % 3 == 2 && id < round * 200 && id % 7 == round % 7)
    };

    let writer = async {
        for (round, chunk) in all.chunks(200).enumerate() {
            upsert_all(&client, "docs", chunk).await;
            let start = chunk[0].0;
            let mut gone = Vec::new();
            if round % 3 == 2 {
                // Delete some earlier points (maybe in sealed or indexed segments).
                gone = (0..start).filter(|i| i % 7 == round as u64 % 7).collect();
                client
                    .delete_points("docs", PointsSelector::ids(gone.clone()))
                    .await
                    .unwrap();
            }
            let mut acked = acked.lock().unwrap();
            acked.0 = (start as usize) + chunk.len();
            acked.1.extend(gone);
        }
    };
    let searcher = async {
        let mut checks = 0;
        loop {
            let (written, deleted) = {
                let acked = acked.lock().unwrap();
                (acked.0, acked.1.clone())
            };
            if written == 0 {
                // Let the writer make progress (this future shares the thread with it).
                client.health_check().await.unwrap();
                continue;
            }
            for i in (0..written).step_by(13) {
                let (id, v) = &all[i];
                let always = !deleted_by_schedule(*id);
                if !always && !deleted.contains(id) {
                    continue;
                }
                let hits = client
                    .search("docs", SearchRequest::new(v.clone(), 1).exact(true))
                    .await
                    .unwrap();
                if always {
                    assert_eq!(hit_ids(&hits), vec![PointId::Num(*id)], "point {id}");
                } else {
                    assert!(hits.first().is_none_or(|h| h.id != PointId::Num(*id)));
                }
                checks += 1;
            }
            if written == all.len() {
                return checks;
            }
        }
    };
    let ((), checks) = join(writer, searcher).await;
    assert!(checks > 40);

    let info = wait_ready(&client, "docs").await;
    let deleted = acked.lock().unwrap().1.clone();
    assert_eq!(info.points_count, (all.len() - deleted.len()) as u64);
    assert!(info.segments_count <= 4, "{info:?}");
    assert!(
        info.indexed_vectors_count > 0,
        "the optimizer never ran: {info:?}"
    );
    let mut missed = 0;
    for (id, v) in &all {
        let exact = client
            .search("docs", SearchRequest::new(v.clone(), 1).exact(true))
            .await
            .unwrap();
        let approx = client
            .search("docs", SearchRequest::new(v.clone(), 1).hnsw_ef(64))
            .await
            .unwrap();
        if deleted.contains(id) {
            assert!(exact.first().is_none_or(|h| h.id != PointId::Num(*id)));
            assert!(approx.first().is_none_or(|h| h.id != PointId::Num(*id)));
        } else {
            assert_eq!(hit_ids(&exact), vec![PointId::Num(*id)], "point {id}");
            missed += usize::from(hit_ids(&approx) != vec![PointId::Num(*id)]);
        }
    }
    // The index finds (almost) every point by its own vector.
    assert!(
        missed * 100 <= all.len(),
        "{missed} points not found through the index"
    );
    client.shutdown().await.unwrap();
    // And all of it after a restart.
    let (config, _) = ctx.persistent_config(dir.path());
    let client = ctx.open(config).await;
    let records = client
        .get_points(
            "docs",
            GetPoints::new(all.iter().map(|(id, _)| *id)).with_vector(true),
        )
        .await
        .unwrap();
    assert_eq!(records.len(), all.len() - deleted.len());
    for record in records {
        let PointId::Num(id) = record.id else {
            panic!("numeric ids only")
        };
        assert!(!deleted.contains(&id));
        assert_eq!(record.plain_vector(), Some(&all[id as usize].1[..]));
    }
    client.shutdown().await.unwrap();
}

async fn deleted_points_are_vacuumed_and_merged_away(ctx: Ctx) {
    let client = ctx.open_default().await;
    let create = indexed(8, Distance::Dot, 1000).optimizers_config(OptimizersConfig {
        indexing_threshold: Some(32),
        default_segment_number: 1,
        deleted_threshold: 0.2,
        vacuum_min_vector_number: 100,
        ..OptimizersConfig::default()
    });
    client.create_collection("docs", create).await.unwrap();
    let mut rng = Rng(5);
    let points: Vec<(u64, Vec<f32>)> = (0..3000).map(|i| (i, rng.vector(8))).collect();
    upsert_all(&client, "docs", &points).await;
    client.flush().await.unwrap();
    let info = wait_ready(&client, "docs").await;
    assert_eq!(
        info.segments_count, 2,
        "one sealed segment and the write segment: {info:?}"
    );
    assert_eq!(info.indexed_vectors_count, 3000);

    let gone: Vec<u64> = (0..3000).filter(|i| i % 2 == 0).collect();
    client
        .delete_points("docs", PointsSelector::ids(gone.clone()))
        .await
        .unwrap();
    let info = wait_ready(&client, "docs").await;
    // Half deleted is past the threshold: the segment was rebuilt with only the live half.
    assert_eq!(info.points_count, 1500);
    assert_eq!(info.indexed_vectors_count, 1500);
    assert_eq!(info.status, CollectionStatus::Green);
    for (id, v) in points.iter().take(50) {
        let hits = client
            .search("docs", SearchRequest::new(v.clone(), 3000).exact(true))
            .await
            .unwrap();
        assert_eq!(hits.len(), 1500);
        assert_eq!(
            hits.iter().any(|h| h.id == PointId::Num(*id)),
            id % 2 == 1,
            "point {id}"
        );
    }
    client.shutdown().await.unwrap();
}

/// A build that would run for minutes, interrupted by shutdown while a caller waits for it:
/// the wait is answered (the build stopped and let go of its waiters) and shutdown is clean
/// well inside its deadline. Were the build not stopped, the waiting request would still be
/// in flight at the deadline and the report would count it abandoned.
async fn shutdown_stops_a_running_build(ctx: Ctx) {
    let (config, name) = ctx.unique_config();
    let client = ctx
        .open(config.shutdown_timeout(Duration::from_secs(30)))
        .await;
    let n = 30_000;
    let create = CreateCollection::new(VectorParams::new(64, Distance::Cosine))
        .hnsw_config(HnswConfig {
            m: 64,
            ef_construct: 4000,
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            // Sealed (and indexed) exactly once, when all points are in.
            indexing_threshold: Some(n * 64 * 4 / 1024),
            default_segment_number: 1,
            ..OptimizersConfig::default()
        });
    client.create_collection("big", create).await.unwrap();
    let mut rng = Rng(6);
    let points: Vec<(u64, Vec<f32>)> = (0..n as u64).map(|i| (i, rng.vector(64))).collect();
    upsert_all(&client, "big", &points).await;
    let waiting = client.with_timeout(Duration::from_secs(110));
    let waiter = waiting.wait_index_ready("big");
    let stopper = async {
        // Until the build has visibly started.
        loop {
            let info = client.collection_info("big").await.unwrap();
            if info.optimization.is_some_and(|p| p.done > 0) {
                assert_eq!(info.status, CollectionStatus::Yellow);
                assert_eq!(info.optimization.map(|p| p.total), Some(n as u64));
                break;
            }
            client.health_check().await.unwrap();
        }
        client.shutdown().await.unwrap()
    };
    let (waited, report) = join(waiter, stopper).await;
    let info = waited.expect("the waiting caller is answered");
    assert_eq!(
        info.indexed_vectors_count, 0,
        "the build did not finish: {info:?}"
    );
    assert!(report.is_clean(), "{report:?}");
    common::assert_threads_gone(&name);
}

async fn bad_index_settings_are_refused(ctx: Ctx) {
    let client = ctx.open_default().await;
    let bad_m =
        CreateCollection::new(VectorParams::new(4, Distance::Dot)).hnsw_config(HnswConfig {
            m: 0,
            ..HnswConfig::default()
        });
    let err = client.create_collection("a", bad_m).await.unwrap_err();
    assert!(
        matches!(&err, RroError::Storage(StorageError::BadRequest(m)) if m.contains("hnsw_config.m")),
        "{err:?}"
    );
    let bad_threshold = CreateCollection::new(VectorParams::new(4, Distance::Dot))
        .optimizers_config(OptimizersConfig {
            deleted_threshold: 1.5,
            ..OptimizersConfig::default()
        });
    assert!(client.create_collection("a", bad_threshold).await.is_err());
    assert!(!client.collection_exists("a").await.unwrap());
    // Qdrant's JSON, partial configs included, means the same thing here.
    let json = r#"{"vectors": {"size": 4, "distance": "Cosine", "on_disk": true},
                   "hnsw_config": {"m": 32},
                   "optimizers_config": {"indexing_threshold": 0}}"#;
    let create: CreateCollection = serde_json::from_str(json).unwrap();
    assert_eq!(create.hnsw_config.unwrap().ef_construct, 100);
    client.create_collection("b", create).await.unwrap();
    let info = client.collection_info("b").await.unwrap();
    assert_eq!(info.config.hnsw_config.m, 32);
    assert_eq!(
        info.config.params.vectors.get("").and_then(|v| v.on_disk),
        Some(true)
    );
    assert_eq!(info.config.optimizer_config.indexing_threshold, Some(0));
    client.shutdown().await.unwrap();
}
