//! The instance thread: receives messages, spawns each request on its pool, and on shutdown
//! drains, flushes and tears the pools down.
//!
//! Life of an instance:
//! 1. [`start`] spawns the thread; the backend builds the pools there and the opener gets the
//!    runtime back (or the startup error).
//! 2. The loop receives until the queue is closed (explicit shutdown, or the last client
//!    dropped) and empty: every request that made it into the queue is still served.
//! 3. It waits for in-flight requests until the shutdown deadline, flushes storage on the
//!    update pool, leaves the async context, and tears the pools down on this thread.
//! 4. It publishes a [`ShutdownReport`] and the thread ends.
//!
//! # Work left at the deadline
//! Whatever has not finished when the shutdown deadline passes is abandoned, whatever the
//! pools do: the loop keeps a weak handle on the reply of every request it spawned and drops
//! the replies still pending, so their callers get [`RroError::ChannelClosed`] at once rather
//! than their own timeout; a queued request finds its reply gone and returns unexecuted, and a
//! running search sees it as cancellation and stops at its next check. The data directory is
//! released at teardown even if a request is stuck (see `gate.rs`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_channel::{Receiver, TryRecvError};
use futures::channel::oneshot;
use futures::FutureExt;

use crate::config::Config;
use crate::deadline::Deadlines;
use crate::error::RroError;
use crate::gate::StorageGate;
use crate::handler::{Handle, HandlerContext};
use crate::optimizer::Optimizer;
use crate::protocol::{Deliver, Envelope, Message};
use crate::runtime::{mark_rro_thread, race, Backend, IdleSpin, Pool, PoolsReport, Spawner};
use crate::storage::TableOfContent;

/// What shutdown achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownReport {
    /// Requests that were still running when the deadline passed; their callers got
    /// [`RroError::ChannelClosed`].
    pub requests_abandoned: usize,
    /// Why the final flush failed, if it did.
    pub flush_error: Option<RroError>,
    /// Pool threads still running at the deadline (left detached).
    pub threads_left_running: usize,
    /// Writes still running at the deadline (stuck in a system call, say). The data directory
    /// stays locked until the last of them ends, so that none can write into a directory
    /// another instance has opened meanwhile; with none, the directory is released before
    /// `shutdown()` returns.
    pub writes_left_running: usize,
    /// Time from the shutdown request to the end of the teardown.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// Whether everything finished in time: no abandoned request, flushed, every thread joined.
    pub fn is_clean(&self) -> bool {
        self.requests_abandoned == 0
            && self.flush_error.is_none()
            && self.threads_left_running == 0
            && self.writes_left_running == 0
    }
}

/// Time the pools get to stop after the drain deadline. Work still running then is dropped at
/// its next await point, which takes microseconds; only a thread stuck in blocking code uses
/// up this grace, and is then left detached.
pub(crate) const POOL_TEARDOWN_GRACE: Duration = Duration::from_secs(2);

/// Time the pools get to stop even when a stuck writer used up the grace: threads that are
/// free stop in microseconds, and should be joined rather than reported as left running.
const POOL_STOP_MIN: Duration = Duration::from_millis(100);

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const STOPPED: u8 = 3;

/// State shared by the instance thread and every client handle.
#[derive(Debug)]
pub(crate) struct Status {
    state: AtomicU8,
    shutdown_timeout: Mutex<Duration>,
}

impl Status {
    fn new(shutdown_timeout: Duration) -> Self {
        Status {
            state: AtomicU8::new(STARTING),
            shutdown_timeout: Mutex::new(shutdown_timeout),
        }
    }

    /// Whether the instance is serving and not shutting down.
    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNNING
    }

    /// Record that shutdown was asked for, with how long it may take.
    pub(crate) fn begin_shutdown(&self, timeout: Duration) {
        *self
            .shutdown_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = timeout;
        self.advance(STOPPING);
    }

    fn shutdown_timeout(&self) -> Duration {
        *self
            .shutdown_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Move forward to `state`, never back (a late `RUNNING` must not undo `STOPPING`).
    fn advance(&self, state: u8) {
        self.state.fetch_max(state, Ordering::AcqRel);
    }
}

/// A started instance, as the client holds it.
pub(crate) struct Started {
    pub(crate) runtime: Arc<dyn Spawner>,
    pub(crate) deadlines: Arc<Deadlines>,
    pub(crate) status: Arc<Status>,
    pub(crate) report: futures::future::Shared<oneshot::Receiver<ShutdownReport>>,
    pub(crate) thread: std::thread::JoinHandle<()>,
}

