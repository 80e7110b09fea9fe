//! Storage (issue 3): upsert throughput under each durability setting, and the time to reopen
//! a large collection. A plain `main` (no criterion) that prints markdown tables.
//!
//! 1. **Upsert throughput**, points/s: 384-d random vectors, Cosine, payload
//!    `{"i": id, "tag": "abc"}`, batches of 1, 100 and 1000, under `Durability::Fsync` and
//!    `Durability::Interval(1 s)` (the default). One caller upserts batch after batch, waiting
//!    for each (what an application sees). Contenders:
//!    - `engine`: `TableOfContent::open` + `collection.upsert` on the bench thread, no client.
//!      A helper thread does what the instance's background flusher does: every flush interval
//!      it syncs the logs (`sync_logs`), and it asks the writer to checkpoint logs past
//!      `wal_checkpoint_bytes` (64 MiB), which the writer does between two batches, as the
//!      instance does on its single update thread.
//!    - `rro-tokio`, `rro-smol`: `client.upsert_points` on an instance opened with
//!      `rro::open_with(Config::new(dir), backend)`, driven by `futures::executor::block_on`.
//!
//!    Every run uses a fresh temporary directory and collection, warms up with a few batches,
//!    then times the upserts of a fixed number of points (wall clock, batches built
//!    beforehand). The final `flush` (a checkpoint of what is left in the log) is timed
//!    separately: the first table (acknowledged points/s) leaves it out, the second adds it
//!    (points/s until everything is in segments). The background flusher checks once per
//!    interval whether the log passed 64 MiB, so a run of a second or less holds few
//!    checkpoints and leaves most of its log to the final flush: the first table is a burst
//!    figure, the second a pessimistic sustained one (the final flush also syncs).
//!    3 runs per cell; the median is reported. A last, **sustained** cell upserts 1,000,000
//!    points in batches of 1000 under `Interval(1 s)` (5 to 10 s per run), long enough for
//!    several background checkpoints, so its acknowledged rate is the steady-state figure.
//!    Every run also reports how many checkpoints ran while it was timed.
//! 2. **Reopen**: 1,000,000 points x 96-d, Dot, payload `{"i": id}`, built once through the
//!    engine in batches of 10,000 and flushed into segments. Timed: `TableOfContent::open`
//!    5 times in this process and 5 times in a fresh child process (this executable, run with
//!    `RRO_BENCH_OPEN_CHILD=<dir>`; a fresh process has to fault in all the memory the open
//!    allocates, as an application starting up does), median and min; and `rro::open_with`
//!    until it returns plus one `count_points` (3 times per backend, each on its own copy of
//!    the directory, since shutdown checkpoints the log). The same again for a directory
//!    whose last 100,000 points were written after the flush and are only in the write-ahead
//!    log (reopen with log replay). The files were just written, so they are in the page
//!    cache: these are warm reopens.
//!
//! Run: `cargo bench --all-features --bench storage`.
//! `RRO_BENCH_QUICK=1` shrinks every size (a smoke test; its figures mean little).

mod report;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use report::{commit, list, median, median_duration, ms, thousands, Contender};
use rro::models::{Distance, PointStruct, VectorParams};
use rro_core::storage::TableOfContent;
use rro_core::{Config, Durability};

const COLLECTION: &str = "bench";
const UPSERT_DIM: usize = 384;
const REOPEN_DIM: usize = 96;
const REOPEN_BATCH: usize = 10_000;
/// Set (to a data directory) in the child process that times one engine open.
const OPEN_CHILD_ENV: &str = "RRO_BENCH_OPEN_CHILD";
/// Ids of warm-up points, far above the measured ones.
const WARMUP_ID_BASE: u64 = 1 << 40;

// ---------------------------------------------------------------------------------------------
// Sizes

struct Sizes {
    quick: bool,
    /// Runs per throughput cell.
    runs: usize,
    /// Points of the reopen collection.
    reopen_points: usize,
    /// Of those, how many are left in the log for the replay variant.
    reopen_wal_points: usize,
    engine_reopens: usize,
    client_reopens: usize,
}

