//! Deadlines kept under hostile timing: see the module docs of `main.rs`.