/// Spawn the instance thread, let `backend` build the pools there, and wait until it has.
pub(crate) async fn start(
    config: &Config,
    backend: Box<dyn Backend>,
    queue: Receiver<Message>,
) -> Result<Started, RroError> {
    let status = Arc::new(Status::new(config.shutdown_timeout));
    let (ready_tx, ready_rx) =
        oneshot::channel::<Result<(Arc<dyn Spawner>, Arc<Deadlines>), RroError>>();
    let (report_tx, report_rx) = oneshot::channel();
    let pool_config = config.pool_config();
    let idle_spin = config.idle_spin;
    let pace = pool_config.pace.clone();
    let storage_config = config.clone();
    let thread_status = status.clone();
    let thread = std::thread::Builder::new()
        .name(config.thread_name.clone())
        .spawn(move || {
            mark_rro_thread();
            let backend_name = backend.name();
            let runtime = match backend.start(&pool_config) {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready_tx.send(Err(RroError::Startup(format!(
                        "cannot build the pools: {error}"
                    ))));
                    return;
                }
            };
            let toc = match open_storage(&runtime, storage_config) {
                Ok(toc) => toc,
                Err(error) => {
                    runtime.shutdown(Instant::now() + POOL_TEARDOWN_GRACE);
                    let _ = ready_tx.send(Err(error));
                    return;
                }
            };
            let timer_name = format!("{}-timer", pool_config.thread_prefix);
            let (deadlines, watchdog) = match Deadlines::start(runtime.clone(), timer_name) {
                Ok(started) => started,
                Err(error) => {
                    runtime.shutdown(Instant::now() + POOL_TEARDOWN_GRACE);
                    let _ = ready_tx.send(Err(RroError::Startup(format!(
                        "cannot spawn the deadline thread: {error}"
                    ))));
                    return;
                }
            };
            let gate = StorageGate::new(toc.clone());
            if let Some(interval) = toc.flush_interval() {
                runtime.spawn(
                    Pool::General,
                    Box::pin(flush_periodically(
                        toc.clone(),
                        runtime.clone(),
                        gate.clone(),
                        interval,
                        thread_status.clone(),
                    )),
                );
            }
            // Running before the opener hears of it, so `is_healthy` is true as soon as `open`
            // returns.
            thread_status.advance(RUNNING);
            if ready_tx
                .send(Ok((runtime.clone(), deadlines.clone())))
                .is_err()
            {
                // The opener gave up waiting; nobody can reach this instance.
                queue.close();
            }
            let optimizer =
                Optimizer::new(runtime.clone(), gate.clone(), pool_config.update_threads);
            // Opening may find work left over: unindexed segments of a crash mid-build.
            for collection in toc.all() {
                optimizer.kick(&collection);
            }
            let context = Arc::new(HandlerContext {
                toc,
                runtime: runtime.clone(),
                backend: backend_name,
                queue: queue.clone(),
                optimizer,
            });
            let instance = Instance {
                context,
                gate: gate.clone(),
                deadlines: deadlines.clone(),
            };
            let mut drained = None;
            runtime.block_on(Box::pin(async {
                drained = Some(serve(&instance, queue, idle_spin, pace, &thread_status).await);
            }));
            let drained =
                drained.unwrap_or_else(|| Drained::failed("the instance loop did not finish"));
            let teardown = drained.deadline.max(Instant::now()) + POOL_TEARDOWN_GRACE;
            // Writers finish on live pools; then the directory is let go before the report.
            let writes_left_running = gate.close(teardown);
            let pools = runtime.shutdown(teardown.max(Instant::now() + POOL_STOP_MIN));
            deadlines.close();
            let _ = watchdog.join();
            thread_status.advance(STOPPED);
            let _ = report_tx.send(drained.into_report(pools, writes_left_running));
        })
        .map_err(|e| RroError::Startup(format!("cannot spawn the instance thread: {e}")))?;

    match ready_rx.await {
        Ok(Ok((runtime, deadlines))) => Ok(Started {
            runtime,
            deadlines,
            status,
            report: report_rx.shared(),
            thread,
        }),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(error)
        }
        Err(_) => {
            let _ = thread.join();
            Err(RroError::Startup(
                "the instance thread ended during startup".into(),
            ))
        }
    }
}

