//! Who may write to the data directory, and when the instance lets go of it.
//!
//! Shutdown has a deadline, but a request can be stuck past it (CPU work that does not check
//! for cancellation, a system call that does not return). Such a request holds the storage by
//! `Arc`, so the directory lock cannot wait for the last `Arc` to go: a caller who reopens the
//! directory right after `shutdown()` returned would get `AlreadyOpen` until the stuck request
//! ends. Instead the instance releases the lock itself at teardown. That is only safe if
//! nothing of the old instance writes to the directory afterwards, which this gate ensures:
//!
//! - Every piece of work that may write (write requests, the final flush, the background
//!   flusher, the optimizer's seal and commit) runs inside a [`WriteGuard`].
//! - [`StorageGate::close`] refuses new guards, waits for the guards in use until a deadline,
//!   and releases the lock once none is left — at once if none is, or later, when the last
//!   stuck writer ends. Until then the lock stays held and a new instance gets `AlreadyOpen`,
//!   which is safe; a writer that wakes later never finds another instance's files there.
//! - Readers (searches, counts, scrolls, gets) never write, so they may outlive the lock.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::storage::TableOfContent;

#[derive(Debug, Default)]
struct GateState {
    writers: usize,
    closed: bool,
    released: bool,
}

/// The write gate of one instance's storage; see the module docs.
pub(crate) struct StorageGate {
    state: Mutex<GateState>,
    /// Signalled when the last writer leaves a closed gate.
    drained: Condvar,
    toc: Arc<TableOfContent>,
}

impl StorageGate {
    pub(crate) fn new(toc: Arc<TableOfContent>) -> Arc<Self> {
        Arc::new(StorageGate {
            state: Mutex::default(),
            drained: Condvar::new(),
            toc,
        })
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Permission to write until the guard is dropped; `None` once the gate is closed.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<WriteGuard> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.writers += 1;
        Some(WriteGuard(self.clone()))
    }

    /// Refuse new writers, wait for those inside until `deadline`, and release the directory
    /// lock if none is left. Returns how many writers are still inside; the lock is then
    /// released when the last of them leaves.
    pub(crate) fn close(&self, deadline: Instant) -> usize {
        let mut state = self.lock();
        state.closed = true;
        while state.writers > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return state.writers;
            }
            state = self
                .drained
                .wait_timeout(state, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        self.release(&mut state);
        0
    }

    fn release(&self, state: &mut GateState) {
        if !state.released {
            state.released = true;
            self.toc.release_dir_lock();
        }
    }
}

/// A writer inside the [`StorageGate`].
pub(crate) struct WriteGuard(Arc<StorageGate>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let gate = &self.0;
        let mut state = gate.lock();
        state.writers -= 1;
        if state.closed && state.writers == 0 {
            gate.release(&mut state);
            gate.drained.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn persistent(dir: &std::path::Path) -> Arc<TableOfContent> {
        let config = crate::Config::in_memory().data_path(dir);
        Arc::new(TableOfContent::open(&config).expect("opens"))
    }

    #[test]
    fn closing_an_idle_gate_releases_the_directory_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gate = StorageGate::new(persistent(dir.path()));
        assert!(TableOfContent::open(&crate::Config::in_memory().data_path(dir.path())).is_err());
        assert_eq!(gate.close(Instant::now()), 0);
        assert!(gate.enter().is_none(), "a closed gate lets nobody in");
        // The old table of content is still alive (held by `gate`), the lock is not.
        TableOfContent::open(&crate::Config::in_memory().data_path(dir.path()))
            .expect("the directory can be reopened");
    }

    #[test]
    fn a_writer_inside_keeps_the_lock_until_it_leaves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gate = StorageGate::new(persistent(dir.path()));
        let writer = gate.enter().expect("open gate");
        let reopen = || TableOfContent::open(&crate::Config::in_memory().data_path(dir.path()));
        assert_eq!(gate.close(Instant::now() + Duration::from_millis(20)), 1);
        assert!(
            matches!(
                reopen(),
                Err(crate::error::StorageError::AlreadyOpen { .. })
            ),
            "still locked while a writer is inside"
        );
        drop(writer);
        reopen().expect("released when the last writer left");
    }
}
