//! Approximate nearest-neighbour search: recall, queries per second, index build time and
//! memory of the HNSW index, on a synthetic and a real dataset. A plain `main` (no criterion)
//! that prints markdown tables.
//!
//! Datasets:
//! - `synthetic-128`: 100,000 x 128 vectors from a Gaussian mixture, generated here from a
//!   fixed seed (splitmix64 + Box-Muller): 64 cluster centres drawn from N(0, 1), each point a
//!   random centre plus N(0, 0.35) noise per component, then normalised. 1,000 queries are
//!   drawn the same way from another seed stream. The exact top 10 of every query is found by
//!   brute force here (`distance::dot` on the normalised vectors, 2 threads).
//! - `debian-384`: `debian-384.{base,query}.fvecs` and `debian-384.gt.ivecs` from
//!   `../shared/data` beside the workspace (`RRO_ANN_DATA` overrides the directory): 59,004
//!   x 384 sentence embeddings, 1,000 queries, ground truth the first 10 of each row's 100.
//!   Skipped, with a note, when the files are missing.
//!
//! Both use Cosine distance, `HnswConfig { m: 16, ef_construct: 100 }` and an optimizer that
//! seals and indexes the write segment at once (`indexing_threshold` 1 KiB) and keeps one
//! segment (`default_segment_number` 1). `full_scan_threshold` is 0, so every search walks the
//! graph; the default (10,000 KiB) would have the small quick-mode synthetic set scanned
//! exactly, and is below both full datasets anyway.
//!
//! Each dataset runs in a child process (this executable, with `RRO_ANN_CHILD=<dataset>`), so
//! the peak RSS it reports is its own. In the child:
//!
//! 1. **Build (engine)**: `TableOfContent::open` on a fresh temporary directory, the base
//!    vectors streamed in batches of 1,000 into `collection.upsert` (read or regenerated batch
//!    by batch, never all in memory at once). *insert* is the time spent in `upsert` calls;
//!    *index build* is `collection.optimize(2)` (seal, then build the HNSW graph on 2
//!    threads); *flush* is `toc.flush()`, which writes the segment and its index to disk.
//!    *peak RSS* is `VmHWM` from `/proc/self/status` after the flush; *raw vectors + links* is
//!    n x dim x 4 bytes plus `collection.index_links_bytes()`, the least any in-memory HNSW
//!    index of these vectors needs; the target for their ratio is < 1.5.
//! 2. **Search (engine)**: one query at a time on the bench thread, through
//!    `collection.search` with `hnsw_ef` 16 ... 256. *recall@10* is the mean over queries of
//!    |hits ∩ true top 10| / 10; *QPS* is queries / wall time of one pass over every query,
//!    after a warm-up of 100 queries. Each ef runs `runs` times (3; quick: 1) and the median
//!    QPS is reported. An `exact` line (brute force through the engine, one run) checks the
//!    ground truth: its recall must be at least 0.999.
//! 3. **Engine vs client, ef 64**: the engine is dropped (closing the directory), then, in
//!    interleaved rounds (engine, rro-tokio, rro-smol, engine, ...), each contender opens the
//!    same directory and runs one pass: the engine through `TableOfContent::open` and
//!    `collection.search`, the clients through `rro::open_with` and `client.search`, driven by
//!    `futures::executor::block_on` from the bench thread, then `shutdown`. *open* is the time
//!    to open (clients: until `wait_index_ready` returns, which is at once when the index was
//!    loaded from disk and not rebuilt). Median QPS per contender; every pass must return the
//!    same hits, since it is the same index.
//! 4. **Through the optimizer (client)**: a fresh directory, an instance with 2 update
//!    threads, the same collection created and filled through `client.upsert_points` in
//!    batches of 1,000; the instance seals, merges and indexes in the background.
//!    *acknowledged* is the time until the last upsert returned; *ready* the time from the
//!    first upsert until `wait_index_ready` returned. One pass at ef 64 checks the result.
//!
//! 5. **Filtered search** (`debian-384` only, in a third child process, when
//!    `debian-384.payload.jsonl` is there too): the same collection with payloads and
//!    keyword / integer payload indexes; recall@10 and QPS at ef 32 and 64 for filters keeping
//!    ~1 %, ~10 % and ~20 % of the points, next to unfiltered search, for every contender.
//!    See `benches/ann/filtered.rs`.
//!
//! Run: `cargo bench --all-features --bench ann`.
//! `RRO_BENCH_QUICK=1`: 10,000 synthetic points, the first 10,000 Debian vectors (ground truth
//! recomputed by brute force over them), 200 queries, 1 run: a smoke test whose figures mean
//! little (the filtered step still fails on a recall@10 below 0.8).

#[path = "ann/filtered.rs"]
mod filtered;
mod report;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use report::{commit, list, median, median_duration, ms, thousands, Contender};
use rro::models::{
    CollectionInfo, CreateCollection, Distance, HnswConfig, OptimizersConfig, PointId, PointStruct,
    ScoredPoint, SearchRequest, VectorParams,
};
use rro_core::storage::distance::{dot, kernel_name};
use rro_core::storage::{Collection, TableOfContent};
use rro_core::Config;

