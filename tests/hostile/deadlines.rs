//! Deadlines kept under hostile timing: see the module docs of `main.rs`.
//!
//! - A request really blocked in a system call (reading a FIFO nobody writes) on an otherwise
//!   idle instance times out on time, even when it occupies the only general-pool thread.
//! - Shutdown with a 1 ms deadline under a queue of heavy searches returns at once, answers
//!   every queued caller with `ChannelClosed` (never their own timeout), leaves no thread
//!   running queued work, and releases the data directory so that it reopens at once, intact.
//! - A write stuck past shutdown keeps the directory locked (so it can never write into a
//!   directory another instance owns) and releases it, unharmed, once it ends.

use std::time::{Duration, Instant};

use futures::future::join_all;
use rro::models::{Distance, GetPoints, PointStruct, SearchRequest, VectorParams};
use rro::{RroError, StorageError};

use crate::backend_tests;
use crate::common::{assert_threads_gone, Ctx, Rng};

backend_tests!(
    blocked_request_on_an_idle_instance_times_out_on_time,
    shutdown_under_load_releases_the_directory_at_once,
);

/// How late a deadline may fire: a correctness bound for a loaded 2-core machine, not a
/// performance figure (the bug it guards against was 22 s late).
const MARGIN: Duration = Duration::from_millis(250);

/// Assert that `call` failed with `Timeout(limit)` no later than [`MARGIN`] after `limit`.
fn assert_timed_out<T: std::fmt::Debug>(result: rro::Result<T>, limit: Duration, took: Duration) {
    assert!(
        matches!(result, Err(RroError::Timeout(l)) if l == limit),
        "expected Timeout({limit:?}), got {result:?}"
    );
    assert!(
        took >= limit && took < limit + MARGIN,
        "a {limit:?} deadline fired after {took:?}"
    );
}

/// A FIFO in `dir`: opening it for reading blocks until someone opens it for writing.
#[cfg(unix)]
fn fifo(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("never-written.snapshot");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed: {status}");
    path
}

/// Reopen `config`'s directory; `AlreadyOpen` is returned, anything else fails the test.
async fn reopen(ctx: &Ctx, config: rro::Config) -> Result<rro::RroClient, StorageError> {
    match ctx.try_open(config).await {
        Ok(client) => Ok(client),
        Err(RroError::Storage(error @ StorageError::AlreadyOpen { .. })) => Err(error),
        Err(other) => panic!("reopening failed: {other:?}"),
    }
}

#[cfg(unix)]
async fn blocked_request_on_an_idle_instance_times_out_on_time(ctx: Ctx) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (config, name) = ctx.persistent_config(&data);
    // One general thread: the blocked request takes it, nothing else runs there.
    let config = config.general_threads(1);
    let client = ctx.open(config.clone()).await;
    client
        .create_collection("kept", VectorParams::new(2, Distance::Dot))
        .await
        .expect("created");
    client
        .upsert_points("kept", vec![PointStruct::new(7u64, vec![1.0, 2.0])])
        .await
        .expect("upserted");
    let fifo = fifo(dir.path());

    // Blocked in open(2) on the FIFO, on an instance with nothing else to do.
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let blocked = client
        .with_timeout(limit)
        .recover_snapshot("restored", &fifo)
        .await;
    assert_timed_out(blocked, limit, started.elapsed());

    // The general thread is still blocked: a request queued behind it times out on time too,
    // and so do several deadlines pending at once, earliest first.
    let limits = [400, 150, 250].map(Duration::from_millis);
    let started = Instant::now();
    let waits = limits.map(|limit| {
        let client = client.with_timeout(limit);
        async move {
            let result = client.list_snapshots("kept").await;
            (result, started.elapsed())
        }
    });
    for ((result, took), limit) in join_all(waits).await.into_iter().zip(limits) {
        assert_timed_out(result, limit, took);
    }
    // Searches run on their own pool and are served meanwhile.
    let hits = client
        .search("kept", SearchRequest::new(vec![1.0, 0.0], 1))
        .await
        .expect("search served while the general pool is blocked");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, 7u64.into());
    assert_eq!(hits[0].score, 1.0);

    // Shut down with the write still stuck: the directory stays locked, because that write
    // may still go on and must not land in a directory another instance has opened.
    let report = client
        .with_timeout(Duration::from_millis(50))
        .shutdown()
        .await
        .expect("shutdown reports");
    assert_eq!(report.writes_left_running, 1, "{report:?}");
    assert!(!report.is_clean());
    assert!(reopen(&ctx, config.clone()).await.is_err(), "still locked");

    // Unblock the stuck request with bytes that are no archive: it fails, writes nothing,
    // and lets go of the directory as it ends.
    {
        use std::io::Write;
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("the stuck reader is waiting on the FIFO");
        // The reader may give up as soon as it reads a header it rejects.
        let _ = writer.write_all(&[0xA5; 4096]);
    }
    assert_threads_gone(&name);
    let client = reopen(&ctx, config)
        .await
        .expect("released once the stuck write ended");
    assert_eq!(
        client
            .list_collections()
            .await
            .expect("listed")
            .collections
            .len(),
        1,
        "nothing recovered from the FIFO"
    );
    let records = client
        .get_points("kept", GetPoints::new([7u64]).with_vector(true))
        .await
        .expect("get");
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].vector,
        Some(vec![1.0, 2.0].into()),
        "the point written before the stuck recover is intact"
    );
    client.shutdown().await.expect("shutdown");
}

