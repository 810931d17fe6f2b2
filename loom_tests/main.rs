//! Loom models of the crate's real synchronization code, compiled against
//! loom's types through `kvs::sync` (`cargo test --features loom`). Each
//! model states the property it checks in its doc comment. Every model sets
//! a preemption bound (or none, where the model is small enough to explore
//! fully) so that all of them finish within CI's budget; the environment's
//! `LOOM_MAX_PREEMPTIONS` overrides the bounds set through [`check`].

#![cfg(feature = "loom")]
// The models take their synchronization from `kvs::sync` or loom
// (`clippy.toml`); std's only where no model runs.
#![warn(clippy::disallowed_types)]

mod backup_limiter;
mod order;
mod reset_vs_write;
mod ring;
mod session_end;
mod store_atomic_read;
mod store_delete_absent_key;
mod store_helper_vs_record_retire;
mod store_iteration_vs_retire;
mod store_one_key_linked_ready;
mod store_overlapping_writers;
mod store_owner_after_its_version_retired;
mod store_pending_commit;
mod store_pre_link_cut_vs_retire;
mod store_racing_one_key_writers_prune;
mod store_record_retire_after_settle;
mod store_retire_vs_write;
mod store_several_key_owner_stopped;
mod store_snapshot_vs_prune;
mod store_stale_floor;
mod store_sweep_vs_write;
mod store_tidy_vs_retire;
mod store_tombstone_not_stranded;
mod store_two_pruners;
mod store_two_snapshots;
mod store_writer_aborts_linking;
mod store_writer_helps_pending;
mod subscribe_vs_delete;
mod wake;

use kvs::store::{KeySet, Store, WriteSet};
use kvs::token::{Token, Value};