/// Open the storage on the general pool (loading segments and replaying logs is I/O and CPU
/// work, which never runs on the instance thread) and wait for it here.
fn open_storage(
    runtime: &Arc<dyn Spawner>,
    config: Config,
) -> Result<Arc<TableOfContent>, RroError> {
    let (opened_tx, opened_rx) = oneshot::channel();
    runtime.spawn(
        Pool::General,
        Box::pin(async move {
            let opened =
                std::panic::catch_unwind(AssertUnwindSafe(|| TableOfContent::open(&config)));
            let _ = opened_tx.send(opened);
        }),
    );
    let mut result = None;
    runtime.block_on(Box::pin(async {
        result = Some(opened_rx.await);
    }));
    match result {
        Some(Ok(Ok(Ok(toc)))) => Ok(Arc::new(toc)),
        Some(Ok(Ok(Err(error)))) => Err(error.into()),
        Some(Ok(Err(panic))) => Err(RroError::Internal(panic_message(&*panic))),
        Some(Err(_)) | None => Err(RroError::Startup(
            "the storage could not be opened: its task was dropped".into(),
        )),
    }
}

/// The background flusher: every `interval`, sync the write-ahead logs (what
/// `Durability::Interval` promises) and checkpoint collections whose log has grown large.
/// It ends when shutdown begins; shutdown then flushes everything itself.
async fn flush_periodically(
    toc: Arc<TableOfContent>,
    runtime: Arc<dyn Spawner>,
    gate: Arc<StorageGate>,
    interval: Duration,
    status: Arc<Status>,
) {
    let checkpointing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        runtime.sleep(interval).await;
        if !status.is_running() {
            return;
        }
        let Some(writing) = gate.enter() else {
            return;
        };
        if let Err(error) = toc.sync_logs() {
            log::error!("syncing the write-ahead log failed: {error}");
        }
        drop(writing);
        // Checkpoints write segments: update-pool work, and never two at once.
        if !checkpointing.swap(true, Ordering::AcqRel) {
            let toc = toc.clone();
            let checkpointing = checkpointing.clone();
            let gate = gate.clone();
            runtime.spawn(
                Pool::Update,
                Box::pin(async move {
                    if let Some(_writing) = gate.enter() {
                        if let Err(error) = toc.checkpoint_large_logs() {
                            log::error!("background checkpoint failed: {error}");
                        }
                    }
                    checkpointing.store(false, Ordering::Release);
                }),
            );
        }
    }
}

/// How the serving part of shutdown went, before the pools are torn down.
struct Drained {
    started: Instant,
    deadline: Instant,
    requests_abandoned: usize,
    flush_error: Option<RroError>,
}

impl Drained {
    fn failed(why: &str) -> Self {
        let now = Instant::now();
        Drained {
            started: now,
            deadline: now,
            requests_abandoned: 0,
            flush_error: Some(RroError::Internal(why.into())),
        }
    }

    fn into_report(self, pools: PoolsReport, writes_left_running: usize) -> ShutdownReport {
        ShutdownReport {
            requests_abandoned: self.requests_abandoned,
            flush_error: self.flush_error,
            threads_left_running: pools.threads_left_running,
            writes_left_running,
            elapsed: self.started.elapsed(),
        }
    }
}

/// What the instance loop works with, beyond the handlers' context.
struct Instance {
    context: Arc<HandlerContext>,
    gate: Arc<StorageGate>,
    deadlines: Arc<Deadlines>,
}