impl Sizes {
    fn from_env() -> Self {
        let quick = std::env::var("RRO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Sizes {
                quick,
                runs: 1,
                reopen_points: 100_000,
                reopen_wal_points: 10_000,
                engine_reopens: 2,
                client_reopens: 1,
            }
        } else {
            Sizes {
                quick,
                runs: 3,
                reopen_points: 1_000_000,
                reopen_wal_points: 100_000,
                engine_reopens: 5,
                client_reopens: 3,
            }
        }
    }

    /// Points timed in one run of a throughput cell (each run stays within about 10 s here).
    fn upsert_points(&self, batch: usize, durability: Durability) -> usize {
        // This VM syncs in about 0.2 ms; on a disk with real flushes (several ms each), the
        // Fsync cells of batch 1 take accordingly longer.
        let fsync = durability == Durability::Fsync;
        let full = match (batch, fsync) {
            (1, true) => 10_000,
            (1, false) => 20_000,
            (_, _) => 200_000,
        };
        if self.quick {
            full / 10
        } else {
            full
        }
    }

    /// Points of the sustained run (batches of 1000, `Interval(1 s)`): long enough for the
    /// background checkpoints to keep pace with the writes.
    fn sustained_points(&self) -> usize {
        if self.quick {
            50_000
        } else {
            1_000_000
        }
    }

    /// Points upserted before the timed part of a run.
    fn warmup_points(batch: usize) -> usize {
        match batch {
            1 => 100,
            100 => 500,
            _ => 2_000,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data

/// splitmix64: a fixed-seed generator, so every run upserts the same points.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_f32(&mut self) -> f32 {
        // 24 random bits give every representable step of [0, 1) at f32 precision.
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        unit * 2.0 - 1.0
    }

    fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.next_f32()).collect()
    }
}

