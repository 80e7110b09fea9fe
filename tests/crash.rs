//! Crash test: a child process upserts in a loop under `Durability::Fsync` (while the
//! optimizer seals, merges, indexes and vacuums in the background) and prints every batch it
//! tries and every batch that was acknowledged; the parent kills it with SIGKILL at a
//! random moment, reopens the data directory and checks that every acknowledged point is there
//! with its exact vector and payload, that nothing else appeared, and that the store still
//! takes writes. Repeated for many rounds on every enabled backend, alternating, each backend
//! keeping its own directory across rounds (every child resumes the directory the previous
//! round's child was killed in).
//!
//! `harness = false`: this file is its own `main`. The same binary is the child when
//! `RRO_CRASH_CHILD` is set.
//!
//! Environment (parent): `RRO_CRASH_SEED` replays a run (the seed is printed at the start),
//! `RRO_CRASH_ROUNDS` sets the rounds per backend (default 25).
//!
//! Child protocol, one line per event, each written with a single `write`:
//! - `try <gen> <id> <id> ...` before a batch is sent (the write may or may not persist);
//! - `set <gen> <bucket>` / `overwrite <gen> <bucket>` before a `set_payload` /
//!   `overwrite_payload` by filter (`bucket` = that number) is sent;
//! - `ack <gen>` after that write returned `Ok` (it must persist);
//! - `flush` after a `flush()` returned.
//!
//! Every point written under generation `gen` has a vector and payload that are a pure
//! function of `(id, gen)`; a payload write under `gen` merges in (or overwrites with) a
//! payload that is a pure function of `(bucket, gen)`. Payloads nest deeply (up to 63 levels,
//! within `MAX_PAYLOAD_DEPTH`). Every write is acknowledged before the next is sent, so the
//! parent knows which points exist when a payload write by filter runs, and so which points it
//! selects (`bucket` is `id % BUCKETS` and every payload keeps it): it computes each point's
//! possible states (vector generation and exact payload) and checks what it reads back
//! against them.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rro::models::{
    Condition, CreateCollection, Distance, Filter, GetPoints, HnswConfig, OptimizersConfig,
    Payload, PointStruct, PointsSelector, SetPayload, VectorParams,
};
use rro::{Config, RroClient};
use rro_core::Durability;
use serde_json::Value;

const COLLECTION: &str = "crash";
const DIM: usize = 8;
/// Generations of round `r` are `r * GEN_STRIDE + 1 ..`; the parent's own write in the
/// verification after round `r` is `r * GEN_STRIDE + GEN_STRIDE - 1`.
const GEN_STRIDE: u64 = 1_000_000;
/// Ids of the points the parent writes itself, above every id a child uses.
const PARENT_IDS: u64 = 1 << 40;
const DEFAULT_ROUNDS: usize = 25;
/// Payload writes by filter select the points with `"bucket": id % BUCKETS`.
const BUCKETS: u64 = 8;
/// How long the parent waits for a child line before it calls the child hung.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    #[cfg(feature = "tokio")]
    Tokio,
    #[cfg(feature = "smol")]
    Smol,
}

impl Backend {
    fn all() -> Vec<Backend> {
        vec![
            #[cfg(feature = "tokio")]
            Backend::Tokio,
            #[cfg(feature = "smol")]
            Backend::Smol,
        ]
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "tokio")]
            Backend::Tokio => "tokio",
            #[cfg(feature = "smol")]
            Backend::Smol => "smol",
        }
    }

    fn parse(name: &str) -> Backend {
        Backend::all()
            .into_iter()
            .find(|b| b.name() == name)
            .unwrap_or_else(|| panic!("unknown or disabled backend {name:?}"))
    }

    async fn open(self, config: Config) -> rro::Result<RroClient> {
        match self {
            #[cfg(feature = "tokio")]
            Backend::Tokio => rro::open_with(config, rro::TokioBackend).await,
            #[cfg(feature = "smol")]
            Backend::Smol => rro::open_with(config, rro::SmolBackend).await,
        }
    }
}

/// splitmix64: small, fast, good enough to pick kill points and generate data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `1 / n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash3(id: u64, gen: u64, salt: u64) -> u64 {
    mix(mix(mix(id) ^ gen.wrapping_mul(0x2545_F491_4F6C_DD1D)) ^ salt)
}

