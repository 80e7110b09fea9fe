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
//!   `idle_spin` ([`IdleSpin`]), then stops searching, registers as parked, checks the queue a
//!   last time and only then waits for a permit.
//! - Whenever a task becomes runnable (spawned here, or woken through its waker, which every
//!   task is wrapped to observe) and no thread is searching, a parked thread gets a permit.
//!   Permits never outnumber parked threads, so a burst of spawns wakes each thread once.
//! - When a task starts while other tasks are still queued and nobody is searching, another
//!   thread is woken, so a long task never holds up the ones behind it. `queued` is exact
//!   because each task counts itself once however often it is woken before it runs.
//!
//! No wake-up is lost: a notifier makes the task visible in the queue before it reads
//! `searching` and `parked`; a thread stops searching and registers as parked before its last
//! look at the queue. Whichever goes second sees the other (all sequentially consistent, and
//! `parked` and `permits` only change under one mutex).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, RwLock, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::Instant;

use async_executor::Executor;
use rro_core::runtime::{mark_rro_thread, BoxFuture, IdleSpin, Pool, PoolConfig};

/// What the threads of a pool and its notifiers share.
struct Shared {
    executor: Executor<'static>,
    /// Threads currently looking for work.
    searching: AtomicUsize,
    /// Tasks runnable but not yet started.
    queued: AtomicUsize,
    parking: Mutex<Parking>,
    wakeup: Condvar,
    stopped: AtomicBool,
}

#[derive(Default)]
struct Parking {
    /// Threads registered as parked (some may still be taking their last look at the queue).
    parked: usize,
    /// Wake-ups handed out and not yet taken; never more than `parked`.
    permits: usize,
}

impl Shared {
    /// A task was made runnable and is in the executor's queue: make sure a thread looks.
    fn notify(&self) {
        if self.searching.load(SeqCst) == 0 {
            self.wake_one();
        }
    }

