//! Loom models of the crate's synchronization. Each runs the real code,
//! compiled against loom's types through `kvs::sync`, and states the property
//! it checks. Run with `cargo test --features loom --release`.

#![cfg(feature = "loom")]

mod backup_limiter;
