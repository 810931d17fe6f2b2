//! The notification server.
//!
//! * [`order`]: merges the notification rings of several workers into commit
//!   order for one client, using per-worker watermarks.

pub mod order;
