//! A gate that lets a store reset happen between job commands, never
//! during one.
//!
//! With `--reset-on-sigusr1`, every job command that touches the store runs
//! holding the gate shared, and the reset holds it exclusively while it
//! empties the store. So while the store is being emptied no job command is
//! running, and each one sees the store wholly before or wholly after the
//! reset (`WAIT` and `HELP` do not touch the store and do not hold the gate,
//! so a long `WAIT` never delays a reset). Without the option no gate
//! exists and commands take no lock.

use crate::sync::{self, RwLock, RwLockReadGuard};

/// The command gate.
#[derive(Debug, Default)]
pub struct CommandGate {
    lock: RwLock<()>,
}

/// A command in progress; the gate is released when dropped.
#[derive(Debug)]
pub struct Entered<'a> {
    _guard: RwLockReadGuard<'a, ()>,
}

impl CommandGate {
    /// A job command begins; many may run at once.
    pub fn enter(&self) -> Entered<'_> {
        // The gate guards no data (`()`); a command that panicked left
        // nothing half done here.
        Entered {
            _guard: sync::read(&self.lock),
        }
    }

    /// Runs `reset` while no job command runs, waiting for those running to
    /// finish and holding new ones back until it returns.
    pub fn exclusively<R>(&self, reset: impl FnOnce() -> R) -> R {
        let _guard = sync::write(&self.lock);
        reset()
    }
}