    /// A thread started running a task; if it was searching, it is not any more.
    fn task_started(&self) {
        if THIS_THREAD_SEARCHES.with(|flag| flag.replace(false)) {
            self.searching.fetch_sub(1, SeqCst);
        }
        let still_queued = self.queued.fetch_sub(1, SeqCst).saturating_sub(1);
        if still_queued > 0 && self.searching.load(SeqCst) == 0 {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        let mut parking = lock(&self.parking);
        if parking.permits < parking.parked {
            parking.permits += 1;
            self.wakeup.notify_one();
        }
    }

    /// Park unless the queue turns out not to be empty; returns when there may be work.
    fn park(&self) {
        lock(&self.parking).parked += 1;
        // The last look, after registering: a task queued before this point is found here, one
        // queued after it sees `parked` and hands out a permit.
        if !self.stopped.load(SeqCst) && self.executor.try_tick() {
            let mut parking = lock(&self.parking);
            parking.parked -= 1;
            parking.permits = parking.permits.min(parking.parked);
            return;
        }
        let mut parking = lock(&self.parking);
        while parking.permits == 0 && !self.stopped.load(SeqCst) {
            parking = self.wakeup.wait(parking).unwrap_or_else(|p| p.into_inner());
        }
        parking.permits = parking.permits.saturating_sub(1);
        parking.parked -= 1;
    }

    fn stop(&self) {
        self.stopped.store(true, SeqCst);
        let _parking = lock(&self.parking);
        self.wakeup.notify_all();
    }
}

std::thread_local! {
    /// Whether the current pool thread is counted in `searching`.
    static THIS_THREAD_SEARCHES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Count the current thread as searching (again).
fn start_searching(shared: &Shared) {
    if !THIS_THREAD_SEARCHES.with(|flag| flag.replace(true)) {
        shared.searching.fetch_add(1, SeqCst);
    }
}

/// Stop counting the current thread as searching.
fn stop_searching(shared: &Shared) {
    if THIS_THREAD_SEARCHES.with(|flag| flag.replace(false)) {
        shared.searching.fetch_sub(1, SeqCst);
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
    state: Arc<TaskState>,
    /// The executor's waker and ours around it, rebuilt only when the executor's changes.
    waker: Option<(Waker, Waker)>,
}

struct TaskState {
    shared: Weak<Shared>,
    /// Counted in `queued` and not started since.
    scheduled: AtomicBool,
}

impl TaskState {
    /// Count the task as queued unless it already is. Done *before* the task is scheduled: a
    /// thread may poll it the moment it is in the queue, and that poll must find it counted.
    fn mark_queued(&self, shared: &Shared) {
        if !self.scheduled.swap(true, SeqCst) {
            shared.queued.fetch_add(1, SeqCst);
        }
    }
}

impl Future for Observed {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.state.scheduled.swap(false, SeqCst) {
            if let Some(shared) = this.state.shared.upgrade() {
                shared.task_started();
            }
        }
        let waker = match &this.waker {
            Some((inner, ours)) if inner.will_wake(cx.waker()) => ours.clone(),
            _ => {
                let ours = Waker::from(Arc::new(ObservedWake {
                    inner: cx.waker().clone(),
                    state: this.state.clone(),
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
    state: Arc<TaskState>,
}

impl Wake for ObservedWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Count, schedule, then notify: a thread woken by the notification finds the task.
        let shared = self.state.shared.upgrade();
        if let Some(shared) = &shared {
            self.state.mark_queued(shared);
        }
        self.inner.wake_by_ref();
        if let Some(shared) = &shared {
            shared.notify();
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
            parking: Mutex::default(),
            wakeup: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let (exit_tx, exited) = mpsc::channel();
        let mut threads = Vec::new();
        for i in 0..config.threads(pool) {
            let (thread_shared, exit_tx) = (shared.clone(), exit_tx.clone());
            let spin = config.clone();
            let spawned = std::thread::Builder::new()
                .name(config.thread_name(pool, i))
                .spawn(move || {
                    mark_rro_thread();
                    run_worker(&thread_shared, &spin);
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
            let state = Arc::new(TaskState {
                shared: Arc::downgrade(shared),
                scheduled: AtomicBool::new(false),
            });
            state.mark_queued(shared);
            shared
                .executor
                .spawn(Observed {
                    future,
                    state,
                    waker: None,
                })
                .detach();
            shared.notify();
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

fn run_worker(shared: &Shared, config: &PoolConfig) {
    while !shared.stopped.load(SeqCst) {
        start_searching(shared);
        let mut spin = IdleSpin::new(config.spin_window());
        loop {
            // Checked after every task, not only when the queue is empty: a thread that was
            // stuck past the teardown deadline must not go on to run the tasks queued behind.
            if shared.stopped.load(SeqCst) {
                break;
            }
            if shared.executor.try_tick() {
                // The task's start took this thread out of `searching`; back to looking.
                start_searching(shared);
                spin.reset();
            } else if !spin.keep_spinning() {
                break;
            }
        }
        stop_searching(shared);
        shared.park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn pool(threads: usize, idle_spin: Duration) -> ExecutorPool {
        let config = PoolConfig {
            search_threads: threads,
            update_threads: threads,
            general_threads: threads,
            thread_prefix: "pooltest".into(),
            idle_spin,
            pace: Default::default(),
        };
        ExecutorPool::start(&config, Pool::General).expect("pool starts")
    }

    /// Thousands of tasks that park on timers and on each other: a lost wake-up leaves one
    /// hanging, and the deadline below catches it.
    #[test]
    fn no_wake_up_is_lost() {
        for spin in [Duration::ZERO, Duration::from_micros(50)] {
            let pool = pool(2, spin);
            let (done_tx, done) = mpsc::channel();
            const TASKS: usize = 2000;
            for i in 0..TASKS {
                let (ping_tx, ping_rx) = futures::channel::oneshot::channel::<()>();
                let done_tx = done_tx.clone();
                pool.spawn(Box::pin(async move {
                    let _ = ping_rx.await;
                    let _ = done_tx.send(());
                }));
                pool.spawn(Box::pin(async move {
                    async_io::Timer::after(Duration::from_micros((i % 7) as u64 * 30)).await;
                    let _ = ping_tx.send(());
                }));
            }
            for n in 0..TASKS {
                assert!(
                    done.recv_timeout(Duration::from_secs(30)).is_ok(),
                    "task {n} of {TASKS} never finished (spin {spin:?})"
                );
            }
            pool.signal_stop();
            assert_eq!(pool.join(Instant::now() + Duration::from_secs(10)), 0);
        }
    }

    /// A task that occupies its thread must not hold up a task spawned after it while another
    /// thread is free.
    #[test]
    fn a_busy_thread_does_not_block_the_queue() {
        let pool = pool(2, Duration::from_micros(50));
        let release = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let (hog_release, hog_started) = (release.clone(), started.clone());
        pool.spawn(Box::pin(async move {
            hog_started.fetch_add(1, SeqCst);
            let limit = Instant::now() + Duration::from_secs(20);
            while !hog_release.load(SeqCst) && Instant::now() < limit {
                std::thread::yield_now();
            }
        }));
        while started.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        // Wait until the other thread has parked, so the next spawn has to wake it.
        let shared = pool
            .shared
            .read()
            .unwrap()
            .clone()
            .expect("pool is running");
        while lock(&shared.parking).parked == 0 {
            std::thread::yield_now();
        }
        let (quick_tx, quick) = mpsc::channel();
        pool.spawn(Box::pin(async move {
            let _ = quick_tx.send(());
        }));
        let ran = quick.recv_timeout(Duration::from_secs(10));
        release.store(true, SeqCst);
        assert!(
            ran.is_ok(),
            "the second task waited for the first one's thread"
        );
        pool.signal_stop();
        assert_eq!(pool.join(Instant::now() + Duration::from_secs(10)), 0);
    }
}