/// The vector written for `id` in generation `gen`: full-mantissa floats of varied magnitude.
fn vector_for(id: u64, gen: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|j| {
            let h = hash3(id, gen, j);
            let unit = (h >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
            let scale = [1000.0, 1.0, 1e-3, 1e-20][(h & 3) as usize];
            ((unit * 2.0 - 1.0) * scale) as f32
        })
        .collect()
}

/// `levels` containers (alternating arrays and objects) around a leaf that depends on `seed`:
/// deep, but legal, payload parts.
fn chain(levels: u64, seed: u64) -> Value {
    let mut value = Value::from(format!("leaf {seed}"));
    for level in 0..levels {
        value = if (seed >> (level % 64)) & 1 == 0 {
            Value::Array(vec![value, Value::from(level)])
        } else {
            Value::Object([(format!("k{level}"), value)].into_iter().collect())
        };
    }
    value
}

/// The payload written for `id` in generation `gen` (at most 61 levels deep).
fn payload_for(id: u64, gen: u64) -> rro::models::Payload {
    let h = hash3(id, gen, 1_000);
    let x = f64::from_bits(h);
    let x = if x.is_finite() { x } else { -0.1 };
    let y = (h >> 11) as f64 / (1u64 << 53) as f64 * 1e6 - 5e5;
    let text = format!("point {id} gen {gen} ") + &"äß€𝄞\"\\\n".repeat((h % 9) as usize);
    rro::payload!({
        "id": id,
        "gen": gen,
        "bucket": id % BUCKETS,
        "text": text,
        "nested": {"x": x, "y": y, "list": [gen % 7, true, null, "s"]},
        "deep": chain(h % 61, h),
    })
}

/// What `set_payload` by filter merges in under generation `gen` (at most 57 levels deep).
fn set_for(bucket: u64, gen: u64) -> rro::models::Payload {
    let h = hash3(bucket, gen, 2_000);
    rro::payload!({"extra": {"gen": gen, "deep": chain(h % 56, h)}})
}

/// What `overwrite_payload` by filter leaves under generation `gen` (at most 63 levels deep).
fn overwrite_for(bucket: u64, gen: u64) -> rro::models::Payload {
    let h = hash3(bucket, gen, 3_000);
    rro::payload!({"bucket": bucket, "ogen": gen, "deep": chain(h % 63, h)})
}

