//! Loom models of the crate's real synchronization code, compiled against
//! loom's types through `kvs::sync`. Each model states the property it checks
//! in its doc comment. Run with `cargo test --features loom`.

#![cfg(feature = "loom")]

mod backup_limiter;
mod order;
mod ring;
mod wake;
