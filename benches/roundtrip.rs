//! Request round trip (issue 2): rro's client -> instance thread -> pool -> reply path, against
//! two baselines, on both backends.
//!
//! Contenders:
//! - `rro-tokio`, `rro-smol`: `client.health_check()` on an in-memory instance.
//! - `baseline-pingpong`: a bare bounded async-channel carrying a oneshot sender to one
//!   dedicated std thread that answers it; the floor for any channel-based design.
//! - `baseline-spawn-per-request` (tokio feature): the design rro replaces, a dedicated thread
//!   running a default tokio multi-thread runtime that receives on a tokio mpsc channel and
//!   spawns one task per request, answering on a tokio oneshot.
//!
//! Groups:
//! - `roundtrip_latency`: one caller, sequential round trips, driven by
//!   `futures::executor::block_on` on the bench thread.
//! - `throughput_64`: each iteration sends 64 requests at once and waits for all of them
//!   (criterion reports elements/s).
//!
//! Run: `cargo bench --all-features --bench roundtrip`. Tokio is only reached through
//! `rro_tokio::tokio`, so a smol-only build has no tokio anywhere.

use std::future::Future;
use std::hint::black_box;
use std::thread::JoinHandle;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::channel::oneshot;
use futures::executor::block_on;
use futures::future::join_all;

/// Requests in flight per iteration of the throughput group.
const IN_FLIGHT: usize = 64;
/// Queue capacity of both baselines (the same as rro's default request queue).
const CHANNEL_CAPACITY: usize = 1024;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
}

/// One caller, one request at a time.
fn bench_latency<F, Fut>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    group.bench_function(name, |b| b.iter(|| block_on(call())));
}

/// `IN_FLIGHT` concurrent requests per iteration, all awaited.
fn bench_throughput<F, Fut>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    group.bench_function(name, |b| {
        b.iter(|| block_on(join_all((0..IN_FLIGHT).map(|_| call()))))
    });
}

// ---------------------------------------------------------------------------------------------
// rro

fn open_rro(backend: impl rro::Backend) -> rro::RroClient {
    block_on(rro::open_with(rro::Config::in_memory(), backend)).expect("open an rro instance")
}

async fn health(client: &rro::RroClient) {
    black_box(client.health_check().await.expect("rro health check"));
}

fn close_rro(client: rro::RroClient) {
    block_on(client.shutdown()).expect("shut the rro instance down");
}

// ---------------------------------------------------------------------------------------------
// Baseline: bare ping-pong over a bounded async-channel to one std thread.

struct PingPong {
    // `smol::channel` is a re-export of `async-channel` (the channel rro's client uses).
    sender: smol::channel::Sender<oneshot::Sender<()>>,
    thread: JoinHandle<()>,
}

impl PingPong {
    fn start() -> Self {
        let (sender, receiver) = smol::channel::bounded::<oneshot::Sender<()>>(CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("baseline-pingpong".into())
            .spawn(move || {
                while let Ok(reply) = block_on(receiver.recv()) {
                    let _ = reply.send(());
                }
            })
            .expect("spawn the ping-pong thread");
        PingPong { sender, thread }
    }

    async fn ping(&self) {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(reply)
            .await
            .expect("ping-pong thread is running");
        answer.await.expect("ping-pong thread answers");
    }

    fn stop(self) {
        self.sender.close();
        self.thread.join().expect("ping-pong thread exits cleanly");
    }
}

// ---------------------------------------------------------------------------------------------
// Baseline: the spawn-per-request design rro replaces.

#[cfg(feature = "tokio")]
struct SpawnPerRequest {
    sender: rro_tokio::tokio::sync::mpsc::Sender<rro_tokio::tokio::sync::oneshot::Sender<()>>,
    thread: JoinHandle<()>,
}

#[cfg(feature = "tokio")]
impl SpawnPerRequest {
    fn start() -> Self {
        use rro_tokio::tokio;
        let (sender, mut receiver) =
            tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("baseline-spawn".into())
            .spawn(move || {
                let runtime = tokio::runtime::Runtime::new().expect("build the tokio runtime");
                runtime.block_on(async move {
                    while let Some(reply) = receiver.recv().await {
                        tokio::spawn(async move {
                            let _ = reply.send(());
                        });
                    }
                });
                // Dropped here, outside async code.
                drop(runtime);
            })
            .expect("spawn the spawn-per-request thread");
        SpawnPerRequest { sender, thread }
    }

    async fn ping(&self) {
        let (reply, answer) = rro_tokio::tokio::sync::oneshot::channel();
        self.sender
            .send(reply)
            .await
            .expect("spawn-per-request thread is running");
        answer.await.expect("spawn-per-request task answers");
    }

    fn stop(self) {
        drop(self.sender);
        self.thread
            .join()
            .expect("spawn-per-request thread exits cleanly");
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

/// Runs every contender compiled in through `bench` (one of the two shapes above). Each
/// instance or baseline is started before its benchmark function and stopped after it.
fn contenders<B>(group: &mut BenchmarkGroup<'_, WallTime>, bench: B)
where
    B: Shape,
{
    #[cfg(feature = "tokio")]
    {
        let client = open_rro(rro::TokioBackend);
        bench.run(group, "rro-tokio", || health(&client));
        close_rro(client);
    }
    #[cfg(feature = "smol")]
    {
        let client = open_rro(rro::SmolBackend);
        bench.run(group, "rro-smol", || health(&client));
        close_rro(client);
    }
    {
        let baseline = PingPong::start();
        bench.run(group, "baseline-pingpong", || baseline.ping());
        baseline.stop();
    }
    #[cfg(feature = "tokio")]
    {
        let baseline = SpawnPerRequest::start();
        bench.run(group, "baseline-spawn-per-request", || baseline.ping());
        baseline.stop();
    }
}

/// Latency or throughput: how one contender's call is measured.
trait Shape: Copy {
    fn run<F, Fut>(self, group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>;
}

#[derive(Clone, Copy)]
struct Latency;

impl Shape for Latency {
    fn run<F, Fut>(self, group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        bench_latency(group, name, call);
    }
}

#[derive(Clone, Copy)]
struct Concurrent;

impl Shape for Concurrent {
    fn run<F, Fut>(self, group: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        bench_throughput(group, name, call);
    }
}

fn roundtrip_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("roundtrip_latency");
    configure(&mut group);
    contenders(&mut group, Latency);
    group.finish();
}

fn throughput_64(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput_64");
    configure(&mut group);
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    contenders(&mut group, Concurrent);
    group.finish();
}

criterion_group!(benches, roundtrip_latency, throughput_64);
criterion_main!(benches);