/// The instance loop proper: serve until the queue is closed and empty, then drain and flush.
async fn serve(
    instance: &Instance,
    queue: Receiver<Message>,
    idle_spin: Duration,
    pools_pace: Arc<crate::runtime::SpinPace>,
    status: &Status,
) -> Drained {
    let context = &instance.context;
    // Every spawned request holds a clone of `in_flight`; the receiver sees the channel close
    // once the last one is dropped, which is how shutdown waits for in-flight work.
    let (in_flight, all_done) = async_channel::bounded::<()>(1);
    let mut replies = PendingReplies::default();
    let mut pace = Pace::new(idle_spin, pools_pace);
    while let Some(message) = next_message(&queue, &mut pace).await {
        #[cfg(feature = "test-requests")]
        let message = match message {
            Message::HoldInstance(Envelope { call, reply }) => {
                let _ = call.held.send(());
                let _ = call.release.await;
                let _ = reply.send(Ok(()));
                continue;
            }
            message => message,
        };
        dispatch(instance, &mut replies, message, in_flight.clone());
    }
    status.advance(STOPPING);
    // Builds stop at their next yield, and callers waiting for an index get their answer.
    context.optimizer.stop();
    let started = Instant::now();
    let deadline = started + status.shutdown_timeout();
    drop(in_flight);

    // The watchdog's timer, not the pools': a pool whose threads are all stuck must not hold
    // shutdown up.
    let requests_abandoned = match race(all_done.recv(), instance.deadlines.at(deadline)).await {
        Ok(_) => 0,
        Err(_) => all_done.sender_count(),
    };
    // Nothing started from here on answers; callers hear at once that the instance is gone.
    replies.abandon_all();

    let toc = context.toc.clone();
    let gate = instance.gate.clone();
    let (flushed_tx, flushed_rx) = oneshot::channel();
    context.runtime.spawn(
        Pool::Update,
        Box::pin(async move {
            // Skipped if it starts only after the teardown closed the gate.
            if let Some(_writing) = gate.enter() {
                let _ = flushed_tx.send(toc.flush());
            }
        }),
    );
    let remaining = deadline.saturating_duration_since(Instant::now());
    let flush_error = match race(flushed_rx, instance.deadlines.at(deadline)).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(error))) => Some(error.into()),
        Ok(Err(_)) => Some(RroError::Internal("the flush task was dropped".into())),
        Err(_) => Some(RroError::Timeout(remaining)),
    };
    Drained {
        started,
        deadline,
        requests_abandoned,
        flush_error,
    }
}

/// A request's reply channel, shared by its task and (weakly) by the instance loop, which
/// drops it unanswered at the shutdown deadline.
struct ReplySlot<T> {
    sender: Mutex<Option<oneshot::Sender<T>>>,
    /// The task waiting in [`ReplySlot::poll_cancelled`]: dropping our own sender does not
    /// wake it (a oneshot wakes only the other side), so abandoning does.
    task: futures::task::AtomicWaker,
}

