//! The optimizer's async driver: runs the storage engine's optimizations (seal, index, merge,
//! vacuum; the policy is `storage::plan`) in the background on the update pool.
//!
//! A write that leaves a collection with work to do [`kick`](Optimizer::kick)s it; at most one
//! driver task runs per collection, and it loops until the plan is empty. An index build is
//! split over as many tasks as the update pool has threads, each inserting points for a couple
//! of milliseconds and then yielding, so writes queued on the same pool keep flowing while an
//! index is built. Shutdown and collection deletion stop a build at the next yield; the half
//! built graph is dropped and nothing on disk changes.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::FutureExt;

use crate::gate::StorageGate;
use crate::runtime::{Pool, Spawner};
use crate::storage::plan::Plan;
use crate::storage::{Collection, Job};

/// How long a build task inserts before it lets other work on the update pool run.
const SLICE: Duration = Duration::from_millis(2);

/// Runs optimizations for every collection of an instance.
pub(crate) struct Optimizer {
    runtime: Arc<dyn Spawner>,
    /// Seals and commits write to the data directory: only while the gate is open.
    gate: Arc<StorageGate>,
    /// Tasks an index build is split over: the update pool's thread count.
    threads: usize,
    stopping: Arc<AtomicBool>,
    /// Write requests spawned on the update pool that have not started yet: builds sharing
    /// that pool step aside for them at once instead of at the end of their slice.
    writes_waiting: Arc<AtomicUsize>,
}

/// Counts one write as waiting for the update pool until it starts (or is dropped unrun).
pub(crate) struct WaitingWrite(Arc<AtomicUsize>);

impl Drop for WaitingWrite {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Optimizer {
    /// An optimizer spawning onto `runtime`'s update pool, building with `threads` tasks.
    pub(crate) fn new(
        runtime: Arc<dyn Spawner>,
        gate: Arc<StorageGate>,
        threads: usize,
    ) -> Arc<Self> {
        Arc::new(Optimizer {
            runtime,
            gate,
            threads: threads.max(1),
            stopping: Arc::new(AtomicBool::new(false)),
            writes_waiting: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Note a write about to be spawned on the update pool; drop the guard when it starts.
    pub(crate) fn write_waiting(&self) -> WaitingWrite {
        self.writes_waiting.fetch_add(1, Ordering::AcqRel);
        WaitingWrite(self.writes_waiting.clone())
    }

    /// Stop: no new optimization starts, running builds end at their next yield.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn stopped(&self, collection: &Collection) -> bool {
        self.stopping.load(Ordering::Acquire) || collection.is_closed()
    }

    /// Start optimizing `collection` in the background if it has work and no optimizer runs
    /// for it yet. Cheap when there is nothing to do.
    pub(crate) fn kick(self: &Arc<Self>, collection: &Arc<Collection>) {
        if self.stopped(collection) || !collection.try_start_optimizer() {
            return;
        }
        let this = self.clone();
        let collection = collection.clone();
        self.runtime.spawn(
            Pool::Update,
            Box::pin(async move { this.run(collection).await }),
        );
    }

    /// The driver task: one optimization after another until the plan is empty.
    async fn run(self: Arc<Self>, collection: Arc<Collection>) {
        loop {
            let outcome = AssertUnwindSafe(self.step(&collection))
                .catch_unwind()
                .await;
            let failed = match outcome {
                Ok(Ok(())) => false,
                Ok(Err(error)) => {
                    collection.record_optimization(Err(error));
                    true
                }
                Err(_) => {
                    collection.record_optimization(Err("the optimizer panicked".to_owned()));
                    true
                }
            };
            if collection.optimizer_done(failed || self.stopped(&collection)) {
                return;
            }
        }
    }

    /// Carry out the collection's next optimization, if any.
    async fn step(&self, collection: &Arc<Collection>) -> Result<(), String> {
        let Some(plan) = collection.plan() else {
            return Ok(());
        };
        if let Plan::Seal = plan {
            let Some(_writing) = self.gate.enter() else {
                return Ok(());
            };
            collection.seal().map_err(|e| e.to_string())?;
            collection.record_optimization(Ok(()));
            return Ok(());
        }
        let Some(job) = collection.prepare(&plan) else {
            return Ok(());
        };
        collection.set_optimizer_progress(&job);
        let job = Arc::new(job);
        self.build(collection, &job).await;
        if !job.is_complete() {
            if self.stopped(collection) {
                // Drop the partial graph; the plan is made again at the next open.
                return Ok(());
            }
            // A build task panicked: report it (and back off) rather than retry at once.
            return Err("the index build stopped unexpectedly".to_owned());
        }
        // Every build task has finished and dropped its handle, so this one is the last.
        let job = Arc::try_unwrap(job)
            .map_err(|_| "the index build is still referenced after it finished".to_owned())?;
        let Some(_writing) = self.gate.enter() else {
            // Shutting down: like a stopped build, the plan is made again at the next open.
            return Ok(());
        };
        collection.commit(job).map_err(|e| e.to_string())?;
        collection.record_optimization(Ok(()));
        Ok(())
    }

    /// Insert every point of `job` into its graph from `threads` tasks on the update pool.
    async fn build(&self, collection: &Arc<Collection>, job: &Arc<Job>) {
        let mut finished = Vec::with_capacity(self.threads);
        for _ in 0..self.threads {
            let (done_tx, done_rx) = futures::channel::oneshot::channel::<()>();
            let job = job.clone();
            let collection = collection.clone();
            let stopping = self.stopping.clone();
            let writes_waiting = self.writes_waiting.clone();
            self.runtime.spawn(
                Pool::Update,
                Box::pin(async move {
                    let work = AssertUnwindSafe(async {
                        loop {
                            let slice = Instant::now();
                            let mut more = true;
                            // A point takes 0.1-0.5 ms; a waiting write gets the thread after
                            // the current one.
                            while more
                                && slice.elapsed() < SLICE
                                && writes_waiting.load(Ordering::Acquire) == 0
                            {
                                more = job.insert_next();
                            }
                            if !more || stopping.load(Ordering::Acquire) || collection.is_closed() {
                                return;
                            }
                            yield_now().await;
                        }
                    });
                    let _ = work.catch_unwind().await;
                    let _ = done_tx.send(());
                }),
            );
            finished.push(done_rx);
        }
        for done in finished {
            // A task dropped at shutdown cancels its sender: that counts as finished too.
            let _ = done.await;
        }
    }
}

/// Let other tasks of the same pool run, then continue.
async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}