const COLLECTION: &str = "ann";
/// Set (to a dataset name) in the child process that benchmarks one dataset.
const CHILD_ENV: &str = "RRO_ANN_CHILD";
/// Overrides the directory of the Debian files.
const DATA_ENV: &str = "RRO_ANN_DATA";
const SYNTHETIC: &str = "synthetic-128";
const DEBIAN: &str = "debian-384";
/// Nearest neighbours asked for and compared with the ground truth.
const K: usize = 10;
/// Points per upsert.
const BATCH: usize = 1_000;
/// Queries searched, untimed, before each timed pass.
const WARMUP_QUERIES: usize = 100;
const EFS: [usize; 5] = [16, 32, 64, 128, 256];
/// The ef of the engine-vs-client comparison and of the optimizer check.
const COMPARE_EF: usize = 64;
const M: usize = 16;
const EF_CONSTRUCT: usize = 100;
const BUILD_THREADS: usize = 2;

const SYNTHETIC_DIM: usize = 128;
const SYNTHETIC_CENTRES: usize = 64;
const SYNTHETIC_NOISE: f64 = 0.35;
const CENTRE_SEED: u64 = 0x0A11_CE17_2E55;
const BASE_SEED: u64 = 0xBA5E_0128;
const QUERY_SEED: u64 = 0x0E1E_5000_0128;

// ---------------------------------------------------------------------------------------------
// Sizes

struct Sizes {
    quick: bool,
    /// Timed passes per ef and per contender.
    runs: usize,
    synthetic_points: usize,
    /// Use only this many Debian base vectors (ground truth recomputed over them).
    debian_limit: Option<usize>,
    queries: usize,
}

