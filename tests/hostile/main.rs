//! Hostile callers and hostile timing, on every backend: input built to break the engine (deep
//! nesting in JSON and in Rust, huge limits, non-finite and overflowing vectors, names that try
//! to leave the data directory, crafted snapshot archives) and deadlines that must be kept
//! (a blocked request on an idle instance, shutdown under load, reopen right after).
//!
//! Where the failure being guarded against is a process abort (a stack overflow), the case runs
//! in a child process so the abort is observed instead of taking the test runner down.

#[path = "../common/mod.rs"]
mod common;

mod deadlines;
mod inputs;
