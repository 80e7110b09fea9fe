//! The smol backend for rro: three `async-executor` pools, each run by named std threads, with
//! `async-io` timers. No global executor is used, and tokio is nowhere in the build.
//!
//! ```
//! let client = futures_lite::future::block_on(rro_core::RroClient::open(
//!     rro_core::Config::in_memory(),
//!     rro_smol::SmolBackend,
//! ))?;
//! assert_eq!(client.backend(), "smol");
//! futures_lite::future::block_on(client.shutdown())?;
//! # Ok::<_, rro_core::RroError>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod pool;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rro_core::runtime::{Backend, BoxFuture, Pool, PoolConfig, PoolsReport, Spawner};

use pool::ExecutorPool;

/// Runs an rro instance on three async-executor pools. Pass it to `RroClient::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolBackend;

impl Backend for SmolBackend {
    fn name(&self) -> &'static str {
        "smol"
    }

    fn start(self: Box<Self>, config: &PoolConfig) -> std::io::Result<Arc<dyn Spawner>> {
        let pools = [
            ExecutorPool::start(config, Pool::Search)?,
            ExecutorPool::start(config, Pool::Update)?,
            ExecutorPool::start(config, Pool::General)?,
        ];
        Ok(Arc::new(SmolRuntime { pools }))
    }
}

struct SmolRuntime {
    pools: [ExecutorPool; 3],
}

impl SmolRuntime {
    fn pool(&self, pool: Pool) -> &ExecutorPool {
        match pool {
            Pool::Search => &self.pools[0],
            Pool::Update => &self.pools[1],
            Pool::General => &self.pools[2],
        }
    }
}

impl Spawner for SmolRuntime {
    fn spawn(&self, pool: Pool, future: BoxFuture<'static, ()>) {
        self.pool(pool).spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // async-io's reactor thread drives the timer when no thread of ours is polling.
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn block_on(&self, future: BoxFuture<'_, ()>) {
        futures_lite::future::block_on(future);
    }

    fn shutdown(&self, deadline: Instant) -> PoolsReport {
        for pool in &self.pools {
            pool.signal_stop();
        }
        let threads_left_running = self.pools.iter().map(|pool| pool.join(deadline)).sum();
        PoolsReport {
            threads_left_running,
        }
    }
}