impl<T> ReplySlot<T> {
    fn new(sender: oneshot::Sender<T>) -> Self {
        ReplySlot {
            sender: Mutex::new(Some(sender)),
            task: futures::task::AtomicWaker::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<oneshot::Sender<T>>> {
        self.sender.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reply, unless the instance already dropped it.
    fn take(&self) -> Option<oneshot::Sender<T>> {
        self.lock().take()
    }

    /// Whether nobody wants the answer any more: the caller gave up, or the instance did.
    fn cancelled(&self) -> bool {
        self.lock()
            .as_ref()
            .is_none_or(oneshot::Sender::is_canceled)
    }

    /// Ready once the caller gives up (or the instance has already dropped the reply).
    fn poll_cancelled(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.task.register(cx.waker());
        match self.lock().as_mut() {
            Some(sender) => sender.poll_canceled(cx),
            None => std::task::Poll::Ready(()),
        }
    }
}

/// The part of a [`ReplySlot`] the instance loop needs, without naming the reply's type.
trait Abandon: Send + Sync {
    /// Drop the reply unanswered: the caller gets `ChannelClosed`.
    fn abandon(&self);
}

impl<T: Send> Abandon for ReplySlot<T> {
    fn abandon(&self) {
        drop(self.take());
        self.task.wake();
    }
}

/// Weak handles on the replies of every spawned request that may still be pending. Only the
/// instance thread touches it, so recording a request costs a push, no lock; finished requests
/// are pruned whenever the list has doubled.
#[derive(Default)]
struct PendingReplies {
    replies: Vec<Weak<dyn Abandon>>,
    prune_at: usize,
}

impl PendingReplies {
    fn record(&mut self, reply: Weak<dyn Abandon>) {
        if self.replies.len() >= self.prune_at {
            self.replies.retain(|reply| reply.strong_count() > 0);
            self.prune_at = (2 * self.replies.len()).max(1024);
        }
        self.replies.push(reply);
    }

    fn abandon_all(&mut self) {
        for reply in self.replies.drain(..) {
            if let Some(reply) = reply.upgrade() {
                reply.abandon();
            }
        }
    }
}

/// Whether `request` may change the data directory. Those run inside the storage gate (see
/// `gate.rs`); anything not known to be read-only counts as a write.
fn may_write(message: &Message) -> bool {
    match message {
        // Sleeps and panics, which touch no storage.
        #[cfg(feature = "test-requests")]
        Message::Sleep(_) | Message::Panic(_) | Message::HoldInstance(_) => false,
        Message::Search(_)
        | Message::SearchBatch(_)
        | Message::Recommend(_)
        | Message::SearchGroups(_)
        | Message::GetPoints(_)
        | Message::Count(_)
        | Message::Scroll(_)
        | Message::ListCollections(_)
        | Message::ListAliases(_)
        | Message::ListCollectionAliases(_)
        | Message::CollectionInfo(_)
        | Message::CollectionExists(_)
        | Message::WaitIndexReady(_)
        | Message::HealthCheck(_)
        | Message::ListSnapshots(_)
        | Message::ListFullSnapshots(_) => false,
        _ => true,
    }
}

/// Longest the instance thread spins between two messages when they come in steadily.
const MAX_ADAPTIVE_SPIN: Duration = Duration::from_millis(1);

/// How long the instance thread looks for the next message before it parks. At least the
/// configured `idle_spin`; when messages have been arriving at a steady pace below
/// [`MAX_ADAPTIVE_SPIN`] apart (a caller issuing searches one after another), twice the typical
/// gap, so the thread is awake when the next one comes: a parked thread's wake-up costs tens of
/// microseconds on a VM, a large share of a search. An idle application gets the configured
/// spin only, and `idle_spin(Duration::ZERO)` turns spinning off entirely.
struct Pace {
    base: Duration,
    last: Option<Instant>,
    /// Moving average of the gap between messages, in nanoseconds.
    gap_ns: f64,
    /// Where the adaptive part is published for the pool threads, which face the same gaps.
    pools: Arc<crate::runtime::SpinPace>,
}

impl Pace {
    fn new(base: Duration, pools: Arc<crate::runtime::SpinPace>) -> Self {
        Pace {
            base,
            last: None,
            gap_ns: f64::INFINITY,
            pools,
        }
    }

    /// A message arrived now.
    fn arrived(&mut self) {
        self.arrived_at(Instant::now());
    }

    fn arrived_at(&mut self, now: Instant) {
        if let Some(last) = self.last.replace(now) {
            let gap = now.duration_since(last).as_nanos() as f64;
            self.gap_ns = if self.gap_ns.is_finite() {
                0.8 * self.gap_ns + 0.2 * gap
            } else {
                gap
            };
            self.pools.set(self.adaptive().unwrap_or(Duration::ZERO));
        }
    }

    /// Twice the typical gap, when that is short enough to be worth spinning for.
    fn adaptive(&self) -> Option<Duration> {
        let adaptive = Duration::from_nanos((2.0 * self.gap_ns.min(1e12)) as u64);
        (adaptive <= MAX_ADAPTIVE_SPIN).then_some(adaptive)
    }

    /// How long to spin for the next message.
    fn window(&self) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        self.adaptive().map_or(self.base, |a| a.max(self.base))
    }
}

/// The next message, or `None` once the queue is closed and empty. Looks for work for a while
/// (see [`Pace`]) before parking, because a parked thread's wake-up costs more than a request.
async fn next_message(queue: &Receiver<Message>, pace: &mut Pace) -> Option<Message> {
    let found = next_message_inner(queue, pace.window()).await;
    pace.arrived();
    found
}

async fn next_message_inner(queue: &Receiver<Message>, idle_spin: Duration) -> Option<Message> {
    match queue.try_recv() {
        Ok(message) => return Some(message),
        Err(TryRecvError::Closed) => return None,
        Err(TryRecvError::Empty) => {}
    }
    let mut spin = IdleSpin::new(idle_spin);
    while spin.keep_spinning() {
        match queue.try_recv() {
            Ok(message) => return Some(message),
            Err(TryRecvError::Closed) => return None,
            Err(TryRecvError::Empty) => {}
        }
    }
    queue.recv().await.ok()
}

/// Spawn `message`'s request on its pool. The task answers on the message's oneshot, turns a
/// panic into [`RroError::Internal`], and stops working for a caller that has given up (or an
/// instance past its shutdown deadline): it is skipped if that happened while it was queued,
/// dropped at its next await point if it happens meanwhile, and long synchronous work polls
/// `cancelled` between chunks. A request that may write runs inside the storage gate, and is
/// refused once the gate is closed.
fn dispatch(
    instance: &Instance,
    replies: &mut PendingReplies,
    message: Message,
    in_flight: async_channel::Sender<()>,
) {
    let gate = may_write(&message).then(|| instance.gate.clone());
    message.deliver(Dispatch {
        context: &instance.context,
        replies,
        gate,
        in_flight,
    });
}

/// [`dispatch`] with the call's concrete type, so that its answer goes back typed.
struct Dispatch<'a> {
    context: &'a Arc<HandlerContext>,
    replies: &'a mut PendingReplies,
    gate: Option<Arc<StorageGate>>,
    in_flight: async_channel::Sender<()>,
}

impl Deliver for Dispatch<'_> {
    fn deliver<C: Handle>(self, envelope: Envelope<C>) {
        spawn_call(self, envelope);
    }
}

