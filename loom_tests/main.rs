//! Loom models of the crate's real synchronization code.
//!
//! Run with `cargo test --release --features loom --test loom`. Each model
//! states the property it checks in its doc comment.

#![cfg(feature = "loom")]

mod order;
mod ring;
mod wake;
