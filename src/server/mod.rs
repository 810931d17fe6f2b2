//! The notification server.
//!
//! * [`order`]: merges the notification rings of several workers into commit
//!   order for one client, using per-worker watermarks.
//! * [`wake`]: lets a client's idle pipe writer sleep, woken by workers
//!   without a system call in the common case.

pub mod order;
pub mod wake;
