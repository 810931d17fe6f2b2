//! Property tests: the engines against a sequential model, and the job
//! language's parser and executor on random and malformed input.

#![cfg(not(feature = "loom"))]

mod boundaries;
mod jobs;
mod store_model;
mod strategies;
