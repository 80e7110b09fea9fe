//! Test harness shared by every integration test: one scenario body runs on every enabled
//! backend (and, where it matters, from every kind of caller executor), on its own thread,
//! under a hard timeout so that a hang fails the test instead of stalling the suite.

#![allow(dead_code)]

pub mod oracle;

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rro::{Config, RroClient};

/// Longest any scenario may take before it counts as hung.
pub const HARD_TIMEOUT: Duration = Duration::from_secs(120);

/// The backend an instance runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    #[cfg(feature = "tokio")]
    Tokio,
    #[cfg(feature = "smol")]
    Smol,
}

/// The executor the test's client code runs on (the "application").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `futures::executor::block_on` on a plain thread.
    BlockOn,
    /// A `smol::Executor` driven by `smol::block_on`.
    Smol,
    #[cfg(feature = "tokio")]
    TokioCurrentThread,
    #[cfg(feature = "tokio")]
    TokioMultiThread,
}

/// What a scenario gets: the backend under test and a way to open instances on it.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub backend: Backend,
    pub caller: Caller,
}

static NEXT_INSTANCE: AtomicUsize = AtomicUsize::new(0);

impl Ctx {
    /// Open an instance on the backend under test.
    pub async fn open(&self, config: Config) -> RroClient {
        self.try_open(config).await.expect("instance opens")
    }

    /// Open an instance on the backend under test, or the error opening gave.
    pub async fn try_open(&self, config: Config) -> rro::Result<RroClient> {
        match self.backend {
            #[cfg(feature = "tokio")]
            Backend::Tokio => rro::open_with(config, rro::TokioBackend).await,
            #[cfg(feature = "smol")]
            Backend::Smol => rro::open_with(config, rro::SmolBackend).await,
        }
    }

    /// Like [`unique_config`](Self::unique_config), with the data directory `dir`.
    pub fn persistent_config(&self, dir: &std::path::Path) -> (Config, String) {
        let (config, name) = self.unique_config();
        (config.data_path(dir), name)
    }

    /// A config whose threads carry a name no other test uses, so that thread checks can tell
    /// this instance's threads from those of tests running in parallel.
    pub fn unique_config(&self) -> (Config, String) {
        let name = format!("rrot{}x", NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed));
        (
            Config::in_memory()
                .search_threads(2)
                .update_threads(1)
                .general_threads(2)
                .thread_name(&name),
            name,
        )
    }

    /// Open an instance with small pools and a unique thread name.
    pub async fn open_default(&self) -> RroClient {
        self.open(self.unique_config().0).await
    }
}

/// Run `scenario` on `backend`, driven by `caller`, on a fresh thread with a hard timeout.
pub fn run_on<F, Fut>(caller: Caller, backend: Backend, scenario: F)
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let ctx = Ctx { backend, caller };
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("scenario-{caller:?}-{backend:?}"))
        .spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| drive(caller, scenario(ctx))));
            let _ = done_tx.send(outcome);
        })
        .expect("scenario thread starts");
    match done_rx.recv_timeout(HARD_TIMEOUT) {
        Ok(Ok(())) => {
            let _ = thread.join();
        }
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => {
            panic!("scenario on {backend:?} from {caller:?} did not finish within {HARD_TIMEOUT:?}")
        }
    }
}

/// Run `scenario` on `backend` from a plain thread.
pub fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    run_on(Caller::BlockOn, backend, scenario)
}

fn drive<Fut: Future<Output = ()>>(caller: Caller, future: Fut) {
    match caller {
        Caller::BlockOn => futures::executor::block_on(future),
        Caller::Smol => {
            let executor = smol::LocalExecutor::new();
            smol::block_on(executor.run(future))
        }
        #[cfg(feature = "tokio")]
        Caller::TokioCurrentThread => rro_tokio::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(future),
        #[cfg(feature = "tokio")]
        Caller::TokioMultiThread => rro_tokio::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(future),
    }
}

/// Names of this process's live threads that start with `prefix` (Linux: from /proc).
pub fn live_threads(prefix: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Assert that no thread whose name starts with `prefix` is left.
///
/// `shutdown()` joins every rro thread, but `pthread_join` returns when the thread's exit
/// clears its tid, slightly before the kernel removes the task from `/proc`; on a loaded
/// machine that window is visible. So a joined thread is allowed a bounded moment to vanish.
pub fn assert_threads_gone(prefix: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = live_threads(prefix);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "threads still alive: {left:?}"
        );
        std::thread::yield_now();
    }
}

/// One `#[test]` per enabled backend for each named async scenario `fn name(ctx: Ctx)`.
#[macro_export]
macro_rules! backend_tests {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[cfg(feature = "tokio")]
            #[test]
            fn tokio() {
                $crate::common::run($crate::common::Backend::Tokio, super::$scenario)
            }

            #[cfg(feature = "smol")]
            #[test]
            fn smol() {
                $crate::common::run($crate::common::Backend::Smol, super::$scenario)
            }
        }
    )*};
}

/// A deterministic pseudo-random stream (splitmix64), so failures replay.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// `dim` components uniform in [-1, 1).
    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}
