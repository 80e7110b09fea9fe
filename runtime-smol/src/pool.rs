//! One pool: an `async_executor::Executor` run by N named std threads.
//!
//! An idle thread first keeps trying to run a task for `idle_spin` (so that a request arriving
//! right after the last one skips the cost of waking a parked thread), then parks inside
//! `Executor::tick` until a task is scheduled or the pool is stopped.

use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_executor::Executor;
use futures_lite::future;
use rro_core::runtime::{mark_rro_thread, BoxFuture, Pool, PoolConfig};

pub(crate) struct ExecutorPool {
    /// `None` once the pool is stopped: dropping the executor drops every task it still holds,
    /// and with them the reply channels of requests that will never be answered.
    executor: RwLock<Option<Arc<Executor<'static>>>>,
    stop: async_channel::Sender<()>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    exited: Mutex<mpsc::Receiver<usize>>,
}

impl ExecutorPool {
    pub(crate) fn start(config: &PoolConfig, pool: Pool) -> std::io::Result<ExecutorPool> {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let (exit_tx, exited) = mpsc::channel();
        let mut threads = Vec::new();
        for i in 0..config.threads(pool) {
            let (executor, stopped, exit_tx) = (executor.clone(), stopped.clone(), exit_tx.clone());
            let spin = config.idle_spin;
            let spawned = std::thread::Builder::new()
                .name(config.thread_name(pool, i))
                .spawn(move || {
                    mark_rro_thread();
                    run_worker(&executor, &stopped, spin);
                    drop(executor);
                    let _ = exit_tx.send(i);
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(error) => {
                    stop.close();
                    return Err(error);
                }
            }
        }
        Ok(ExecutorPool {
            executor: RwLock::new(Some(executor)),
            stop,
            threads: Mutex::new(threads),
            exited: Mutex::new(exited),
        })
    }

    pub(crate) fn spawn(&self, future: BoxFuture<'static, ()>) {
        if let Some(executor) = &*self.executor.read().unwrap_or_else(|p| p.into_inner()) {
            executor.spawn(future).detach();
        }
    }

    pub(crate) fn signal_stop(&self) {
        self.stop.close();
    }

    /// Wait until `deadline` for the pool's threads, join those that stopped, drop the pending
    /// tasks; returns how many threads are still running (they stay detached).
    pub(crate) fn join(&self, deadline: Instant) -> usize {
        let mut threads: Vec<Option<JoinHandle<()>>> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .map(Some)
                .collect();
        let exited = self.exited.lock().unwrap_or_else(|p| p.into_inner());
        let mut running = threads.len();
        while running > 0 {
            let Ok(index) = exited.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                break;
            };
            // The thread has nothing left to do but return, so this join is immediate.
            if let Some(thread) = threads.get_mut(index).and_then(Option::take) {
                let _ = thread.join();
            }
            running -= 1;
        }
        self.executor
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        running
    }
}

fn run_worker(executor: &Executor<'static>, stopped: &async_channel::Receiver<()>, spin: Duration) {
    loop {
        if !spin.is_zero() {
            let mut idle_since = Instant::now();
            while idle_since.elapsed() < spin && !stopped.is_closed() {
                if executor.try_tick() {
                    idle_since = Instant::now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        if stopped.is_closed() {
            return;
        }
        // `true`: a task ran; `false`: the pool is stopping.
        let next = future::or(
            async {
                executor.tick().await;
                true
            },
            async {
                let _ = stopped.recv().await;
                false
            },
        );
        if !future::block_on(next) {
            return;
        }
    }
}
