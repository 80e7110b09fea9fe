//! One pool: an `async_executor::Executor` run by N named std threads, with our own parking.
//!
//! # Why not `Executor::run` on every thread
//! async-executor wakes another sleeping thread every time a thread takes a task, in case the
//! task runs long. For rro's typical request — microseconds of work — that is a futex wake and
//! a context switch per request, and on a virtual machine waking an idle vCPU costs more than
//! the request itself. This pool wakes a parked thread only when it is needed.
//!
//! # Protocol
//! - Threads take tasks only with `Executor::try_tick`, so none ever registers with the
//!   executor as a sleeper and the executor itself wakes nobody.
//! - A thread with nothing to run is *searching*: it keeps calling `try_tick` for up to
//!   `idle_spin`, then stops searching, checks the queue once more and parks.
//! - Whenever a task becomes runnable — spawned here, or woken by its waker, which every task
//!   is wrapped to observe — `queued` goes up; if no thread is searching, one parked thread
//!   gets a permit and wakes.
//! - When a task starts running, `queued` goes down; if tasks are still queued and nobody is
//!   searching, another thread is woken, so a long task never blocks the ones behind it.
//!
//! Searching threads and notifiers use sequentially consistent operations on `searching` and
//! the queue: either the notifier sees nobody searching and hands out a permit, or the thread
//! that stops searching sees the task in its final check. Permits are counted under a mutex,
//! so a wake-up sent just before a thread waits is not lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, RwLock, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_executor::Executor;
use rro_core::runtime::{mark_rro_thread, BoxFuture, Pool, PoolConfig};

/// What the threads of a pool and its notifiers share.
struct Shared {
    executor: Executor<'static>,
    /// Threads currently looking for work.
    searching: AtomicUsize,
    /// Tasks runnable but not yet started.
    queued: AtomicUsize,
    /// Wake-ups handed out and not yet taken by a parked thread.
    permits: Mutex<usize>,
    wakeup: Condvar,
    stopped: AtomicBool,
}

impl Shared {
    /// A task became runnable: make sure some thread will look for it.
    fn task_queued(&self) {
        self.queued.fetch_add(1, SeqCst);
        if self.searching.load(SeqCst) == 0 {
            self.wake_one();
        }
    }

    /// A thread started running a task.
    fn task_started(&self) {
        let still_queued = self.queued.fetch_sub(1, SeqCst).saturating_sub(1);
        if still_queued > 0 && self.searching.load(SeqCst) == 0 {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        *lock(&self.permits) += 1;
        self.wakeup.notify_one();
    }

    /// Park until a permit arrives or the pool stops.
    fn park(&self) {
        let mut permits = lock(&self.permits);
        while *permits == 0 && !self.stopped.load(SeqCst) {
            permits = self.wakeup.wait(permits).unwrap_or_else(|p| p.into_inner());
        }
        *permits = permits.saturating_sub(1);
    }

    fn stop(&self) {
        self.stopped.store(true, SeqCst);
        let _permits = lock(&self.permits);
        self.wakeup.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wraps a task so the pool sees when it starts running and when it is woken.
///
/// It holds the pool weakly: the executor owns its tasks, so a strong reference would keep the
/// executor — and every task in it — alive after teardown.
struct Observed {
    future: BoxFuture<'static, ()>,
    shared: Weak<Shared>,
    /// The executor's waker wrapped in ours, rebuilt only when the executor's changes.
    waker: Option<(Waker, Waker)>,
}

impl Future for Observed {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some(shared) = this.shared.upgrade() {
            shared.task_started();
        }
        let waker = match &this.waker {
            Some((inner, ours)) if inner.will_wake(cx.waker()) => ours.clone(),
            _ => {
                let ours = Waker::from(Arc::new(ObservedWake {
                    inner: cx.waker().clone(),
                    shared: this.shared.clone(),
                }));
                this.waker = Some((cx.waker().clone(), ours.clone()));
                ours
            }
        };
        this.future.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

struct ObservedWake {
    inner: Waker,
    shared: Weak<Shared>,
}

impl Wake for ObservedWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Schedule first, so a thread woken by the notification finds the task.
        self.inner.wake_by_ref();
        if let Some(shared) = self.shared.upgrade() {
            shared.task_queued();
        }
    }
}

pub(crate) struct ExecutorPool {
    /// `None` once the pool is stopped: dropping the executor drops every task it still holds,
    /// and with them the reply channels of requests that will never be answered.
    shared: RwLock<Option<Arc<Shared>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    exited: Mutex<mpsc::Receiver<usize>>,
}

impl ExecutorPool {
    pub(crate) fn start(config: &PoolConfig, pool: Pool) -> std::io::Result<ExecutorPool> {
        let shared = Arc::new(Shared {
            executor: Executor::new(),
            searching: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            permits: Mutex::new(0),
            wakeup: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let (exit_tx, exited) = mpsc::channel();
        let mut threads = Vec::new();
        for i in 0..config.threads(pool) {
            let (thread_shared, exit_tx) = (shared.clone(), exit_tx.clone());
            let spin = config.idle_spin;
            let spawned = std::thread::Builder::new()
                .name(config.thread_name(pool, i))
                .spawn(move || {
                    mark_rro_thread();
                    run_worker(&thread_shared, spin);
                    drop(thread_shared);
                    let _ = exit_tx.send(i);
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(error) => {
                    shared.stop();
                    return Err(error);
                }
            }
        }
        Ok(ExecutorPool {
            shared: RwLock::new(Some(shared)),
            threads: Mutex::new(threads),
            exited: Mutex::new(exited),
        })
    }

    pub(crate) fn spawn(&self, future: BoxFuture<'static, ()>) {
        if let Some(shared) = &*self.shared.read().unwrap_or_else(|p| p.into_inner()) {
            let task = Observed {
                future,
                shared: Arc::downgrade(shared),
                waker: None,
            };
            shared.executor.spawn(task).detach();
            shared.task_queued();
        }
    }

    pub(crate) fn signal_stop(&self) {
        if let Some(shared) = &*self.shared.read().unwrap_or_else(|p| p.into_inner()) {
            shared.stop();
        }
    }

    /// Wait until `deadline` for the pool's threads, join those that stopped, drop the pending
    /// tasks; returns how many threads are still running (they stay detached).
    pub(crate) fn join(&self, deadline: Instant) -> usize {
        let mut threads: Vec<Option<JoinHandle<()>>> = std::mem::take(&mut *lock(&self.threads))
            .into_iter()
            .map(Some)
            .collect();
        let exited = lock(&self.exited);
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
        // Dropping the last reference to the executor drops the tasks it still holds. A thread
        // left running keeps its reference, and the tasks, until it returns.
        self.shared
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        running
    }
}

fn run_worker(shared: &Shared, spin: Duration) {
    while !shared.stopped.load(SeqCst) {
        shared.searching.fetch_add(1, SeqCst);
        let mut idle_since = Instant::now();
        loop {
            if shared.executor.try_tick() {
                // `task_started` ran inside; this thread is searching again now.
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= spin || shared.stopped.load(SeqCst) {
                break;
            } else {
                std::hint::spin_loop();
            }
        }
        shared.searching.fetch_sub(1, SeqCst);
        // Final check after no longer counting as searching: a task queued before the
        // decrement is seen here, one queued after it hands out a permit.
        if shared.executor.try_tick() {
            continue;
        }
        shared.park();
    }
}