/// `count` points with ids `first_id..`, as batches of `batch`.
fn batches(
    rng: &mut Rng,
    first_id: u64,
    count: usize,
    batch: usize,
    dim: usize,
    tagged: bool,
) -> Vec<Vec<PointStruct>> {
    let mut out = Vec::with_capacity(count.div_ceil(batch));
    let mut id = first_id;
    let end = first_id + count as u64;
    while id < end {
        let n = batch.min((end - id) as usize);
        let points = (id..id + n as u64)
            .map(|i| {
                let payload = if tagged {
                    rro::payload!({"i": i, "tag": "abc"})
                } else {
                    rro::payload!({"i": i})
                };
                PointStruct::new(i, rng.vector(dim)).with_payload(payload)
            })
            .collect();
        out.push(points);
        id += n as u64;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Contenders

/// The engine's stand-in for the instance's background flusher: every flush interval it syncs
/// the logs and raises `checkpoint_due`, which the writer acts on between two batches.
struct Flusher {
    stop: Arc<AtomicBool>,
    checkpoint_due: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    fn start(toc: &Arc<TableOfContent>) -> Self {
        let interval = toc.flush_interval().expect("a data directory");
        let stop = Arc::new(AtomicBool::new(false));
        let checkpoint_due = Arc::new(AtomicBool::new(false));
        let thread = {
            let (toc, stop, due) = (toc.clone(), stop.clone(), checkpoint_due.clone());
            std::thread::Builder::new()
                .name("bench-flusher".into())
                .spawn(move || {
                    let mut next = Instant::now() + interval;
                    while !stop.load(Ordering::Acquire) {
                        let now = Instant::now();
                        if now < next {
                            std::thread::park_timeout(next - now);
                            continue;
                        }
                        next += interval;
                        toc.sync_logs().expect("sync the logs");
                        due.store(true, Ordering::Release);
                    }
                })
                .expect("spawn the flusher thread")
        };
        Flusher {
            stop,
            checkpoint_due,
            thread: Some(thread),
        }
    }

    /// Checkpoint large logs if the flusher asked for it.
    fn tick(&self, toc: &TableOfContent) {
        if self.checkpoint_due.swap(false, Ordering::AcqRel) {
            toc.checkpoint_large_logs().expect("checkpoint");
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            thread.join().expect("the flusher thread exits cleanly");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Upsert throughput

struct UpsertRun {
    /// Acknowledged upserts per second.
    points_per_sec: f64,
    /// Points per second of upserts plus the final flush: everything in segments.
    with_flush_per_sec: f64,
    flush: Duration,
    /// Checkpoints taken during the timed upserts.
    checkpoints: u64,
}

fn upsert_run(
    contender: Contender,
    batch: usize,
    durability: Durability,
    points: usize,
) -> UpsertRun {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let config = Config::new(dir.path()).durability(durability);
    let mut rng = Rng::new(0x5EED_0384);
    let warmup = batches(
        &mut rng,
        WARMUP_ID_BASE,
        Sizes::warmup_points(batch),
        batch,
        UPSERT_DIM,
        true,
    );
    let measured = batches(&mut rng, 0, points, batch, UPSERT_DIM, true);
    let params = VectorParams::new(UPSERT_DIM as u64, Distance::Cosine);

    let (elapsed, flush, checkpoints) = if contender == Contender::Engine {
        let toc = Arc::new(TableOfContent::open(&config).expect("open the engine"));
        toc.create_collection(COLLECTION, params.into())
            .expect("create the collection");
        let collection = toc.collection(COLLECTION).expect("the collection");
        let flusher = Flusher::start(&toc);
        for points in warmup {
            collection.upsert(points).expect("upsert");
            flusher.tick(&toc);
        }
        let segments_before = collection.info().segments_count;
        let started = Instant::now();
        for points in measured {
            collection.upsert(points).expect("upsert");
            flusher.tick(&toc);
        }
        let elapsed = started.elapsed();
        drop(flusher);
        let checkpoints = collection.info().segments_count - segments_before;
        let started = Instant::now();
        toc.flush().expect("flush");
        (elapsed, started.elapsed(), checkpoints)
    } else {
        let client = contender.open_client(config);
        block_on(async {
            client
                .create_collection(COLLECTION, params)
                .await
                .expect("create the collection");
            for points in warmup {
                client
                    .upsert_points(COLLECTION, points)
                    .await
                    .expect("upsert");
            }
            let segments = || async {
                let info = client.collection_info(COLLECTION).await;
                info.expect("collection info").segments_count
            };
            let segments_before = segments().await;
            let started = Instant::now();
            for points in measured {
                client
                    .upsert_points(COLLECTION, points)
                    .await
                    .expect("upsert");
            }
            let elapsed = started.elapsed();
            let checkpoints = segments().await - segments_before;
            let started = Instant::now();
            client.flush().await.expect("flush");
            let flush = started.elapsed();
            client.shutdown().await.expect("shut down");
            (elapsed, flush, checkpoints)
        })
    };
    UpsertRun {
        points_per_sec: points as f64 / elapsed.as_secs_f64(),
        with_flush_per_sec: points as f64 / (elapsed + flush).as_secs_f64(),
        flush,
        checkpoints,
    }
}

struct UpsertCell {
    batch: usize,
    durability: Durability,
    points: usize,
    /// Per contender (in `Contender::all()` order), every run.
    results: Vec<Vec<UpsertRun>>,
}

/// The sustained cell: batches of 1000 under the default durability, many more points.
fn sustained(sizes: &Sizes) -> UpsertCell {
    let durability = Durability::Interval(Duration::from_secs(1));
    let (batch, points) = (1000, sizes.sustained_points());
    let results = Contender::all()
        .into_iter()
        .map(|contender| {
            let runs: Vec<UpsertRun> = (0..sizes.runs)
                .map(|_| upsert_run(contender, batch, durability, points))
                .collect();
            eprintln!(
                "sustained {}: {} points/s, {} with the final flush",
                contender.name(),
                list(runs.iter().map(|r| r.points_per_sec)),
                list(runs.iter().map(|r| r.with_flush_per_sec)),
            );
            runs
        })
        .collect();
    UpsertCell {
        batch,
        durability,
        points,
        results,
    }
}

fn upsert_throughput(sizes: &Sizes) -> Vec<UpsertCell> {
    let mut cells = Vec::new();
    for durability in [
        Durability::Interval(Duration::from_secs(1)),
        Durability::Fsync,
    ] {
        for batch in [1, 100, 1000] {
            let points = sizes.upsert_points(batch, durability);
            let mut results = Vec::new();
            for contender in Contender::all() {
                let runs: Vec<UpsertRun> = (0..sizes.runs)
                    .map(|_| upsert_run(contender, batch, durability, points))
                    .collect();
                eprintln!(
                    "upsert {} batch {batch} {}: {} points/s; final flush {:?}",
                    contender.name(),
                    durability_name(durability),
                    list(runs.iter().map(|r| r.points_per_sec)),
                    runs.iter().map(|r| r.flush).collect::<Vec<_>>()
                );
                results.push(runs);
            }
            cells.push(UpsertCell {
                batch,
                durability,
                points,
                results,
            });
        }
    }
    cells
}

// ---------------------------------------------------------------------------------------------
// Reopen

struct ReopenDir {
    /// Keeps the directory alive.
    _root: tempfile::TempDir,
    path: PathBuf,
    build: Duration,
}

/// Build the reopen collection: `total` points, of which the last `in_wal` are written after
/// the final flush and left in the log.
fn build_reopen_dir(total: usize, in_wal: usize) -> ReopenDir {
    let root = tempfile::tempdir().expect("create a temporary directory");
    let path = root.path().join("data");
    let started = Instant::now();
    let toc = TableOfContent::open(&Config::new(&path)).expect("open the engine");
    toc.create_collection(
        COLLECTION,
        VectorParams::new(REOPEN_DIM as u64, Distance::Dot).into(),
    )
    .expect("create the collection");
    let collection = toc.collection(COLLECTION).expect("the collection");
    let mut rng = Rng::new(0x5EED_0096);
    let flushed = total - in_wal;
    let mut id = 0;
    while id < total {
        // Never let a batch straddle the flush point.
        let end = if id < flushed { flushed } else { total };
        let n = REOPEN_BATCH.min(end - id);
        for points in batches(&mut rng, id as u64, n, n, REOPEN_DIM, false) {
            collection.upsert(points).expect("upsert");
        }
        id += n;
        if id <= flushed {
            // What the background flusher does between batches.
            toc.checkpoint_large_logs().expect("checkpoint");
        }
        if id == flushed {
            toc.flush().expect("flush");
        }
    }
    assert_eq!(collection.count(), total as u64);
    drop(collection);
    drop(toc);
    ReopenDir {
        _root: root,
        path,
        build: started.elapsed(),
    }
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir(path).expect("read a directory").flatten() {
        let meta = entry.metadata().expect("file metadata");
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory");
    for entry in fs::read_dir(from).expect("read a directory").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a file");
            // Written back now, so no writeback of the copy runs during the timed open.
            fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .expect("sync a copied file");
        }
    }
}

/// In the child process: open `path` with the engine, print the nanoseconds it took.
fn open_child(path: &Path) {
    let started = Instant::now();
    let toc = TableOfContent::open(&Config::new(path)).expect("reopen the engine");
    let elapsed = started.elapsed();
    let count = toc.collection(COLLECTION).expect("the collection").count();
    println!("{} {count}", elapsed.as_nanos());
}

/// Time one engine open of `path` in a fresh process (this executable again): what an
/// application pays at start, without this process's already-faulted-in heap.
fn open_in_child(path: &Path, expected: usize) -> Duration {
    let exe = std::env::current_exe().expect("the bench executable");
    let out = std::process::Command::new(exe)
        .env(OPEN_CHILD_ENV, path)
        .output()
        .expect("run the open child");
    assert!(out.status.success(), "the open child failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let nanos: u64 = fields
        .next()
        .and_then(|f| f.parse().ok())
        .expect("the child prints nanoseconds");
    let count: u64 = fields
        .next()
        .and_then(|f| f.parse().ok())
        .expect("the child prints the count");
    assert_eq!(count, expected as u64);
    Duration::from_nanos(nanos)
}

struct ReopenResult {
    points: usize,
    in_wal: usize,
    build: Duration,
    size: u64,
    engine: Vec<Duration>,
    engine_fresh: Vec<Duration>,
    /// Per client contender.
    clients: Vec<Vec<Duration>>,
}

fn reopen(sizes: &Sizes, in_wal: usize) -> ReopenResult {
    let total = sizes.reopen_points;
    let dir = build_reopen_dir(total, in_wal);
    let size = dir_size(&dir.path);

    let mut engine = Vec::new();
    for _ in 0..sizes.engine_reopens {
        let started = Instant::now();
        let toc = TableOfContent::open(&Config::new(&dir.path)).expect("reopen the engine");
        let elapsed = started.elapsed();
        let count = toc.collection(COLLECTION).expect("the collection").count();
        assert_eq!(count, total as u64);
        drop(toc);
        engine.push(elapsed);
    }
    eprintln!("reopen engine ({in_wal} in the log): {engine:?}");
    let engine_fresh: Vec<Duration> = (0..sizes.engine_reopens)
        .map(|_| open_in_child(&dir.path, total))
        .collect();
    eprintln!("reopen engine, fresh process ({in_wal} in the log): {engine_fresh:?}");

    let mut clients = Vec::new();
    for contender in Contender::clients() {
        let mut times = Vec::new();
        for run in 0..sizes.client_reopens {
            // Shutdown checkpoints the log: give every open its own copy of the directory
            // (written back and still in the page cache, like the original).
            let copy = tempfile::tempdir().expect("create a temporary directory");
            let path = copy.path().join(format!("data-{run}"));
            copy_dir(&dir.path, &path);
            let started = Instant::now();
            let client = contender.open_client(Config::new(&path));
            let count = block_on(client.count_points(COLLECTION)).expect("count");
            let elapsed = started.elapsed();
            assert_eq!(count, total as u64);
            block_on(client.shutdown()).expect("shut down");
            times.push(elapsed);
        }
        eprintln!(
            "reopen {} ({in_wal} in the log): {times:?}",
            contender.name()
        );
        clients.push(times);
    }
    ReopenResult {
        points: total,
        in_wal,
        build: dir.build,
        size,
        engine,
        engine_fresh,
        clients,
    }
}

// ---------------------------------------------------------------------------------------------
// Report

fn durability_name(durability: Durability) -> String {
    match durability {
        Durability::Fsync => "Fsync".to_owned(),
        Durability::Interval(d) => format!("Interval({} s)", d.as_secs_f64()),
    }
}

/// A table of the median of `pick` per cell and contender, with client / engine ratios.
fn print_upsert_table(title: &str, cells: &[UpsertCell], pick: fn(&UpsertRun) -> f64) {
    let contenders = Contender::all();
    println!("{title}\n");
    let mut header = "| Batch | Durability | Points timed |".to_owned();
    let mut rule = "|---:|---|---:|".to_owned();
    for c in &contenders {
        header.push_str(&format!(" {} |", c.name()));
        rule.push_str("---:|");
    }
    for c in contenders.iter().skip(1) {
        header.push_str(&format!(" {} / engine |", c.name()));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    for cell in cells {
        let medians: Vec<f64> = cell
            .results
            .iter()
            .map(|runs| median(&mut runs.iter().map(pick).collect::<Vec<_>>()))
            .collect();
        let mut row = format!(
            "| {} | {} | {} |",
            cell.batch,
            durability_name(cell.durability),
            thousands(cell.points as f64)
        );
        for m in &medians {
            row.push_str(&format!(" {} |", thousands(*m)));
        }
        for m in medians.iter().skip(1) {
            row.push_str(&format!(" {:.2} |", m / medians[0]));
        }
        println!("{row}");
    }
}

fn print_upserts(cells: &[UpsertCell]) {
    print_upsert_table(
        "### Upsert throughput: acknowledged points/s (median of runs)",
        cells,
        |r| r.points_per_sec,
    );
    println!();
    print_upsert_table(
        "### Upserts plus the final flush: points/s until everything is in segments (median)",
        cells,
        |r| r.with_flush_per_sec,
    );

    println!("\nEvery run:\n");
    println!(
        "| Batch | Durability | Contender | Acknowledged points/s | With final flush | Final \
         flush, ms | Checkpoints while timed |"
    );
    println!("|---:|---|---|---|---|---|---|");
    for cell in cells {
        for (c, runs) in Contender::all().iter().zip(&cell.results) {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell.batch,
                durability_name(cell.durability),
                c.name(),
                list(runs.iter().map(|r| r.points_per_sec)),
                list(runs.iter().map(|r| r.with_flush_per_sec)),
                runs.iter()
                    .map(|r| ms(r.flush))
                    .collect::<Vec<_>>()
                    .join(", "),
                runs.iter()
                    .map(|r| r.checkpoints.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

fn print_sustained(cell: &UpsertCell) {
    println!(
        "\n### Sustained: {} points, batches of {}, {} (median of runs)\n",
        thousands(cell.points as f64),
        cell.batch,
        durability_name(cell.durability)
    );
    println!(
        "| Contender | Acknowledged points/s | With final flush | Final flush, ms | \
         Checkpoints while timed |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (c, runs) in Contender::all().iter().zip(&cell.results) {
        let pick = |f: fn(&UpsertRun) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        let mut flushes: Vec<Duration> = runs.iter().map(|r| r.flush).collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            c.name(),
            thousands(pick(|r| r.points_per_sec)),
            thousands(pick(|r| r.with_flush_per_sec)),
            ms(median_duration(&mut flushes)),
            runs.iter()
                .map(|r| r.checkpoints.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// One table row: for each directory, the median (min) of its runs.
fn reopen_row<'a>(label: &str, runs: impl Iterator<Item = &'a [Duration]>) -> String {
    let mut line = format!("| {label} |");
    for times in runs {
        let mut times = times.to_vec();
        let min = *times.iter().min().expect("at least one run");
        line.push_str(&format!(
            " {} ({}) |",
            ms(median_duration(&mut times)),
            ms(min)
        ));
    }
    line
}

fn print_reopens(results: &[ReopenResult]) {
    let first = &results[0];
    println!(
        "\n### Reopen, {} points x {REOPEN_DIM}-d, ms\n",
        thousands(first.points as f64)
    );
    let mut header = "| What is timed |".to_owned();
    let mut rule = "|---|".to_owned();
    for r in results.iter() {
        header.push_str(&if r.in_wal == 0 {
            " all in segments: median (min) |".to_owned()
        } else {
            format!(
                " last {} in the log: median (min) |",
                thousands(r.in_wal as f64)
            )
        });
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    let engine_runs = results[0].engine.len();
    let mut lines = vec![reopen_row(
        &format!("engine `TableOfContent::open` in this process, runs: {engine_runs}"),
        results.iter().map(|r| r.engine.as_slice()),
    )];
    lines.push(reopen_row(
        &format!("engine `TableOfContent::open` in a fresh process, runs: {engine_runs}"),
        results.iter().map(|r| r.engine_fresh.as_slice()),
    ));
    for (i, c) in Contender::clients().into_iter().enumerate() {
        let runs = results[0].clients[i].len();
        lines.push(reopen_row(
            &format!("{} `open_with` + `count_points`, runs: {runs}", c.name()),
            results.iter().map(|r| r.clients[i].as_slice()),
        ));
    }
    for line in lines {
        println!("{line}");
    }
    let mut sizes = "| on-disk size, MiB |".to_owned();
    let mut builds = "| build through the engine (untimed above), s |".to_owned();
    for r in results.iter() {
        sizes.push_str(&format!(" {:.0} |", r.size as f64 / (1 << 20) as f64));
        builds.push_str(&format!(" {:.1} |", r.build.as_secs_f64()));
    }
    println!("{sizes}\n{builds}");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from other tools is ignored.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(path) = std::env::var_os(OPEN_CHILD_ENV) {
        open_child(Path::new(&path));
        return;
    }
    let sizes = Sizes::from_env();
    let started = Instant::now();
    eprintln!(
        "storage bench{}: upsert throughput, then reopen",
        if sizes.quick { " (quick)" } else { "" }
    );

    let cells = upsert_throughput(&sizes);
    let sustained = sustained(&sizes);
    let reopens = [reopen(&sizes, 0), reopen(&sizes, sizes.reopen_wal_points)];

    println!("## Storage bench\n");
    println!("- Command: `{}`", report::command("storage", sizes.quick));
    println!("- Commit: `{}`", commit());
    println!(
        "- Cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "- Upserts: {UPSERT_DIM}-d Cosine, payload `{{\"i\": id, \"tag\": \"abc\"}}`, one \
         caller, {} run(s) per cell, fresh directory per run. Acknowledged points/s leave \
         out the final flush (the checkpoint of what is still in the log), which the second \
         table adds; both include the background checkpoints (checked once per flush \
         interval, taken once the log passes 64 MiB), which block writes while they run.",
        sizes.runs
    );
    println!(
        "- Reopen: {REOPEN_DIM}-d Dot, payload `{{\"i\": id}}`, built in batches of \
         {REOPEN_BATCH}; warm page cache.\n"
    );
    print_upserts(&cells);
    print_sustained(&sustained);
    print_reopens(&reopens);
    println!(
        "\nTotal bench time: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
