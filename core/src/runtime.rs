//! The seam between rro-core and an async runtime.
//!
//! rro-core never names tokio or smol. A backend crate implements two small object-safe
//! traits: [`Backend`], which builds the three pools once, on the instance thread, and the
//! [`Spawner`] it returns, which spawns onto those pools, provides timers, drives the instance
//! loop and finally tears the pools down on the same thread.
//!
//! # Notes for implementors
//! - [`Spawner::sleep`] must work when polled from any thread, including threads of another
//!   executor (a tokio backend inside a smol application), and must never panic: after
//!   [`Spawner::shutdown`] it may complete at once.
//! - A timeout is a race of the work against a sleep (see [`timeout`]); the work is polled first,
//!   so an answer that is ready never loses to a timer that fired in the same wake-up.
//! - [`Spawner::shutdown`] runs on the instance thread, outside any async context, so a backend
//!   may block there (a tokio runtime must never be dropped inside async code).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A boxed, sendable future: what crosses the [`Spawner`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The three pools every instance owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pool {
    /// CPU-bound queries (search, count).
    Search,
    /// Writes, and later optimizer and index building.
    Update,
    /// Metadata, I/O and everything else.
    General,
}

impl Pool {
    /// All pools, in the order their threads are named and reported.
    pub const ALL: [Pool; 3] = [Pool::Search, Pool::Update, Pool::General];

    /// Short lowercase name used in thread names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Pool::Search => "search",
            Pool::Update => "update",
            Pool::General => "general",
        }
    }
}

/// How many threads each pool gets, and how the backend should name and run them.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Threads of the search pool (at least 1).
    pub search_threads: usize,
    /// Threads of the update pool (at least 1).
    pub update_threads: usize,
    /// Threads of the general pool (at least 1).
    pub general_threads: usize,
    /// Prefix of every thread name: pool threads are `{prefix}-{pool}-{i}`.
    pub thread_prefix: String,
    /// How long an idle pool thread looks for new work before it parks (zero: park at once).
    pub idle_spin: Duration,
    /// A longer spin the instance asks for while requests arrive back to back; pool threads
    /// spin for [`PoolConfig::spin_window`], which includes it.
    pub pace: Arc<SpinPace>,
}

/// The spin window the instance thread publishes for the pools: while a caller sends requests
/// one after another, twice the typical gap between them (up to 1 ms), so that the thread
/// that runs the next request is still awake when it comes; zero when requests are sparse.
#[derive(Debug, Default)]
pub struct SpinPace(std::sync::atomic::AtomicU64);

impl SpinPace {
    /// The current adaptive window.
    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Publish a new adaptive window.
    pub fn set(&self, window: Duration) {
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, std::sync::atomic::Ordering::Relaxed);
    }
}

impl PoolConfig {
    /// Threads configured for `pool`.
    pub fn threads(&self, pool: Pool) -> usize {
        match pool {
            Pool::Search => self.search_threads,
            Pool::Update => self.update_threads,
            Pool::General => self.general_threads,
        }
        .max(1)
    }

    /// How long an idle pool thread spins before it parks right now: the configured
    /// `idle_spin`, or the instance's adaptive window if longer; zero if `idle_spin` is zero.
    pub fn spin_window(&self) -> Duration {
        if self.idle_spin.is_zero() {
            Duration::ZERO
        } else {
            self.idle_spin.max(self.pace.get())
        }
    }

    /// Name of thread `index` of `pool`.
    pub fn thread_name(&self, pool: Pool, index: usize) -> String {
        format!("{}-{}-{}", self.thread_prefix, pool.name(), index)
    }
}

/// What a backend reports after tearing its pools down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolsReport {
    /// Pool threads that had not stopped when the deadline passed (they are left detached).
    pub threads_left_running: usize,
}

/// Builds an instance's pools. Called exactly once, on the instance thread.
pub trait Backend: Send + 'static {
    /// Short name of the backend (`"tokio"`, `"smol"`), reported by health checks.
    fn name(&self) -> &'static str;

    /// Build the three pools on the current thread and return the runtime that drives them.
    fn start(self: Box<Self>, config: &PoolConfig) -> std::io::Result<Arc<dyn Spawner>>;
}