fn spawn_call<C: Handle>(dispatch: Dispatch<'_>, envelope: Envelope<C>) {
    let Dispatch {
        context,
        replies,
        gate,
        in_flight,
    } = dispatch;
    let Envelope { call, reply } = envelope;
    let pool = C::POOL;
    let task_context = context.clone();
    let waiting = (pool == Pool::Update).then(|| context.optimizer.write_waiting());
    let reply = Arc::new(ReplySlot::new(reply));
    let weak: Weak<dyn Abandon> = Arc::downgrade(&reply) as Weak<dyn Abandon>;
    replies.record(weak);
    context.runtime.spawn(
        pool,
        Box::pin(async move {
            drop(waiting);
            let _in_flight = in_flight;
            if reply.cancelled() {
                return;
            }
            let _writing = match &gate {
                Some(gate) => match gate.enter() {
                    Some(writing) => Some(writing),
                    // Shutting down: dropping the reply tells the caller so.
                    None => return,
                },
                None => None,
            };
            let cancelled = || reply.cancelled();
            let work = AssertUnwindSafe(call.handle(&task_context, &cancelled)).catch_unwind();
            let caller_left = futures::future::poll_fn(|cx| reply.poll_cancelled(cx));
            let result =
                match futures::future::select(std::pin::pin!(work), std::pin::pin!(caller_left))
                    .await
                {
                    futures::future::Either::Left((outcome, _)) => outcome
                        .unwrap_or_else(|panic| Err(RroError::Internal(panic_message(&*panic)))),
                    futures::future::Either::Right(_) => return,
                };
            // The caller may have timed out meanwhile; then nobody wants the answer.
            if let Some(reply) = reply.take() {
                let _ = reply.send(result);
            }
        }),
    );
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("request handler panicked: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_messages_make_the_spin_follow_their_pace() {
        let base = Duration::from_micros(50);
        let pools = Arc::new(crate::runtime::SpinPace::default());
        let mut pace = Pace::new(base, pools.clone());
        assert_eq!(pace.window(), base);
        let start = Instant::now();
        for i in 0..50u32 {
            pace.arrived_at(start + Duration::from_micros(200) * i);
        }
        // Twice the 200 µs gap, for the instance thread and the pools alike.
        let window = pace.window();
        assert!(window > Duration::from_micros(390) && window < Duration::from_micros(410));
        assert_eq!(pools.get(), window);
        // Sparse messages: back to the configured spin, and nothing extra for the pools.
        for i in 0..50u32 {
            pace.arrived_at(start + Duration::from_millis(20) * (i + 1));
        }
        assert_eq!(pace.window(), base);
        assert_eq!(pools.get(), Duration::ZERO);
        let config = crate::Config::in_memory().pool_config();
        assert_eq!(config.spin_window(), crate::DEFAULT_IDLE_SPIN);
        config.pace.set(Duration::from_micros(700));
        assert_eq!(config.spin_window(), Duration::from_micros(700));
        // Spinning turned off stays off.
        let mut off = Pace::new(Duration::ZERO, Arc::default());
        for i in 0..10u32 {
            off.arrived_at(start + Duration::from_micros(100) * i);
        }
        assert_eq!(off.window(), Duration::ZERO);
        let config = crate::Config::in_memory()
            .idle_spin(Duration::ZERO)
            .pool_config();
        config.pace.set(Duration::from_micros(700));
        assert_eq!(config.spin_window(), Duration::ZERO);
    }

    #[test]
    fn panic_messages_are_extracted() {
        let p: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(panic_message(&*p), "request handler panicked: boom");
        let p: Box<dyn std::any::Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(&*p), "request handler panicked: bang");
        let p: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(
            panic_message(&*p),
            "request handler panicked: non-string panic payload"
        );
    }
}
