//! Request deadlines without a timer per request.
//!
//! Every client call has a timeout, but almost every call finishes long before it. Arming a
//! runtime timer per call costs a wake-up of the timer's thread on both backends (tokio unparks
//! the driver when the wheel was empty, async-io writes to its eventfd on every insert) — on a
//! virtual machine that alone is a large part of a round trip. Instead each call registers its
//! deadline here (a map insert under an uncontended lock, removed when the call ends), and one
//! watchdog task on the general pool sleeps on the backend's timer until the earliest deadline.
//! Calls with the same timeout register ever-later deadlines, so the watchdog is re-armed only
//! when a call asks for an earlier one.
//!
//! Once the instance is torn down the watchdog is gone; [`Deadlines::close`] wakes every
//! pending deadline, which from then on sleeps on the backend's timer directly.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

use crate::runtime::{BoxFuture, Spawner};

/// Key of a registered deadline: when, plus a sequence number to tell equal instants apart.
type Key = (Instant, u64);

#[derive(Default)]
struct State {
    pending: BTreeMap<Key, Waker>,
    next_id: u64,
    /// When the watchdog will next wake by itself; `None` while it waits for a deadline.
    armed_until: Option<Instant>,
    closed: bool,
}

/// The deadlines of one instance's pending calls, and the watchdog that fires them.
pub(crate) struct Deadlines {
    state: Mutex<State>,
    /// Wakes the watchdog when a deadline earlier than its alarm arrives.
    watchdog: AtomicWaker,
    rearm: AtomicBool,
    spawner: Arc<dyn Spawner>,
}

impl Deadlines {
    pub(crate) fn new(spawner: Arc<dyn Spawner>) -> Arc<Self> {
        Arc::new(Deadlines {
            state: Mutex::default(),
            watchdog: AtomicWaker::new(),
            rearm: AtomicBool::new(false),
            spawner,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A future that completes `duration` from now.
    pub(crate) fn after(self: &Arc<Self>, duration: Duration) -> Deadline {
        Deadline {
            deadlines: self.clone(),
            at: Instant::now() + duration,
            key: None,
            fallback: None,
        }
    }

    /// The watchdog: fires due deadlines, then sleeps until the next one. Runs until the pool
    /// it was spawned on is torn down.
    pub(crate) async fn watch(self: Arc<Self>) {
        loop {
            let now = Instant::now();
            let next = {
                let mut state = self.lock();
                while let Some(entry) = state.pending.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    entry.remove().wake();
                }
                let next = state.pending.first_key_value().map(|((at, _), _)| *at);
                state.armed_until = next;
                next
            };
            let rearmed = futures::future::poll_fn(|cx| {
                self.watchdog.register(cx.waker());
                if self.rearm.swap(false, Ordering::AcqRel) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            match next {
                Some(at) => {
                    let alarm = self
                        .spawner
                        .sleep(at.saturating_duration_since(Instant::now()));
                    futures::future::select(alarm, std::pin::pin!(rearmed)).await;
                }
                None => rearmed.await,
            }
        }
    }

    /// The watchdog is gone for good: wake every pending deadline so it switches to a timer of
    /// its own.
    pub(crate) fn close(&self) {
        let pending = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        pending.into_values().for_each(Waker::wake);
    }
}

/// Completes at its instant; see the module docs.
pub(crate) struct Deadline {
    deadlines: Arc<Deadlines>,
    at: Instant,
    key: Option<Key>,
    fallback: Option<BoxFuture<'static, ()>>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some(fallback) = &mut this.fallback {
            return fallback.as_mut().poll(cx);
        }
        if Instant::now() >= this.at {
            return Poll::Ready(());
        }
        let mut state = this.deadlines.lock();
        if state.closed {
            drop(state);
            this.key = None;
            let remaining = this.at.saturating_duration_since(Instant::now());
            let fallback = this
                .fallback
                .insert(this.deadlines.spawner.sleep(remaining));
            return fallback.as_mut().poll(cx);
        }
        match this.key {
            Some(key) => match state.pending.get_mut(&key) {
                Some(waker) => waker.clone_from(cx.waker()),
                // Woken by the watchdog a little early (timer rounding): register again.
                None => {
                    state.pending.insert(key, cx.waker().clone());
                }
            },
            None => {
                let key = (this.at, state.next_id);
                state.next_id += 1;
                state.pending.insert(key, cx.waker().clone());
                this.key = Some(key);
                if state.armed_until.is_none_or(|armed| this.at < armed) {
                    state.armed_until = Some(this.at);
                    drop(state);
                    this.deadlines.rearm.store(true, Ordering::Release);
                    this.deadlines.watchdog.wake();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.deadlines.lock().pending.remove(&key);
        }
    }
}
