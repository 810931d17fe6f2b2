//! Loom models of the crate's synchronization (`cargo test --features loom`).

#![cfg(feature = "loom")]
