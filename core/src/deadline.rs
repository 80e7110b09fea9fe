//! Request deadlines without a timer per request, kept by a thread that runs no user work.
//!
//! Every client call has a timeout, but almost every call finishes long before it. Arming a
//! runtime timer per call costs a wake-up of the timer's thread on both backends (tokio unparks
//! the driver when the wheel was empty, async-io writes to its eventfd on every insert) — on a
//! virtual machine that alone is a large part of a round trip. Instead each call registers its
//! deadline here (a map insert under an uncontended lock, removed when the call ends), and one
//! watchdog thread per instance waits on a condition variable until the earliest deadline.
//! Calls with the same timeout register ever-later deadlines, so the watchdog is woken early
//! only when a call asks for an earlier one.
//!
//! # Why a thread of its own
//! The watchdog used to be a task on the general pool, sleeping on the backend's timer. A
//! request blocked in a system call (`recover_snapshot` reading a FIFO) occupies a pool thread;
//! on tokio the timer is driven only by a parked worker of that runtime, and a task woken
//! there can sit in the blocked worker's queue, so on an otherwise idle instance a 3 s
//! deadline fired after 25 s. A deadline must not depend on the pools having a free thread:
//! this thread only ever waits and wakes wakers, so it is always free.
//!
//! Once the instance is torn down the watchdog is gone; [`Deadlines::close`] wakes every
//! pending deadline, which from then on sleeps on the backend's timer directly.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::runtime::{mark_rro_thread, BoxFuture, Spawner};

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
    /// Wakes the watchdog when a deadline earlier than its alarm arrives, or at close.
    alarm: Condvar,
    spawner: Arc<dyn Spawner>,
}

impl Deadlines {
    /// Start the watchdog thread, named `thread_name`; join it after [`close`](Self::close).
    pub(crate) fn start(
        spawner: Arc<dyn Spawner>,
        thread_name: String,
    ) -> std::io::Result<(Arc<Self>, JoinHandle<()>)> {
        let deadlines = Arc::new(Deadlines {
            state: Mutex::default(),
            alarm: Condvar::new(),
            spawner,
        });
        let watched = deadlines.clone();
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                mark_rro_thread();
                watched.watch();
            })?;
        Ok((deadlines, thread))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A future that completes `duration` from now.
    pub(crate) fn after(self: &Arc<Self>, duration: Duration) -> Deadline {
        self.at(Instant::now() + duration)
    }

    /// A future that completes at `at`.
    pub(crate) fn at(self: &Arc<Self>, at: Instant) -> Deadline {
        Deadline {
            deadlines: self.clone(),
            at,
            key: None,
            fallback: None,
        }
    }

    /// The watchdog: fires due deadlines, then waits until the next one or an earlier one
    /// arrives. Returns at [`close`](Self::close).
    fn watch(&self) {
        let mut due = Vec::new();
        let mut state = self.lock();
        while !state.closed {
            let now = Instant::now();
            while let Some(entry) = state.pending.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            let next = state.pending.first_key_value().map(|((at, _), _)| *at);
            state.armed_until = next;
            if !due.is_empty() {
                // Woken outside the lock: a waker may run its executor's code.
                drop(state);
                due.drain(..).for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    self.alarm
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.alarm.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// The watchdog is gone for good: stop its thread and wake every pending deadline so it
    /// switches to a timer of its own.
    pub(crate) fn close(&self) {
        let pending = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        self.alarm.notify_all();
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
                // Polled again after the watchdog took it (a spurious wake-up of the caller's
                // executor raced the firing): register again.
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
                    this.deadlines.alarm.notify_one();
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