#[cfg(not(unix))]
async fn blocked_request_on_an_idle_instance_times_out_on_time(_ctx: Ctx) {}

/// Points in the heavy collection, and its dimension.
const POINTS: u64 = 4000;
const DIM: usize = 128;

async fn shutdown_under_load_releases_the_directory_at_once(ctx: Ctx) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, name) = ctx.persistent_config(dir.path());
    let client = ctx.open(config).await;
    client
        .create_collection("heavy", VectorParams::new(DIM as u64, Distance::Euclid))
        .await
        .expect("created");
    let mut rng = Rng(12);
    let vectors: Vec<Vec<f32>> = (0..POINTS).map(|_| rng.vector(DIM)).collect();
    for (chunk, ids) in vectors
        .chunks(500)
        .zip((0..POINTS).collect::<Vec<_>>().chunks(500))
    {
        let points = chunk
            .iter()
            .zip(ids)
            .map(|(vector, &id)| PointStruct::new(id, vector.clone()))
            .collect();
        client
            .upsert_points("heavy", points)
            .await
            .expect("upserted");
    }

    // Forty batches of 100 exact searches: seconds of work for the search pool, queued at once
    // by callers with the default 30 s timeout, next to writes that may or may not get in.
    let queries: Vec<Vec<f32>> = (0..100).map(|_| rng.vector(DIM)).collect();
    let searches = (0..40).map(|_| {
        let client = client.clone();
        let batch = queries
            .iter()
            .map(|q| SearchRequest::new(q.clone(), 3))
            .collect();
        async move { client.search_batch("heavy", batch).await.map(drop) }
    });
    let writes = (0..20u64).map(|i| {
        let client = client.clone();
        async move {
            let id = POINTS + i;
            let result = client
                .upsert_points("heavy", vec![PointStruct::new(id, vec![100.0; DIM])])
                .await;
            (id, result.map(drop))
        }
    });
    let shutdown = async {
        // Let every call reach the queue first.
        futures::pending!();
        let started = Instant::now();
        let report = client
            .with_timeout(Duration::from_millis(1))
            .shutdown()
            .await;
        (report, started.elapsed())
    };
    let started = Instant::now();
    let (searched, written, (report, shutdown_took)) =
        futures::join!(join_all(searches), join_all(writes), shutdown);
    let everyone_answered = started.elapsed();

    let report = report.expect("shutdown reports");
    assert_eq!(report.threads_left_running, 0, "{report:?}");
    assert_eq!(report.writes_left_running, 0, "{report:?}");
    // Before, the pools' 2 s grace ran out waiting for searches that ignored the shutdown.
    assert!(
        shutdown_took < Duration::from_millis(1500),
        "shutdown took {shutdown_took:?}: {report:?}"
    );
    assert!(
        everyone_answered < Duration::from_secs(10),
        "callers waited {everyone_answered:?} for an answer"
    );
    for result in &searched {
        assert!(
            matches!(result, Ok(()) | Err(RroError::ChannelClosed)),
            "a queued search got {result:?}"
        );
    }
    assert!(
        searched.iter().any(Result::is_err),
        "the queue was dropped at the deadline, not worked through"
    );
    for (_, result) in &written {
        assert!(
            matches!(result, Ok(()) | Err(RroError::ChannelClosed)),
            "a queued write got {result:?}"
        );
    }
    // No thread of the old instance goes on with the queue.
    assert_threads_gone(&name);

    // The directory reopens at once, under a new instance, with every acknowledged write.
    let (config, _) = ctx.persistent_config(dir.path());
    let reopened = reopen(&ctx, config.clone())
        .await
        .expect("the directory is free as soon as shutdown returned");
    let acked: Vec<u64> = written
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(id, _)| *id)
        .collect();
    let count = reopened.count_points("heavy").await.expect("count");
    assert!(
        count >= POINTS + acked.len() as u64 && count <= POINTS + 20,
        "{count} points after reopening, {} writes acknowledged",
        acked.len()
    );
    let records = reopened
        .get_points("heavy", GetPoints::new(acked.iter().copied()))
        .await
        .expect("get");
    assert_eq!(records.len(), acked.len(), "an acknowledged write was lost");
    // The stored vectors answer a search exactly as a brute force over them does.
    let query = &queries[0];
    let nearest = (0..POINTS)
        .map(|id| {
            let v = &vectors[id as usize];
            let d: f32 = v.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
            (d, id)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
        .expect("points");
    let hits = reopened
        .search("heavy", SearchRequest::new(query.clone(), 1))
        .await
        .expect("search");
    assert_eq!(hits[0].id, nearest.into());
    reopened.shutdown().await.expect("shutdown");
}
