//! The tokio backend for rro: three multi-thread tokio runtimes (search, update, general),
//! built and torn down on rro's instance thread, never inside async code.
//!
//! Timers come from the general runtime and may be polled from any thread, including threads
//! of another executor: a tokio-backed instance works inside a smol application. After the
//! runtimes are gone, pending timers keep their deadlines on an async-io timer instead of
//! panicking.
//!
//! ```
//! let client = futures::executor::block_on(rro_core::RroClient::open(
//!     rro_core::Config::in_memory(),
//!     rro_tokio::TokioBackend,
//! ))?;
//! assert_eq!(client.backend(), "tokio");
//! futures::executor::block_on(client.shutdown())?;
//! # Ok::<_, rro_core::RroError>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rro_core::runtime::{
    mark_rro_thread, Backend, BoxFuture, IdleSpin, Pool, PoolConfig, PoolsReport, Spawner,
};

/// The tokio version this backend runs on, for applications that want to share it.
pub use tokio;

/// Runs an rro instance on three tokio runtimes. Pass it to `RroClient::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioBackend;

impl Backend for TokioBackend {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn start(self: Box<Self>, config: &PoolConfig) -> std::io::Result<Arc<dyn Spawner>> {
        let live_threads = Arc::new(AtomicUsize::new(0));
        let build = |pool| build_runtime(config, pool, &live_threads);
        let runtimes = [
            build(Pool::Search)?,
            build(Pool::Update)?,
            build(Pool::General)?,
        ];
        let handles = runtimes.each_ref().map(|rt| rt.handle().clone());
        Ok(Arc::new(TokioRuntime {
            handles,
            runtimes: Mutex::new(Some(runtimes)),
            alive: Arc::new(RwLock::new(true)),
            live_threads,
        }))
    }
}

fn build_runtime(
    config: &PoolConfig,
    pool: Pool,
    live: &Arc<AtomicUsize>,
) -> std::io::Result<tokio::runtime::Runtime> {
    let next_index = AtomicUsize::new(0);
    let names = config.clone();
    let (started, stopped) = (live.clone(), live.clone());
    let spin = config.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads(pool))
        .thread_name_fn(move || names.thread_name(pool, next_index.fetch_add(1, Ordering::Relaxed)))
        .on_thread_start(move || {
            mark_rro_thread();
            started.fetch_add(1, Ordering::AcqRel);
        })
        .on_thread_park(move || spin_before_parking(spin.spin_window()))
        .on_thread_stop(move || {
            stopped.fetch_sub(1, Ordering::AcqRel);
        })
        .enable_time()
        .build()
}

/// Keep a worker that is about to park awake for up to `idle_spin`, until a task is queued.
///
/// tokio wakes a second worker whenever a searching worker finds a task, so on a pool of two or
/// more workers every request costs a parked thread's wake-up unless the workers are still
/// awake. This hook is user code to tokio, whose parking protocol allows any delay here; the
/// spin only delays parking, it never takes a task itself.
fn spin_before_parking(idle_spin: Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let metrics = handle.metrics();
    let mut spin = IdleSpin::new(idle_spin);
    while metrics.global_queue_depth() == 0 && spin.keep_spinning() {}
}

/// The three runtimes of one instance, plus the handles every spawn goes through.
struct TokioRuntime {
    handles: [tokio::runtime::Handle; 3],
    /// Taken and shut down by [`Spawner::shutdown`] on the instance thread.
    runtimes: Mutex<Option<[tokio::runtime::Runtime; 3]>>,
    /// `false` once the runtimes are being torn down. Timers hold a read guard while they poll,
    /// so no tokio timer is polled after its runtime is gone (tokio would panic).
    alive: Arc<RwLock<bool>>,
    live_threads: Arc<AtomicUsize>,
}

fn index(pool: Pool) -> usize {
    match pool {
        Pool::Search => 0,
        Pool::Update => 1,
        Pool::General => 2,
    }
}

impl Spawner for TokioRuntime {
    fn spawn(&self, pool: Pool, future: BoxFuture<'static, ()>) {
        // A runtime that is shut down drops the task unpolled, which is the contract.
        drop(self.handles[index(pool)].spawn(future));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let deadline = Instant::now() + duration;
        let alive = self.alive.read().unwrap_or_else(|p| p.into_inner());
        let timer = if *alive {
            // Entering the handle lets the timer be created on a thread tokio does not know.
            let _entered = self.handles[index(Pool::General)].enter();
            Timer::Tokio(Box::pin(tokio::time::sleep(duration)))
        } else {
            Timer::Fallback(async_io::Timer::at(deadline))
        };
        Box::pin(GuardedSleep {
            timer,
            deadline,
            alive: self.alive.clone(),
        })
    }

    fn block_on(&self, future: BoxFuture<'_, ()>) {
        futures::executor::block_on(future);
    }

    fn shutdown(&self, deadline: Instant) -> PoolsReport {
        *self.alive.write().unwrap_or_else(|p| p.into_inner()) = false;
        let runtimes = self
            .runtimes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        for runtime in runtimes.into_iter().flatten() {
            runtime.shutdown_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        PoolsReport {
            threads_left_running: self.live_threads.load(Ordering::Acquire),
        }
    }
}

/// A tokio sleep that never touches a runtime that has shut down (tokio would panic): from
/// then on the same deadline is kept by an async-io timer. Waits that span the teardown, such
/// as a client waiting for the shutdown report, need a timer that outlives the runtimes.
struct GuardedSleep {
    timer: Timer,
    deadline: Instant,
    alive: Arc<RwLock<bool>>,
}

enum Timer {
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Fallback(async_io::Timer),
}

impl Future for GuardedSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            match &mut this.timer {
                Timer::Fallback(timer) => return Pin::new(timer).poll(cx).map(drop),
                Timer::Tokio(sleep) => {
                    // Held while polling, so the runtimes cannot be torn down under the timer.
                    let alive = this.alive.read().unwrap_or_else(|p| p.into_inner());
                    if *alive {
                        return sleep.as_mut().poll(cx);
                    }
                }
            }
            this.timer = Timer::Fallback(async_io::Timer::at(this.deadline));
        }
    }
}

/// Whether blocking the current thread would stall a tokio executor: true on a runtime's worker
/// thread while it drives async code (a multi-thread worker, or the thread driving a
/// current-thread runtime), and in code driven by `Runtime::block_on` or `Handle::block_on`.
///
/// False where tokio itself allows blocking: on plain threads, on `spawn_blocking` threads, and
/// inside `block_in_place`, whose worker has handed its core to another thread.
pub fn blocking_would_stall_tokio() -> bool {
    // `worker_index` answers only while the runtime is entered on this thread, which
    // `block_in_place` undoes and `spawn_blocking` threads never do.
    if tokio::runtime::worker_index().is_some() {
        return true;
    }
    // A runtime context with no task around it: the future of a `block_on` (the main thread
    // of `#[tokio::main]` on a multi-thread runtime is no worker, but it is async code), or a
    // bare `Handle::enter`. Refusing the latter too is the conservative choice.
    tokio::runtime::Handle::try_current().is_ok() && tokio::task::try_id().is_none()
}