/// The filter a payload write of `bucket` selects its points with.
fn bucket_filter(bucket: u64) -> Filter {
    Filter::must([Condition::matches("bucket", bucket as i64)])
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn env_u64(name: &str) -> u64 {
    env(name)
        .unwrap_or_else(|| panic!("{name} is not set"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test -- --list`: this binary has no individually listed tests.
        return;
    }
    match env("RRO_CRASH_CHILD") {
        Some(dir) => child(PathBuf::from(dir)),
        None => parent(),
    }
}

// ------------------------------------------------------------------------------------------
// Child

/// Write one line with a single `write` so that a kill never leaves half a line.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).expect("stdout");
    out.flush().expect("stdout");
}

/// A collection the optimizer keeps busy: the write segment is sealed every 32 points, and
/// sealed segments are merged into one, indexed and vacuumed in the background, so kills land
/// in the middle of index builds, merges and their commits too.
fn collection_config() -> CreateCollection {
    CreateCollection::new(VectorParams::new(DIM as u64, Distance::Dot))
        .hnsw_config(HnswConfig {
            m: 8,
            ef_construct: 16,
            full_scan_threshold: 1,
            ..HnswConfig::default()
        })
        .optimizers_config(OptimizersConfig {
            indexing_threshold: Some(1),
            default_segment_number: 1,
            deleted_threshold: 0.1,
            vacuum_min_vector_number: 8,
            ..OptimizersConfig::default()
        })
}

fn child(dir: PathBuf) {
    let backend = Backend::parse(&env("RRO_CRASH_BACKEND").expect("RRO_CRASH_BACKEND"));
    let mut rng = Rng(env_u64("RRO_CRASH_SEED"));
    let mut next_id = env_u64("RRO_CRASH_START");
    let gen_base = env_u64("RRO_CRASH_GEN");
    let checkpoint_bytes = env_u64("RRO_CRASH_CHECKPOINT_BYTES");

    futures::executor::block_on(async move {
        let config = Config::new(&dir)
            .durability(Durability::Fsync)
            .wal_checkpoint_bytes(checkpoint_bytes);
        let client = backend.open(config).await.expect("child: open");
        if !client.collection_exists(COLLECTION).await.expect("exists") {
            client
                .create_collection(COLLECTION, collection_config())
                .await
                .expect("child: create collection");
        }
        for batch in 1.. {
            let gen = gen_base + batch;
            assert!(batch < GEN_STRIDE - 1, "child ran out of generations");
            if rng.one_in(6) {
                let bucket = rng.range(0, BUCKETS - 1);
                let selector = PointsSelector::filter(bucket_filter(bucket));
                if rng.one_in(2) {
                    emit(&format!("set {gen} {bucket}\n"));
                    client
                        .set_payload(COLLECTION, SetPayload::new(set_for(bucket, gen), selector))
                        .await
                        .expect("child: set_payload");
                } else {
                    emit(&format!("overwrite {gen} {bucket}\n"));
                    client
                        .overwrite_payload(
                            COLLECTION,
                            SetPayload::new(overwrite_for(bucket, gen), selector),
                        )
                        .await
                        .expect("child: overwrite_payload");
                }
                emit(&format!("ack {gen}\n"));
                continue;
            }
            let size = rng.range(1, 20);
            let mut ids = Vec::new();
            for _ in 0..size {
                let id = if next_id > 0 && rng.one_in(4) {
                    // Overwrite an older point (possibly one a killed child never got acked).
                    rng.range(0, next_id - 1)
                } else {
                    next_id += 1;
                    next_id - 1
                };
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            let points = ids
                .iter()
                .map(|&id| {
                    PointStruct::new(id, vector_for(id, gen)).with_payload(payload_for(id, gen))
                })
                .collect();
            let listed: Vec<String> = ids.iter().map(u64::to_string).collect();
            emit(&format!("try {gen} {}\n", listed.join(" ")));
            client
                .upsert_points(COLLECTION, points)
                .await
                .expect("child: upsert");
            emit(&format!("ack {gen}\n"));
            if rng.one_in(10) {
                client.flush().await.expect("child: flush");
                emit("flush\n");
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// Parent

/// One possible state of a point: the generation its vector was written in, and its payload.
#[derive(Debug, Clone, PartialEq)]
struct State {
    vgen: u64,
    payload: Payload,
}

impl State {
    /// What an upsert under `gen` leaves.
    fn upserted(id: u64, gen: u64) -> State {
        State {
            vgen: gen,
            payload: payload_for(id, gen),
        }
    }
}

/// What the parent knows about one id.
#[derive(Debug, Default)]
struct Known {
    /// The state that must be there unless one in `maybe` is: the last acked write, or what
    /// the last verification read. `None`: must be absent unless in `maybe`.
    floor: Option<State>,
    /// States of writes tried after `floor` without an acknowledgement: each may or may not
    /// have persisted.
    maybe: Vec<State>,
}

struct Suite {
    backend: Backend,
    dir: PathBuf,
    known: HashMap<u64, Known>,
    /// Next fresh id for a child.
    next_id: u64,
    rounds: usize,
    acked_batches: u64,
    acked_points: u64,
    flushes: u64,
    early_kills: u64,
    unacked_seen: u64,
}

/// What one round of a child produced.
#[derive(Debug, Default)]
struct RoundLog {
    acks: u64,
    acked_points: u64,
    flushes: u64,
    /// The tried write that was not acknowledged, if any: `(gen, ids)`.
    in_flight: Option<Pending>,
}

/// A tried write: its generation and the state it gives each point it changes.
type Pending = (u64, Vec<(u64, State)>);

impl Suite {
    fn apply_line(&mut self, line: &str, pending: &mut Option<Pending>, log: &mut RoundLog) {
        let mut words = line.split_ascii_whitespace();
        let kind = words.next();
        if matches!(kind, Some("try" | "set" | "overwrite")) {
            assert!(
                pending.is_none(),
                "{}: child tried a write before the previous one was acked: {line:?}",
                self.backend.name()
            );
        }
        match kind {
            Some("try") => {
                let gen: u64 = words.next().expect("gen").parse().expect("gen");
                let ids: Vec<u64> = words.map(|w| w.parse().expect("id")).collect();
                let mut changes = Vec::new();
                for &id in &ids {
                    let state = State::upserted(id, gen);
                    self.known.entry(id).or_default().maybe.push(state.clone());
                    self.next_id = self.next_id.max(id + 1);
                    changes.push((id, state));
                }
                *pending = Some((gen, changes));
            }
            Some(write @ ("set" | "overwrite")) => {
                let gen: u64 = words.next().expect("gen").parse().expect("gen");
                let bucket: u64 = words.next().expect("bucket").parse().expect("bucket");
                // Every earlier write was acked, so `floor` is exactly what each point holds,
                // and the filter selects the existing points of the bucket.
                let mut changes = Vec::new();
                for (&id, known) in &mut self.known {
                    let Some(floor) = &known.floor else { continue };
                    if id % BUCKETS != bucket {
                        continue;
                    }
                    let mut state = floor.clone();
                    if write == "set" {
                        state.payload.extend(set_for(bucket, gen));
                    } else {
                        state.payload = overwrite_for(bucket, gen);
                    }
                    known.maybe.push(state.clone());
                    changes.push((id, state));
                }
                *pending = Some((gen, changes));
            }
            Some("ack") => {
                let gen: u64 = words.next().expect("gen").parse().expect("gen");
                let (tried, changes) = pending
                    .take()
                    .unwrap_or_else(|| panic!("{}: ack {gen} without a try", self.backend.name()));
                assert_eq!(tried, gen, "{}: ack for another batch", self.backend.name());
                log.acked_points += changes.len() as u64;
                for (id, state) in changes {
                    let known = self.known.get_mut(&id).expect("tried id");
                    known.floor = Some(state);
                    known.maybe.clear();
                }
                log.acks += 1;
            }
            Some("flush") => log.flushes += 1,
            _ => panic!("{}: unexpected child line {line:?}", self.backend.name()),
        }
    }

    /// Run one child, kill it at a random moment, and fold what it printed into `known`.
    fn crash_round(&mut self, round: u64, rng: &mut Rng) -> RoundLog {
        let gen_base = round * GEN_STRIDE;
        let checkpoint_bytes = match rng.range(0, 3) {
            0 => 2 << 10,
            1 => 32 << 10,
            2 => 512 << 10,
            _ => rro_core::DEFAULT_WAL_CHECKPOINT_BYTES,
        };
        let mut child = Command::new(std::env::current_exe().expect("current exe"))
            .env("RRO_CRASH_CHILD", &self.dir)
            .env("RRO_CRASH_BACKEND", self.backend.name())
            .env("RRO_CRASH_SEED", rng.next().to_string())
            .env("RRO_CRASH_START", self.next_id.to_string())
            .env("RRO_CRASH_GEN", gen_base.to_string())
            .env("RRO_CRASH_CHECKPOINT_BYTES", checkpoint_bytes.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");

        // Lines arrive through a thread so that a hung child fails the test instead of
        // stalling it. Only complete lines count: every line is written with one `write`.
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.ends_with('\n') => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                    Ok(_) => panic!("child printed half a line: {line:?}"),
                }
            }
        });

        let mut log = RoundLog::default();
        let mut pending = None;
        if rng.one_in(8) {
            // Kill at a random time after the start: during open, replay, leftover cleanup,
            // collection creation or the first writes.
            std::thread::sleep(Duration::from_micros(rng.range(0, 40_000)));
            self.early_kills += 1;
        } else {
            // Kill after a random number of acknowledged batches, then a random short delay
            // so the kill also lands inside a write, a sync or a checkpoint.
            let kill_after = rng.range(1, 150);
            while log.acks < kill_after {
                match rx.recv_timeout(LINE_TIMEOUT) {
                    Ok(line) => self.apply_line(&line, &mut pending, &mut log),
                    Err(e) => {
                        let _ = child.kill();
                        let status = child.wait();
                        panic!(
                            "{} round {round}: no line from the child for {LINE_TIMEOUT:?} \
                             ({e}); child status {status:?}",
                            self.backend.name()
                        );
                    }
                }
            }
            match rng.range(0, 3) {
                0 => {}
                1 => std::thread::yield_now(),
                _ => std::thread::sleep(Duration::from_micros(rng.range(0, 3_000))),
            }
        }
        // `Child::kill` sends SIGKILL on Unix.
        child.kill().expect("kill child");
        let status = child.wait().expect("wait child");
        // Everything the child printed before it died was acknowledged too (or tried).
        for line in rx {
            self.apply_line(&line, &mut pending, &mut log);
        }
        reader.join().expect("reader thread");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "{} round {round}: the child exited by itself ({status}) instead of being killed",
                self.backend.name()
            );
        }
        #[cfg(not(unix))]
        let _ = status;
        log.in_flight = pending;
        log
    }

    /// Reopen the directory in this process and check every point against `known`; then write
    /// one new point, read it back and shut down cleanly. Afterwards what was read is known.
    fn verify(&mut self, round: u64, log: &RoundLog) {
        let backend = self.backend;
        let name = backend.name();
        let ids: Vec<u64> = self.known.keys().copied().collect();
        let parent_id = PARENT_IDS + round;
        let parent_gen = round * GEN_STRIDE + GEN_STRIDE - 1;
        let dir = self.dir.clone();
        let (records, count, exists) = futures::executor::block_on(async move {
            let client = backend
                .open(Config::new(&dir).durability(Durability::Fsync))
                .await
                .unwrap_or_else(|e| panic!("{name} round {round}: reopen after the kill: {e}"));
            let exists = client
                .collection_exists(COLLECTION)
                .await
                .expect("collection_exists");
            let mut records = Vec::new();
            let mut count = 0;
            if exists {
                records = client
                    .get_points(
                        COLLECTION,
                        GetPoints::new(ids.iter().copied())
                            .with_vector(true)
                            .with_payload(true),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{name} round {round}: get_points: {e}"));
                count = client
                    .count_points(COLLECTION)
                    .await
                    .unwrap_or_else(|e| panic!("{name} round {round}: count_points: {e}"));
            } else {
                client
                    .create_collection(COLLECTION, collection_config())
                    .await
                    .unwrap_or_else(|e| panic!("{name} round {round}: create collection: {e}"));
            }
            // The store takes new writes.
            client
                .upsert_points(
                    COLLECTION,
                    vec![
                        PointStruct::new(parent_id, vector_for(parent_id, parent_gen))
                            .with_payload(payload_for(parent_id, parent_gen)),
                    ],
                )
                .await
                .unwrap_or_else(|e| panic!("{name} round {round}: write after reopen: {e}"));
            let back = client
                .get_points(
                    COLLECTION,
                    GetPoints::new([parent_id])
                        .with_vector(true)
                        .with_payload(true),
                )
                .await
                .expect("read back the new point");
            assert_eq!(
                back.len(),
                1,
                "{name} round {round}: new point not readable"
            );
            assert_eq!(
                back[0].plain_vector(),
                Some(&vector_for(parent_id, parent_gen)[..])
            );
            assert_eq!(
                back[0].payload.as_ref(),
                Some(&payload_for(parent_id, parent_gen))
            );
            client
                .shutdown()
                .await
                .unwrap_or_else(|e| panic!("{name} round {round}: shutdown: {e}"));
            (records, count, exists)
        });

        let describe = |id: u64, known: &Known| {
            let gens = |states: &[State]| -> Vec<(u64, Option<u64>)> {
                states
                    .iter()
                    .map(|s| (s.vgen, s.payload.get("ogen").and_then(Value::as_u64)))
                    .collect()
            };
            format!(
                "{name} round {round}, point {id}: expected (vector gen, overwrite gen) {:?} \
                 (or one of the unacked {:?}); round log: {} acked writes, in flight {:?}; dir {}",
                gens(known.floor.as_slice()),
                gens(&known.maybe),
                log.acks,
                log.in_flight.as_ref().map(|(g, _)| g),
                self.dir.display()
            )
        };

        let acked_before = self.known.values().filter(|k| k.floor.is_some()).count() as u64;
        let mut found = HashMap::new();
        for record in records {
            let id = match record.id {
                rro::models::PointId::Num(id) => id,
                other => panic!("{name} round {round}: unexpected id {other:?}"),
            };
            assert!(
                found.insert(id, record).is_none(),
                "{name} round {round}: point {id} returned twice"
            );
        }
        for (&id, known) in &mut self.known {
            // The candidate whose vector and payload are exactly what was read, if any.
            let observed: Option<State> = match found.get(&id) {
                None => {
                    assert!(
                        known.floor.is_none(),
                        "ACKNOWLEDGED POINT LOST: {}",
                        describe(id, known)
                    );
                    None
                }
                Some(record) => {
                    let payload = record
                        .payload
                        .as_ref()
                        .unwrap_or_else(|| panic!("no payload: {}", describe(id, known)));
                    let vector = record
                        .plain_vector()
                        .unwrap_or_else(|| panic!("no vector: {}", describe(id, known)));
                    let same_vector = |gen: u64| {
                        let expected = vector_for(id, gen);
                        vector.len() == expected.len()
                            && vector
                                .iter()
                                .zip(&expected)
                                .all(|(a, b)| a.to_bits() == b.to_bits())
                    };
                    let matched = known
                        .floor
                        .iter()
                        .chain(&known.maybe)
                        .find(|s| &s.payload == payload && same_vector(s.vgen));
                    Some(matched.cloned().unwrap_or_else(|| {
                        panic!(
                            "point read back as no state written: vector {vector:?}, payload \
                             gen {:?} / ogen {:?}: {}",
                            payload.get("gen"),
                            payload.get("ogen"),
                            describe(id, known)
                        )
                    }))
                }
            };
            if observed != known.floor {
                self.unacked_seen += 1;
            }
            known.floor = observed;
            known.maybe.clear();
        }
        assert!(
            exists || found.is_empty(),
            "{name} round {round}: collection missing"
        );
        // Nothing but points that were written is there (the parent's new point is not
        // counted yet: it was written after `count_points`).
        assert_eq!(
            count,
            found.len() as u64,
            "{name} round {round}: count_points disagrees with the points found"
        );
        assert!(
            count >= acked_before,
            "{name} round {round}: {count} points stored, {acked_before} acknowledged"
        );
        self.known.insert(
            parent_id,
            Known {
                floor: Some(State::upserted(parent_id, parent_gen)),
                maybe: Vec::new(),
            },
        );
    }
}

fn parent() {
    let seed = match env("RRO_CRASH_SEED") {
        Some(s) => s.parse().expect("RRO_CRASH_SEED must be a u64"),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let rounds: usize = env("RRO_CRASH_ROUNDS").map_or(DEFAULT_ROUNDS, |r| {
        r.parse().expect("RRO_CRASH_ROUNDS must be a number")
    });
    println!(
        "crash test: seed {seed} (replay with RRO_CRASH_SEED={seed}), {rounds} rounds per backend"
    );
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut suites: Vec<Suite> = Backend::all()
        .into_iter()
        .map(|backend| Suite {
            backend,
            dir: tmp.path().join(backend.name()),
            known: HashMap::new(),
            next_id: 0,
            rounds: 0,
            acked_batches: 0,
            acked_points: 0,
            flushes: 0,
            early_kills: 0,
            unacked_seen: 0,
        })
        .collect();
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut round = 0u64;
        for _ in 0..rounds {
            for suite in &mut suites {
                round += 1;
                let log = suite.crash_round(round, &mut rng);
                suite.verify(round, &log);
                suite.rounds += 1;
                suite.acked_batches += log.acks;
                suite.acked_points += log.acked_points;
                suite.flushes += log.flushes;
            }
        }
    }));
    if let Err(panic) = outcome {
        // Keep the data directories for a post-mortem.
        let kept = tmp.keep();
        eprintln!(
            "crash test FAILED with seed {seed} (replay with RRO_CRASH_SEED={seed}); \
             data directories kept in {}",
            kept.display()
        );
        std::panic::resume_unwind(panic);
    }
    for suite in &suites {
        let present: HashSet<u64> = suite
            .known
            .iter()
            .filter(|(_, k)| k.floor.is_some())
            .map(|(&id, _)| id)
            .collect();
        println!(
            "crash test: {} {} rounds, {} acked points verified ({} batches, {} flushes, \
             {} early kills, {} unacked writes found persisted, {} points stored)",
            suite.backend.name(),
            suite.rounds,
            suite.acked_points,
            suite.acked_batches,
            suite.flushes,
            suite.early_kills,
            suite.unacked_seen,
            present.len(),
        );
    }
    println!("crash test: passed in {:.1?}", started.elapsed());
}