/// A running set of pools plus the timers that go with them. Shared as `Arc<dyn Spawner>`.
pub trait Spawner: Send + Sync + 'static {
    /// Drive `future` to completion in the background on `pool`. After shutdown the future is
    /// dropped unpolled.
    fn spawn(&self, pool: Pool, future: BoxFuture<'static, ()>);

    /// A future that completes after `duration`; pollable from any thread, never panics.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Run `future` to completion on the current thread (the instance thread).
    fn block_on(&self, future: BoxFuture<'_, ()>);

    /// Stop every pool thread, waiting for them until `deadline`; called once, on the
    /// instance thread, after [`Spawner::block_on`] returned.
    fn shutdown(&self, deadline: Instant) -> PoolsReport;
}

/// Why [`timeout`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Race `work` against a sleep of `duration` on `runtime`'s timer; see [`race`].
pub async fn timeout<T>(
    runtime: &dyn Spawner,
    duration: Duration,
    work: impl Future<Output = T>,
) -> Result<T, Elapsed> {
    race(work, runtime.sleep(duration)).await
}

/// Race `work` against `timer`. The work is polled first, so an answer that is ready never
/// loses to a timer that fired in the same wake-up.
pub async fn race<T>(
    work: impl Future<Output = T>,
    timer: impl Future<Output = ()>,
) -> Result<T, Elapsed> {
    use futures::future::{select, Either};
    match select(std::pin::pin!(work), std::pin::pin!(timer)).await {
        Either::Left((value, _)) => Ok(value),
        Either::Right(((), _)) => Err(Elapsed),
    }
}

std::thread_local! {
    static ON_RRO_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark the current thread as one of rro's own (instance or pool thread). Backends call this
/// at the start of every pool thread so that blocking calls from there are refused instead of
/// deadlocking the pool.
pub fn mark_rro_thread() {
    ON_RRO_THREAD.with(|flag| flag.set(true));
}

/// Whether the current thread is one of rro's instance or pool threads.
pub fn on_rro_thread() -> bool {
    ON_RRO_THREAD.with(|flag| flag.get())
}

/// Bounded busy-waiting for idle instance and pool threads, shared by the instance loop and the
/// backends' pools.
///
/// Waking a parked thread costs tens of microseconds on a virtual machine, more than most
/// requests; a thread that keeps looking for work for a short while after its last task picks
/// up the next one without that cost. On a machine with few cores a spinning thread competes
/// with the threads doing the work, so the spin yields its core to any runnable thread and
/// reads the clock only now and then.
#[derive(Debug)]
pub struct IdleSpin {
    limit: Duration,
    started: Instant,
    rounds: u32,
}

impl IdleSpin {
    /// Start a spin window of `limit` (zero: no spinning at all).
    pub fn new(limit: Duration) -> Self {
        IdleSpin {
            limit,
            started: Instant::now(),
            rounds: 0,
        }
    }

    /// Start the window again, after work was found.
    pub fn reset(&mut self) {
        self.started = Instant::now();
        self.rounds = 0;
    }

    /// Wait a moment; `false` once the window is over and the caller should park.
    pub fn keep_spinning(&mut self) -> bool {
        if self.limit.is_zero() {
            return false;
        }
        self.rounds = self.rounds.wrapping_add(1);
        if self.rounds.is_multiple_of(CLOCK_EVERY) && self.started.elapsed() >= self.limit {
            return false;
        }
        if self.rounds.is_multiple_of(YIELD_EVERY) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        true
    }
}

/// Spin rounds between two clock reads.
const CLOCK_EVERY: u32 = 16;

/// Spin rounds between two yields of the core. Measured on a 2-core VM: yielding much less
/// often (every 1024 rounds, or never) doubled tail latency and cut burst throughput; every 1,
/// 4 or 16 rounds were alike within the machine's noise.
const YIELD_EVERY: u32 = 16;