/// Runs `f` under loom with at most `bound` preemptions (`None`: no bound),
/// unless the environment sets `LOOM_MAX_PREEMPTIONS`; prints how many
/// executions were explored (`--nocapture` shows it).
// std: the count of explored executions lives outside every model.
#[allow(clippy::disallowed_types)]
pub(crate) fn check(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = bound;
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&runs);
    builder.check(move || {
        // Relaxed: a statistic of the model run itself, outside any model.
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    // Relaxed: read after `check` returned; nothing is published through it.
    eprintln!(
        "explored {} executions",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// The smallest server the notification models need: one session, one
/// worker, rings of two notes, and no register FIFO (the models drive the
/// shared state directly), with or without `--reset-on-sigusr1`.
pub(crate) fn server_config(reset_store_on_sigusr1: bool) -> kvs::server::Config {
    kvs::server::Config {
        register_fifo: std::path::PathBuf::from("/nonexistent"),
        register_mode: 0o600,
        max_sessions: 1,
        workers: 1,
        ring_capacity: 2,
        connect_timeout: std::time::Duration::from_millis(1),
        max_subscriptions: 4,
        reset_store_on_sigusr1,
    }
}

/// A start line every model thread crosses first.
///
/// Loom's DPOR remembers only the last access to each object, so when one
/// thread's loads run first and another thread then loads and stores the
/// same atomics, the first thread's loads are forgotten and the schedules
/// in which the stores come first are never tried. One read-modify-write on
/// a shared counter at each thread's start makes the threads' first steps
/// conflict, so loom tries every starting order and backtracks from there.
/// Without it, model 1 explores a single execution (and passes with the
/// reader's clock load weakened to Relaxed); with it, 275. A workaround for
/// this pattern at the threads' start, not a proof that loom's exploration
/// is complete. (Relaxed: it orders nothing the properties rely on.)
pub(crate) struct StartLine(kvs::sync::AtomicUsize);

impl StartLine {
    pub(crate) fn new() -> kvs::sync::Arc<Self> {
        kvs::sync::Arc::new(Self(kvs::sync::AtomicUsize::new(0)))
    }

    pub(crate) fn cross(&self) {
        // Relaxed: see the type's docs; this creates no ordering.
        self.0.fetch_add(1, kvs::sync::Ordering::Relaxed);
    }
}

/// Spawns a model thread that crosses `start` first and then runs `body`.
pub(crate) fn spawn_at_start<R: Send + 'static>(
    start: &kvs::sync::Arc<StartLine>,
    body: impl FnOnce() -> R + Send + 'static,
) -> kvs::sync::thread::JoinHandle<R> {
    let start = kvs::sync::Arc::clone(start);
    kvs::sync::thread::spawn(move || {
        start.cross();
        body()
    })
}

/// Spawns a model thread that crosses `start` and then writes `pairs` to
/// `store` in one command, returning the write's timestamp.
pub(crate) fn spawn_writer(
    store: &kvs::sync::Arc<kvs::store::lockfree::LockFreeStore>,
    start: &kvs::sync::Arc<StartLine>,
    pairs: &'static [(&'static str, &'static str)],
) -> kvs::sync::thread::JoinHandle<u64> {
    let store = kvs::sync::Arc::clone(store);
    spawn_at_start(start, move || write(&*store, pairs))
}

/// A gate one model thread waits at until another opens it.
pub(crate) struct Gate(kvs::sync::AtomicBool);

impl Gate {
    pub(crate) fn new() -> kvs::sync::Arc<Self> {
        kvs::sync::Arc::new(Self(kvs::sync::AtomicBool::new(false)))
    }

    /// Lets the waiting thread go on.
    pub(crate) fn open(&self) {
        // Release: pairs with the Acquire of `wait`, so the waiter sees
        // everything done before the gate opened.
        self.0.store(true, kvs::sync::Ordering::Release);
    }

    fn wait(&self) {
        // Acquire: pairs with the Release of `open`.
        while !self.0.load(kvs::sync::Ordering::Acquire) {
            kvs::sync::thread::yield_now();
        }
    }
}

/// Spawns a model thread that crosses `start`, writes `pairs` in one
/// command and stops right after linking its first version until `gate`
/// opens; returns the write's timestamp.
pub(crate) fn spawn_stopped_after_first_link(
    store: &kvs::sync::Arc<kvs::store::lockfree::LockFreeStore>,
    start: &kvs::sync::Arc<StartLine>,
    pairs: &'static [(&'static str, &'static str)],
    gate: &kvs::sync::Arc<Gate>,
) -> kvs::sync::thread::JoinHandle<u64> {
    let (store, gate) = (kvs::sync::Arc::clone(store), kvs::sync::Arc::clone(gate));
    spawn_at_start(start, move || {
        let batch = WriteSet::from_pairs(pairs.iter().map(|(k, v)| (t(k), t(v))));
        store.write_pausing_after_first_link(&batch, || gate.wait())
    })
}

/// A store that frees retired memory as early as crossbeam-epoch could
/// (`with_eager_reclamation`, one snapshot seat), holding `a=1 (ts 2) →
/// a=0 (ts 1)`.
pub(crate) fn store_with_a_written_twice() -> kvs::sync::Arc<kvs::store::lockfree::LockFreeStore> {
    let store = kvs::sync::Arc::new(kvs::store::lockfree::LockFreeStore::with_eager_reclamation(
        1,
    ));
    write(&*store, &[("a", "0")]);
    write(&*store, &[("a", "1")]);
    store
}

pub(crate) fn t(s: &str) -> Token {
    Token::try_from(s).expect("model tokens are valid")
}

pub(crate) fn write(store: &dyn Store, pairs: &[(&str, &str)]) -> u64 {
    store.write(&WriteSet::from_pairs(
        pairs.iter().map(|(k, v)| (t(k), t(v))),
    ))
}

pub(crate) fn read(store: &dyn Store, keys: &[&str]) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    store.read(&KeySet::from_keys(keys.iter().map(|k| t(k))), &mut out);
    out
}
