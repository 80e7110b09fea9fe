//! Hostile input: see the module docs of `main.rs`.