impl Sizes {
    fn from_env() -> Self {
        let quick = std::env::var("RRO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Sizes {
                quick,
                runs: 1,
                synthetic_points: 10_000,
                debian_limit: Some(10_000),
                queries: 200,
            }
        } else {
            Sizes {
                quick,
                runs: 3,
                synthetic_points: 100_000,
                debian_limit: None,
                queries: 1_000,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic data

/// splitmix64: a fixed-seed generator, so every run sees the same points.
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

    /// Two independent N(0, 1) samples (Box-Muller).
    fn gaussian_pair(&mut self) -> (f64, f64) {
        let scale = 1.0 / (1u64 << 53) as f64;
        // u1 in (0, 1], so its logarithm is finite.
        let u1 = ((self.next_u64() >> 11) + 1) as f64 * scale;
        let u2 = (self.next_u64() >> 11) as f64 * scale;
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        (r * theta.cos(), r * theta.sin())
    }

    /// `n` samples of N(0, sigma²).
    fn gaussians(&mut self, n: usize, sigma: f64) -> impl Iterator<Item = f64> + '_ {
        (0..n.div_ceil(2))
            .flat_map(|_| {
                let (a, b) = self.gaussian_pair();
                [a, b]
            })
            .take(n)
            .map(move |x| x * sigma)
    }
}

/// The generator of point `index` of a stream: each point has its own, so any batch can be
/// regenerated on its own.
fn point_rng(stream: u64, index: usize) -> Rng {
    let mut seeder = Rng::new(stream ^ (index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    Rng::new(seeder.next_u64())
}

/// The cluster centres of the synthetic mixture, row after row.
fn synthetic_centres() -> Vec<f32> {
    let mut rng = Rng::new(CENTRE_SEED);
    rng.gaussians(SYNTHETIC_CENTRES * SYNTHETIC_DIM, 1.0)
        .map(|x| x as f32)
        .collect()
}

/// Point `index` of the synthetic stream `stream`: a random centre plus noise, normalised.
fn synthetic_point(centres: &[f32], stream: u64, index: usize) -> Vec<f32> {
    let mut rng = point_rng(stream, index);
    let centre = (rng.next_u64() % SYNTHETIC_CENTRES as u64) as usize;
    let centre = &centres[centre * SYNTHETIC_DIM..(centre + 1) * SYNTHETIC_DIM];
    let mut v: Vec<f32> = centre
        .iter()
        .zip(rng.gaussians(SYNTHETIC_DIM, SYNTHETIC_NOISE))
        .map(|(c, noise)| (*c as f64 + noise) as f32)
        .collect();
    normalize(&mut v);
    v
}

fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    normalize(&mut v);
    v
}

// ---------------------------------------------------------------------------------------------
// fvecs / ivecs files

/// A reader of `.fvecs` / `.ivecs` rows: a little-endian `i32` dimension, then that many
/// 4-byte little-endian values. Every row's dimension is checked against the first, and the
/// file's length against a whole number of rows, before anything is allocated.
struct VecsReader {
    path: PathBuf,
    file: BufReader<File>,
    dim: usize,
    rows: usize,
    row: usize,
    buf: Vec<u8>,
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

impl VecsReader {
    fn open(path: &Path) -> io::Result<Self> {
        let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(with_path)?;
        let len = file.metadata().map_err(with_path)?.len();
        let mut file = BufReader::with_capacity(1 << 20, file);
        let mut head = [0u8; 4];
        file.read_exact(&mut head)
            .map_err(|e| invalid(path, format!("cannot read the first dimension: {e}")))?;
        let dim = i32::from_le_bytes(head);
        if !(1..=65_536).contains(&dim) {
            return Err(invalid(path, format!("first row has dimension {dim}")));
        }
        let dim = dim as usize;
        let row_bytes = 4 + 4 * dim as u64;
        if len % row_bytes != 0 {
            return Err(invalid(
                path,
                format!("{len} bytes are not a whole number of rows of dimension {dim}"),
            ));
        }
        file.rewind().map_err(with_path)?;
        Ok(VecsReader {
            path: path.to_owned(),
            file,
            dim,
            rows: (len / row_bytes) as usize,
            row: 0,
            buf: Vec::with_capacity(4 * dim),
        })
    }

    /// The next row's raw values, its dimension checked.
    fn next_raw(&mut self) -> io::Result<Option<&[u8]>> {
        if self.row == self.rows {
            return Ok(None);
        }
        let row = self.row;
        let mut head = [0u8; 4];
        self.file
            .read_exact(&mut head)
            .map_err(|e| invalid(&self.path, format!("row {row}: {e}")))?;
        let dim = i32::from_le_bytes(head);
        if i64::from(dim) != self.dim as i64 {
            return Err(invalid(
                &self.path,
                format!("row {row} has dimension {dim}, the first row {}", self.dim),
            ));
        }
        self.buf.resize(4 * self.dim, 0);
        self.file
            .read_exact(&mut self.buf)
            .map_err(|e| invalid(&self.path, format!("row {row}: {e}")))?;
        self.row += 1;
        Ok(Some(&self.buf))
    }

    fn next_f32(&mut self) -> io::Result<Option<Vec<f32>>> {
        let row = self.row;
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        let v: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(j) = v.iter().position(|x| !x.is_finite()) {
            return Err(invalid(
                &self.path,
                format!("row {row}, component {j} is {}", v[j]),
            ));
        }
        Ok(Some(v))
    }

    fn next_i32(&mut self) -> io::Result<Option<Vec<i32>>> {
        Ok(self.next_raw()?.map(|raw| {
            raw.chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        }))
    }

    /// The next `n` rows of vectors; fails if the file has fewer.
    fn read_f32_rows(&mut self, n: usize) -> io::Result<Vec<Vec<f32>>> {
        let mut rows = Vec::with_capacity(n.min(self.rows));
        for _ in 0..n {
            match self.next_f32()? {
                Some(v) => rows.push(v),
                None => {
                    return Err(invalid(
                        &self.path,
                        format!("{} rows, {n} needed", self.rows),
                    ))
                }
            }
        }
        Ok(rows)
    }
}

// ---------------------------------------------------------------------------------------------
// Datasets

fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
}

fn debian_files() -> [PathBuf; 3] {
    let dir = data_dir();
    ["base.fvecs", "query.fvecs", "gt.ivecs"].map(|ext| dir.join(format!("{DEBIAN}.{ext}")))
}

enum Base {
    Synthetic { centres: Vec<f32> },
    Fvecs { path: PathBuf },
}

struct Dataset {
    name: &'static str,
    dim: usize,
    /// Base vectors; their ids are `0..n`.
    n: usize,
    base: Base,
    queries: Vec<Vec<f32>>,
    /// The true `K` nearest base ids of every query, best first.
    truth: Vec<Vec<u32>>,
    /// Where the ground truth comes from.
    truth_source: String,
}

impl Dataset {
    fn load(name: &str, sizes: &Sizes) -> io::Result<Dataset> {
        let mut data = match name {
            SYNTHETIC => {
                let centres = synthetic_centres();
                let queries = (0..sizes.queries)
                    .map(|i| synthetic_point(&centres, QUERY_SEED, i))
                    .collect();
                Dataset {
                    name: SYNTHETIC,
                    dim: SYNTHETIC_DIM,
                    n: sizes.synthetic_points,
                    base: Base::Synthetic { centres },
                    queries,
                    truth: Vec::new(),
                    truth_source: String::new(),
                }
            }
            DEBIAN => {
                let [base, query, truth] = debian_files();
                let reader = VecsReader::open(&base)?;
                let (dim, rows) = (reader.dim, reader.rows);
                let n = sizes.debian_limit.map_or(rows, |limit| limit.min(rows));
                let mut queries_file = VecsReader::open(&query)?;
                if queries_file.dim != dim {
                    return Err(invalid(
                        &query,
                        format!("dimension {}, the base vectors {dim}", queries_file.dim),
                    ));
                }
                let queries = queries_file.read_f32_rows(sizes.queries)?;
                let mut data = Dataset {
                    name: DEBIAN,
                    dim,
                    n,
                    base: Base::Fvecs { path: base },
                    queries,
                    truth: Vec::new(),
                    truth_source: String::new(),
                };
                if n == rows {
                    data.truth = read_truth(&truth, sizes.queries, n)?;
                    data.truth_source = format!(
                        "`{}`, the first {K} of each row",
                        truth.file_name().map_or_else(
                            || truth.display().to_string(),
                            |f| f.to_string_lossy().into_owned()
                        )
                    );
                }
                data
            }
            other => return Err(invalid(Path::new(other), "no such dataset")),
        };
        if data.truth.is_empty() {
            let started = Instant::now();
            data.truth = brute_force_truth(&data);
            data.truth_source = format!(
                "brute force in the bench over the {} base vectors, 2 threads, {:.1} s",
                thousands(data.n as f64),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(data)
    }

    /// The base vectors in batches of `batch`, read or regenerated as they are needed.
    fn stream(&self, batch: usize) -> BaseStream<'_> {
        let reader = match &self.base {
            Base::Synthetic { .. } => None,
            Base::Fvecs { path } => Some(
                VecsReader::open(path).unwrap_or_else(|e| panic!("open the base vectors: {e}")),
            ),
        };
        BaseStream {
            data: self,
            reader,
            next: 0,
            batch,
        }
    }
}

/// The first `K` ids of the first `queries` rows of a ground-truth file, each checked to be a
/// base id below `n`.
fn read_truth(path: &Path, queries: usize, n: usize) -> io::Result<Vec<Vec<u32>>> {
    let mut file = VecsReader::open(path)?;
    if file.dim < K {
        return Err(invalid(
            path,
            format!("{} ids per row, {K} needed", file.dim),
        ));
    }
    let mut truth = Vec::with_capacity(queries);
    for q in 0..queries {
        let row = file
            .next_i32()?
            .ok_or_else(|| invalid(path, format!("{} rows, {queries} needed", file.rows)))?;
        let ids = row[..K]
            .iter()
            .map(|&id| {
                u32::try_from(id)
                    .ok()
                    .filter(|&id| (id as usize) < n)
                    .ok_or_else(|| invalid(path, format!("row {q}: id {id} is not a base id")))
            })
            .collect::<io::Result<Vec<u32>>>()?;
        truth.push(ids);
    }
    Ok(truth)
}

/// Batches of base vectors, in id order.
struct BaseStream<'a> {
    data: &'a Dataset,
    reader: Option<VecsReader>,
    next: usize,
    batch: usize,
}

impl Iterator for BaseStream<'_> {
    type Item = Vec<Vec<f32>>;

    fn next(&mut self) -> Option<Vec<Vec<f32>>> {
        let end = (self.next + self.batch).min(self.data.n);
        if self.next == end {
            return None;
        }
        let batch = match (&self.data.base, &mut self.reader) {
            (Base::Synthetic { centres }, _) => (self.next..end)
                .map(|i| synthetic_point(centres, BASE_SEED, i))
                .collect(),
            (Base::Fvecs { .. }, Some(reader)) => reader
                .read_f32_rows(end - self.next)
                .unwrap_or_else(|e| panic!("read the base vectors: {e}")),
            (Base::Fvecs { .. }, None) => unreachable!("a file stream has a reader"),
        };
        self.next = end;
        Some(batch)
    }
}

/// The best `K` (score, id) pairs seen so far, best first.
#[derive(Clone, Default)]
struct TopK(Vec<(f32, u32)>);

impl TopK {
    fn offer(&mut self, score: f32, id: u32) {
        if self.0.len() == K && self.0[K - 1].0 >= score {
            return;
        }
        let at = self.0.partition_point(|(s, _)| *s >= score);
        self.0.insert(at, (score, id));
        self.0.truncate(K);
    }
}

/// The exact top `K` of every query: every base vector compared with every query (dot
/// products of normalised vectors), the queries split between 2 threads.
fn brute_force_truth(data: &Dataset) -> Vec<Vec<u32>> {
    let queries: Vec<Vec<f32>> = data.queries.iter().cloned().map(normalized).collect();
    let mut tops = vec![TopK::default(); queries.len()];
    let half = queries.len().div_ceil(2);
    let scan = |queries: &[Vec<f32>], tops: &mut [TopK], batch: &[Vec<f32>], first: usize| {
        for (query, top) in queries.iter().zip(tops) {
            for (i, v) in batch.iter().enumerate() {
                top.offer(dot(query, v), (first + i) as u32);
            }
        }
    };
    let mut first = 0;
    for batch in data.stream(BATCH) {
        let batch: Vec<Vec<f32>> = batch.into_iter().map(normalized).collect();
        let (queries_a, queries_b) = queries.split_at(half);
        let (tops_a, tops_b) = tops.split_at_mut(half);
        std::thread::scope(|s| {
            s.spawn(|| scan(queries_a, tops_a, &batch, first));
            scan(queries_b, tops_b, &batch, first);
        });
        first += batch.len();
    }
    tops.into_iter()
        .map(|top| top.0.into_iter().map(|(_, id)| id).collect())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Contenders and passes

/// The collection every contender searches.
fn create_config(dim: usize) -> CreateCollection {
    CreateCollection::new(VectorParams::new(dim as u64, Distance::Cosine))
        .hnsw_config(HnswConfig {
            m: M,
            ef_construct: EF_CONSTRUCT,
            // Always through the graph, also for the small quick-mode sets.
            full_scan_threshold: 0,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            default_segment_number: 1,
            indexing_threshold: Some(1),
            ..Default::default()
        })
}

fn points(first: usize, batch: Vec<Vec<f32>>) -> Vec<PointStruct> {
    batch
        .into_iter()
        .enumerate()
        .map(|(i, v)| PointStruct::new((first + i) as u64, v))
        .collect()
}

/// One timed pass over every query.
struct Pass {
    qps: f64,
    /// The ids found for each query.
    hits: Vec<Vec<u32>>,
}

fn timed_pass(queries: &[Vec<f32>], mut search: impl FnMut(&[f32]) -> Vec<ScoredPoint>) -> Pass {
    for query in queries.iter().take(WARMUP_QUERIES) {
        std::hint::black_box(search(query));
    }
    let mut results = Vec::with_capacity(queries.len());
    let started = Instant::now();
    for query in queries {
        results.push(search(query));
    }
    let elapsed = started.elapsed();
    let hits = results
        .iter()
        .map(|hits| hits.iter().map(|p| base_id(&p.id)).collect())
        .collect();
    Pass {
        qps: queries.len() as f64 / elapsed.as_secs_f64(),
        hits,
    }
}

fn base_id(id: &PointId) -> u32 {
    match id {
        PointId::Num(n) => u32::try_from(*n).expect("base ids fit in u32"),
        PointId::Uuid(u) => panic!("the bench inserts numeric ids only, got {u}"),
    }
}

/// Mean over queries of |hits ∩ truth| / K.
fn recall(hits: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let found: usize = hits
        .iter()
        .zip(truth)
        .map(|(hits, truth)| hits.iter().filter(|id| truth.contains(id)).count())
        .sum();
    found as f64 / (K * truth.len()) as f64
}

fn engine_search(collection: &Collection, request: SearchRequest) -> Vec<ScoredPoint> {
    collection
        .search(&request, &|| false)
        .expect("search the engine")
        .expect("a search nobody cancels returns hits")
}

// ---------------------------------------------------------------------------------------------
// 1. Build through the engine

struct Build {
    /// Time inside `upsert` calls.
    insert: Duration,
    index: Duration,
    flush: Duration,
    peak_rss: Option<u64>,
    links: usize,
    info: CollectionInfo,
}

fn build_engine(data: &Dataset, dir: &Path) -> (TableOfContent, Arc<Collection>, Build) {
    let toc = TableOfContent::open(&Config::new(dir)).expect("open the engine");
    toc.create_collection(COLLECTION, create_config(data.dim))
        .expect("create the collection");
    let collection = toc.collection(COLLECTION).expect("the collection");
    let mut insert = Duration::ZERO;
    let mut first = 0;
    for batch in data.stream(BATCH) {
        let n = batch.len();
        let batch = points(first, batch);
        let started = Instant::now();
        collection.upsert(batch).expect("upsert");
        insert += started.elapsed();
        first += n;
    }
    eprintln!("{}: inserted {first} points in {insert:?}", data.name);
    let started = Instant::now();
    collection.optimize(BUILD_THREADS).expect("optimize");
    let index = started.elapsed();
    eprintln!("{}: index built in {index:?}", data.name);
    let started = Instant::now();
    toc.flush().expect("flush");
    let flush = started.elapsed();
    let build = Build {
        insert,
        index,
        flush,
        peak_rss: peak_rss_bytes(),
        links: collection.index_links_bytes(),
        info: collection.info(),
    };
    (toc, collection, build)
}

/// `VmHWM`: the most resident memory this process has had, in bytes (Linux only).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn print_build(data: &Dataset, build: &Build) {
    let n = data.n as f64;
    println!("Build through the engine:\n");
    println!("| Step | Time, s | Points/s |");
    println!("|---|---:|---:|");
    println!(
        "| insert: `upsert` in batches of {} (time inside the calls) | {:.2} | {} |",
        thousands(BATCH as f64),
        build.insert.as_secs_f64(),
        thousands(n / build.insert.as_secs_f64())
    );
    println!(
        "| index build: `optimize({BUILD_THREADS})`, {BUILD_THREADS} threads | {:.2} | {} |",
        build.index.as_secs_f64(),
        thousands(n / build.index.as_secs_f64())
    );
    println!(
        "| flush: `toc.flush()`, segment and index to disk | {:.2} | |",
        build.flush.as_secs_f64()
    );
    let raw = data.n * data.dim * 4;
    let ideal = raw + build.links;
    println!();
    println!(
        "| Peak RSS (VmHWM), MiB | Raw vectors, MiB | Links, MiB | Vectors + links, MiB | Peak \
         RSS / (vectors + links) | Target |"
    );
    println!("|---:|---:|---:|---:|---:|---|");
    println!(
        "| {} | {} | {} | {} | {} | < 1.5 |",
        build.peak_rss.map_or("n/a".to_owned(), mib),
        mib(raw as u64),
        mib(build.links as u64),
        mib(ideal as u64),
        build.peak_rss.map_or("n/a".to_owned(), |rss| format!(
            "{:.2}",
            rss as f64 / ideal as f64
        ))
    );
    println!();
    println!("Sanity: {}.\n", describe(&build.info));
}

fn describe(info: &CollectionInfo) -> String {
    format!(
        "status {:?}, {} segment(s), indexed_vectors_count {} of {} points",
        info.status,
        info.segments_count,
        thousands(info.indexed_vectors_count as f64),
        thousands(info.points_count as f64)
    )
    .replace("Green", "green")
    .replace("Yellow", "yellow")
    .replace("Red", "red")
}

// ---------------------------------------------------------------------------------------------
// 2. Search through the engine

struct EfRow {
    /// `None`: exact search.
    ef: Option<usize>,
    recall: f64,
    qps: Vec<f64>,
}

fn ef_sweep(data: &Dataset, collection: &Collection, sizes: &Sizes) -> Vec<EfRow> {
    let mut rows = Vec::new();
    for ef in EFS {
        let mut row = EfRow {
            ef: Some(ef),
            recall: 0.0,
            qps: Vec::new(),
        };
        for _ in 0..sizes.runs {
            let pass = timed_pass(&data.queries, |q| {
                engine_search(collection, SearchRequest::new(q.to_vec(), K).hnsw_ef(ef))
            });
            row.recall = recall(&pass.hits, &data.truth);
            row.qps.push(pass.qps);
        }
        eprintln!(
            "{}: ef {ef}: recall {:.4}, QPS {}",
            data.name,
            row.recall,
            list(row.qps.iter().copied())
        );
        rows.push(row);
    }
    // Brute force is slow: one run is enough to see its rate.
    let pass = timed_pass(&data.queries, |q| {
        engine_search(collection, SearchRequest::new(q.to_vec(), K).exact(true))
    });
    let exact = EfRow {
        ef: None,
        recall: recall(&pass.hits, &data.truth),
        qps: vec![pass.qps],
    };
    eprintln!(
        "{}: exact: recall {:.4}, QPS {:.0}",
        data.name, exact.recall, pass.qps
    );
    rows.push(exact);
    rows
}

fn print_sweep(data: &Dataset, rows: &[EfRow], sizes: &Sizes) {
    println!(
        "Search through the engine, one query at a time, {} queries, top {K}:\n",
        thousands(data.queries.len() as f64)
    );
    println!("| ef | recall@{K} | QPS (median) | µs per query | QPS of each run |");
    println!("|---:|---:|---:|---:|---|");
    for row in rows {
        let qps = median(&mut row.qps.clone());
        println!(
            "| {} | {:.4} | {} | {:.0} | {} |",
            row.ef
                .map_or_else(|| "exact".to_owned(), |ef| ef.to_string()),
            row.recall,
            thousands(qps),
            1e6 / qps,
            list(row.qps.iter().copied())
        );
    }
    println!(
        "\nRuns per ef: {}; exact: 1 run, brute force over every point.",
        sizes.runs
    );
    let exact = rows.last().expect("the exact row");
    assert!(
        exact.recall >= 0.999,
        "{}: exact search has recall {:.4} against the ground truth ({}); the ground truth \
         or exact search is wrong",
        data.name,
        exact.recall,
        data.truth_source
    );
    println!(
        "Sanity: exact search finds {:.4} of the ground truth (must be >= 0.999).\n",
        exact.recall
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Engine vs client on the same index

struct ContenderRuns {
    contender: Contender,
    /// Until the collection is usable: engine open, or client open + `wait_index_ready`.
    open: Vec<Duration>,
    qps: Vec<f64>,
    recall: f64,
    /// What the collection looked like right after each open.
    status: Vec<String>,
    /// Queries whose hits differed from the engine's first pass, over every pass.
    differing: usize,
}

fn engine_vs_client(data: &Dataset, dir: &Path, sizes: &Sizes) -> Vec<ContenderRuns> {
    let mut all: Vec<ContenderRuns> = Contender::all()
        .into_iter()
        .map(|contender| ContenderRuns {
            contender,
            open: Vec::new(),
            qps: Vec::new(),
            recall: 0.0,
            status: Vec::new(),
            differing: 0,
        })
        .collect();
    let mut reference: Option<Vec<Vec<u32>>> = None;
    let request = |q: &[f32]| SearchRequest::new(q.to_vec(), K).hnsw_ef(COMPARE_EF);
    for _ in 0..sizes.runs {
        for runs in &mut all {
            let (open, info, pass) = match runs.contender {
                Contender::Engine => {
                    let started = Instant::now();
                    let toc = TableOfContent::open(&Config::new(dir)).expect("reopen the engine");
                    let collection = toc.collection(COLLECTION).expect("the collection");
                    let open = started.elapsed();
                    let info = collection.info();
                    let pass =
                        timed_pass(&data.queries, |q| engine_search(&collection, request(q)));
                    (open, info, pass)
                }
                client => {
                    let started = Instant::now();
                    let instance = client.open_client(Config::new(dir));
                    let info = block_on(instance.wait_index_ready(COLLECTION))
                        .expect("wait for the index");
                    let open = started.elapsed();
                    let pass = timed_pass(&data.queries, |q| {
                        block_on(instance.search(COLLECTION, request(q))).expect("search")
                    });
                    block_on(instance.shutdown()).expect("shut down");
                    (open, info, pass)
                }
            };
            let reference = reference.get_or_insert_with(|| pass.hits.clone());
            runs.differing += pass
                .hits
                .iter()
                .zip(reference.iter())
                .filter(|(a, b)| a != b)
                .count();
            runs.recall = recall(&pass.hits, &data.truth);
            runs.open.push(open);
            runs.qps.push(pass.qps);
            runs.status.push(describe(&info));
            eprintln!(
                "{}: ef {COMPARE_EF} {}: open {open:?}, QPS {:.0}, recall {:.4}",
                data.name,
                runs.contender.name(),
                pass.qps,
                runs.recall
            );
        }
    }
    all
}

fn print_engine_vs_client(all: &[ContenderRuns], sizes: &Sizes) {
    println!(
        "Engine vs client at ef {COMPARE_EF}, same index reopened, {} interleaved round(s):\n",
        sizes.runs
    );
    println!(
        "| Contender | Open, ms (median) | QPS (median) | µs per query | QPS of each run | \
         recall@{K} | QPS / engine | Target |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---|");
    let engine_qps = median(&mut all[0].qps.clone());
    for runs in all {
        let qps = median(&mut runs.qps.clone());
        let is_engine = runs.contender == Contender::Engine;
        println!(
            "| {} | {} | {} | {:.0} | {} | {:.4} | {} | {} |",
            runs.contender.name(),
            ms(median_duration(&mut runs.open.clone())),
            thousands(qps),
            1e6 / qps,
            list(runs.qps.iter().copied()),
            runs.recall,
            if is_engine {
                "1.00".to_owned()
            } else {
                format!("{:.2}", qps / engine_qps)
            },
            if is_engine { "" } else { ">= 0.90" }
        );
    }
    let differing: usize = all.iter().map(|r| r.differing).sum();
    if differing == 0 {
        println!("\nSanity: every pass of every contender returned the same hits.");
    } else {
        println!(
            "\nSanity: **{differing} query results differ** from the first pass (the same \
             index should give the same hits)."
        );
    }
    println!("Right after opening (engine: `info()`; clients: `wait_index_ready`):");
    for runs in all {
        let mut statuses = runs.status.clone();
        statuses.dedup();
        println!("- {}: {}", runs.contender.name(), statuses.join("; "));
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// 4. Insert and index through the client

struct ThroughOptimizer {
    contender: Contender,
    acknowledged: Duration,
    ready: Duration,
    info: CollectionInfo,
    qps: f64,
    recall: f64,
}

fn through_optimizer(data: &Dataset, dir: &Path) -> ThroughOptimizer {
    let contender = Contender::all()
        .into_iter()
        .find(|c| *c != Contender::Engine)
        .expect("at least one backend");
    let client = contender.open_client(Config::new(dir).update_threads(2));
    block_on(client.create_collection(COLLECTION, create_config(data.dim)))
        .expect("create the collection");
    let mut first = 0;
    let mut started = None;
    for batch in data.stream(BATCH) {
        let n = batch.len();
        let batch = points(first, batch);
        started.get_or_insert_with(Instant::now);
        block_on(client.upsert_points(COLLECTION, batch)).expect("upsert");
        first += n;
    }
    let started = started.expect("at least one batch");
    let acknowledged = started.elapsed();
    eprintln!(
        "{}: {} acknowledged {first} points in {acknowledged:?}",
        data.name,
        contender.name()
    );
    let info = block_on(
        client
            .with_timeout(Duration::from_secs(600))
            .wait_index_ready(COLLECTION),
    )
    .expect("wait for the index");
    let ready = started.elapsed();
    eprintln!("{}: index ready after {ready:?}", data.name);
    let pass = timed_pass(&data.queries, |q| {
        let request = SearchRequest::new(q.to_vec(), K).hnsw_ef(COMPARE_EF);
        block_on(client.search(COLLECTION, request)).expect("search")
    });
    block_on(client.shutdown()).expect("shut down");
    ThroughOptimizer {
        contender,
        acknowledged,
        ready,
        info,
        qps: pass.qps,
        recall: recall(&pass.hits, &data.truth),
    }
}

fn print_through_optimizer(data: &Dataset, run: &ThroughOptimizer) {
    println!(
        "Through the optimizer: {} with 2 update threads, `upsert_points` in batches of {}, \
         then `wait_index_ready`:\n",
        run.contender.name(),
        thousands(BATCH as f64)
    );
    println!("| What | Time, s | Points/s |");
    println!("|---|---:|---:|");
    let n = data.n as f64;
    println!(
        "| insert, acknowledged (first to last upsert) | {:.2} | {} |",
        run.acknowledged.as_secs_f64(),
        thousands(n / run.acknowledged.as_secs_f64())
    );
    println!(
        "| insert + background index build via the client (first upsert to ready) | {:.2} | \
         {} |",
        run.ready.as_secs_f64(),
        thousands(n / run.ready.as_secs_f64())
    );
    println!(
        "\nWhen ready: {}. One pass at ef {COMPARE_EF}: recall@{K} {:.4}, {} QPS.\n",
        describe(&run.info),
        run.recall,
        thousands(run.qps)
    );
    // `segments_count` includes the (empty) write segment; the optimizer keeps one sealed one.
    if run.info.segments_count > 2 {
        println!(
            "**Not settled: {} segments when `wait_index_ready` returned, where the optimizer \
             keeps 1 sealed segment plus the write segment; the time to ready above is not a \
             full background build.**\n",
            run.info.segments_count
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The child: one dataset

fn child(name: &str, sizes: &Sizes) {
    let data = Dataset::load(name, sizes).unwrap_or_else(|e| panic!("load {name}: {e}"));
    eprintln!("{name}: ground truth: {}", data.truth_source);
    let root = tempfile::tempdir().expect("create a temporary directory");
    let engine_dir = root.path().join("engine");

    let (toc, collection, build) = build_engine(&data, &engine_dir);
    let sweep = ef_sweep(&data, &collection, sizes);
    drop(collection);
    drop(toc);
    let compared = engine_vs_client(&data, &engine_dir, sizes);
    let optimizer = through_optimizer(&data, &root.path().join("client"));

    println!(
        "### {}: {} x {}, Cosine, {} queries\n",
        data.name,
        thousands(data.n as f64),
        data.dim,
        thousands(data.queries.len() as f64)
    );
    println!(
        "HNSW m {M}, ef_construct {EF_CONSTRUCT}; one segment. Ground truth: {}.\n",
        data.truth_source
    );
    print_build(&data, &build);
    print_sweep(&data, &sweep, sizes);
    print_engine_vs_client(&compared, sizes);
    print_through_optimizer(&data, &optimizer);
    println!(
        "Peak RSS of the whole child process (all four steps): {} MiB.\n",
        peak_rss_bytes().map_or("n/a".to_owned(), mib)
    );
}

// ---------------------------------------------------------------------------------------------
// Report helpers

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

// ---------------------------------------------------------------------------------------------
// The parent

/// Run one dataset in a child process (this executable again); its stdout is ours.
fn run_child(name: &str) -> bool {
    io::stdout().flush().expect("flush stdout");
    let exe = std::env::current_exe().expect("the bench executable");
    let status = std::process::Command::new(exe)
        .env(CHILD_ENV, name)
        .status()
        .expect("run the dataset child");
    if !status.success() {
        println!("**{name} failed: the child process exited with {status}.**\n");
    }
    status.success()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from other tools is ignored.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes = Sizes::from_env();
    if let Ok(name) = std::env::var(CHILD_ENV) {
        if name == filtered::CHILD {
            filtered::child(&sizes);
        } else {
            child(&name, &sizes);
        }
        return;
    }
    let started = Instant::now();
    println!("## ANN bench\n");
    println!("- Command: `{}`", report::command("ann", sizes.quick));
    println!("- Commit: `{}`", commit());
    println!(
        "- Cores: {}; distance kernel: `{}`",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel_name()
    );
    println!(
        "- Cosine, top {K}; HNSW m {M}, ef_construct {EF_CONSTRUCT}, built with {BUILD_THREADS} \
         threads into one segment; searches one at a time from the bench thread, after {} \
         warm-up queries; {} run(s) per figure, median reported.",
        WARMUP_QUERIES, sizes.runs
    );
    println!("- Each dataset runs in its own child process (peak RSS is its own).\n");

    let mut failed = Vec::new();
    if !run_child(SYNTHETIC) {
        failed.push(SYNTHETIC);
    }
    let missing: Vec<PathBuf> = debian_files()
        .into_iter()
        .filter(|p| !p.is_file())
        .collect();
    if missing.is_empty() {
        if !run_child(DEBIAN) {
            failed.push(DEBIAN);
        }
        let payloads = filtered::payload_file();
        if payloads.is_file() {
            if !run_child(filtered::CHILD) {
                failed.push(filtered::CHILD);
            }
        } else {
            println!(
                "### {}\n\nSkipped: `{}` not found.\n",
                filtered::CHILD,
                payloads.display()
            );
        }
    } else {
        println!(
            "### {DEBIAN}\n\nSkipped: {} not found (set `{DATA_ENV}` to the directory holding \
             the files).\n",
            missing
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("Total bench time: {:.0} s", started.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "datasets failed: {failed:?}");
}
