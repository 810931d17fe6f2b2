//! The notification server: job processing plus clients over named pipes.
//!
//! ```text
//! register FIFO -> host thread -> bounded queue -> S session managers
//!                                                      | subscribe / unsubscribe
//! job workers --commit--> Store                         v
//!      |  push (ts, note), wait-free            Subscriptions (flurry)
//!      v
//! SPSC ring per (worker, slot) -> pipe writer per slot (merge by ts) -> notification FIFO
//! ```
//!
//! * [`protocol`]: the pipe messages, byte for byte.
//! * [`fifo`]: creating and safely opening FIFOs; bounded waits on them.
//! * [`host`]: reads connect requests from the register FIFO.
//! * [`instance`]: one server per register path.
//! * [`key_locks`]: make a key's subscribes and its commits exclude each other.
//! * [`session`]: serves one client from connect to disconnect.
//! * [`subscriptions`]: who is subscribed to which key.
//! * [`slots`]: session slots and their generations.
//! * [`notify`]: the workers' side: commit, then push to subscribers' rings.
//! * [`order`]: merges a slot's rings into commit order (watermarks).
//! * [`writer`]: a slot's pipe writer.
//! * [`signals`]: SIGINT, SIGTERM, SIGHUP and SIGUSR1, handled by one thread.
//! * [`wake`]: lets a slot's idle pipe writer sleep, woken by workers
//!   without a system call in the common case.

pub mod fifo;
pub mod host;
pub mod instance;
pub mod key_locks;
pub mod notify;
pub mod order;
pub mod protocol;
pub mod session;
pub mod signals;
pub mod slots;
pub mod subscriptions;
pub mod wake;
pub mod writer;

use crate::store::Store;
use host::QueuedConnect;
use notify::{Entry, Fanout, StoreClock, WorkerPort};
use order::{Merger, Watermarks};
use slots::Slot;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subscriptions::Subscriptions;

/// Server-mode settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The register FIFO to create.
    pub register_fifo: PathBuf,
    /// Its permission bits.
    pub register_mode: u32,
    /// Sessions served at once.
    pub max_sessions: usize,
    /// Job workers (one notification ring per worker and session slot).
    pub workers: usize,
    /// Notifications each (worker, slot) ring holds before the client counts
    /// as not reading.
    pub ring_capacity: usize,
    /// How long a connecting client has to open its three FIFOs.
    pub connect_timeout: Duration,
    /// Subscriptions one session may hold; a subscribe beyond them fails.
    pub max_subscriptions: usize,
    /// SIGUSR1 also empties the store (between job commands).
    pub reset_store_on_sigusr1: bool,
}

/// What the server's threads share.
#[derive(Debug)]
pub struct Shared {
    /// The settings.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Who is subscribed to what.
    pub subscriptions: Arc<Subscriptions>,
    /// The session slots.
    pub slots: Arc<[Slot]>,
    /// The register FIFO and every live session's pipes, which no connect
    /// may name.
    pub pipes: fifo::PipesInUse,
    /// What the workers' commits notify through.
    pub fanout: Arc<Fanout>,
    shutdown: AtomicBool,
    /// How many SIGUSR1 resets have happened.
    resets: AtomicU64,
    connects: Mutex<Receiver<QueuedConnect>>,
}

impl Shared {
    /// Whether the server is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        // Relaxed: a stop request carries no data; the threads it stops are
        // joined before anything they wrote is read.
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Starts a graceful shutdown.
    pub fn shut_down(&self) {
        // Relaxed: see `is_shutting_down`.
        self.shutdown.store(true, Ordering::Relaxed);
        for slot in self.slots.iter() {
            slot.wake_writer();
        }
    }

    /// The shutdown flag, for the job workers to stop at.
    pub fn shutdown_flag(&self) -> &AtomicBool {
        &self.shutdown
    }

    /// SIGUSR1 with `--reset-on-sigusr1`: empties the store and then ends
    /// every session, both while no job command runs (`gate`). Emptying
    /// first means every session that could have subscribed to a key the
    /// reset deleted without a `DELETED` is one the reset ends; ending them
    /// before commands resume means no commit after the reset reaches a
    /// subscription made before it (`loom_tests/reset_vs_write.rs`).
    pub fn reset_store_and_sessions(&self, gate: &crate::job::CommandGate) {
        let ts = gate.exclusively(|| {
            let ts = self.store.clear();
            self.reset_sessions();
            ts
        });
        tracing::info!(?ts, "store emptied");
    }

    /// SIGUSR1: ends every session (their clients see their pipes close and
    /// exit); slots are free again at once.
    pub fn reset_sessions(&self) {
        // Relaxed: a count with no data behind it; sessions still opening
        // their pipes, and queued connects, poll it and give up.
        self.resets.fetch_add(1, Ordering::Relaxed);
        self.subscriptions.clear();
        for slot in self.slots.iter() {
            slot.end_current();
        }
    }

    /// How many SIGUSR1 resets have happened.
    pub fn resets(&self) -> u64 {
        // Relaxed: see `reset_sessions`.
        self.resets.load(Ordering::Relaxed)
    }

    /// A client's subscribe request: subscribes the session `generation` in
    /// `slot` to `key` if the key exists and the session holds fewer than
    /// `--max-subscriptions`; returns whether it is subscribed (the answer
    /// the client gets).
    pub fn subscribe(&self, slot: usize, generation: u64, key: crate::token::Key) -> bool {
        let subscriber = subscriptions::Subscriber { slot, generation };
        matches!(
            self.fanout.subscribe(key, subscriber),
            Some(subscriptions::Subscribed::Made | subscriptions::Subscribed::Already)
        )
    }

    /// A client's unsubscribe request: false if `slot` was not subscribed
    /// to `key`.
    pub fn unsubscribe(&self, key: &crate::token::Key, slot: usize) -> bool {
        self.fanout.unsubscribe(key, slot)
    }

    /// The next connect request, waiting for one; `None` at shutdown.
    pub fn next_connect(&self) -> Option<QueuedConnect> {
        while !self.is_shutting_down() {
            let queue = self.connects.lock().unwrap_or_else(|p| p.into_inner());
            match queue.recv_timeout(fifo::POLL_INTERVAL) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }
}

/// The parts of a server built before its threads start.
#[derive(Debug)]
pub struct Parts {
    /// What the threads share.
    pub shared: Arc<Shared>,
    /// One port per job worker.
    pub ports: Vec<WorkerPort>,
    /// One merger per slot, for its pipe writer.
    pub mergers: Vec<Merger<notify::Note, StoreClock>>,
    /// The host's end of the connect queue.
    pub queue: std::sync::mpsc::SyncSender<QueuedConnect>,
}

/// Builds the shared state, the rings (one per worker and slot) and the
/// connect queue.
pub fn build(config: Config, store: Arc<dyn Store>) -> Parts {
    let sessions = config.max_sessions.max(1);
    let workers = config.workers.max(1);
    let subscriptions = Arc::new(Subscriptions::new(sessions, config.max_subscriptions));
    let slots: Arc<[Slot]> = (0..sessions).map(|_| Slot::default()).collect();
    let (marks, gates) = Watermarks::new(workers);
    let mut producers: Vec<Vec<_>> = (0..workers).map(|_| Vec::with_capacity(sessions)).collect();
    let mut consumers: Vec<Vec<_>> = (0..sessions).map(|_| Vec::with_capacity(workers)).collect();
    for worker_rings in &mut producers {
        for slot_rings in &mut consumers {
            let (producer, consumer) = crate::ring::channel::<Entry>(config.ring_capacity);
            worker_rings.push(producer);
            slot_rings.push(consumer);
        }
    }
    let fanout = Arc::new(Fanout {
        store: Arc::clone(&store),
        subscriptions: Arc::clone(&subscriptions),
        slots: Arc::clone(&slots),
        locks: key_locks::KeyLocks::default(),
    });
    let ports = gates
        .into_iter()
        .zip(producers)
        .map(|(gate, rings)| WorkerPort::new(Arc::clone(&fanout), gate, rings))
        .collect();
    let mergers = consumers
        .into_iter()
        .map(|rings| {
            Merger::new(
                crate::sync::Arc::clone(&marks),
                StoreClock(Arc::clone(&store)),
                rings,
            )
        })
        .collect();
    let (queue, connects) = std::sync::mpsc::sync_channel(sessions);
    let shared = Arc::new(Shared {
        config,
        store,
        subscriptions,
        slots,
        pipes: fifo::PipesInUse::default(),
        fanout: Arc::clone(&fanout),
        shutdown: AtomicBool::new(false),
        resets: AtomicU64::new(0),
        connects: Mutex::new(connects),
    });
    Parts {
        shared,
        ports,
        mergers,
        queue,
    }
}

/// Runs the SIGUSR1 store reset on a thread of its own: it waits for the
/// job commands running (a `BACKUP` may wait long for a free backup slot),
/// and the signal thread must stay free meanwhile to handle SIGTERM.
fn reset_in_background(shared: Arc<Shared>, gate: Arc<crate::job::CommandGate>) {
    let spawned = std::thread::Builder::new()
        .name("reset".into())
        .spawn(move || shared.reset_store_and_sessions(&gate));
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the store reset");
    }
}

/// Runs the server: creates the register FIFO, serves clients while the
/// jobs run and afterwards, until SIGINT, SIGTERM or SIGHUP; then lets the jobs stop
/// at a command boundary, waits for running backups, closes every pipe,
/// removes the register FIFO, and returns how the jobs went.
pub fn run(
    config: Config,
    store: Arc<dyn Store>,
    jobs: &[PathBuf],
    backups: &crate::backup::Backups,
    signals: nix::sys::signal::SigSet,
) -> std::io::Result<crate::job::RunSummary> {
    let _claim = instance::claim(&config.register_fifo).map_err(std::io::Error::other)?;
    let mut register = fifo::RegisterFifo::create(&config.register_fifo, config.register_mode)
        .map_err(std::io::Error::other)?;
    let workers = config.workers;
    let Parts {
        shared,
        ports,
        mergers,
        queue,
    } = build(config, store);
    shared.pipes.set_register(register.id());
    let gate = Arc::new(crate::job::CommandGate::default());
    let reset_store = shared.config.reset_store_on_sigusr1;
    let on_signal = {
        let (shared, gate) = (Arc::clone(&shared), Arc::clone(&gate));
        move |request| match request {
            signals::Request::ResetSessions if reset_store => {
                reset_in_background(Arc::clone(&shared), Arc::clone(&gate))
            }
            signals::Request::ResetSessions => shared.reset_sessions(),
            signals::Request::Shutdown => shared.shut_down(),
        }
    };
    signals::spawn(signals, on_signal)?;
    let summary = std::thread::scope(|scope| {
        for (slot, merger) in shared.slots.iter().zip(mergers) {
            let shutdown = shared.shutdown_flag();
            let limit = writer::held_limit(shared.config.ring_capacity, workers);
            scope.spawn(move || writer::run(slot, merger, limit, shutdown));
        }
        for slot in 0..shared.slots.len() {
            let shared = &shared;
            scope.spawn(move || session::run(slot, shared));
        }
        let host = {
            let shared = &shared;
            let reader = register.reader();
            scope.spawn(move || host::run(reader, queue, shared))
        };
        let context = crate::job::JobContext {
            store: shared.store.as_ref(),
            backups,
            stop: shared.shutdown_flag(),
            gate: reset_store.then_some(&*gate),
        };
        let summary = crate::job::run_jobs_through(jobs, ports, &context);
        backups.wait_idle();
        while !shared.is_shutting_down() && !host.is_finished() {
            std::thread::park_timeout(fifo::POLL_INTERVAL);
        }
        if host.is_finished() && !shared.is_shutting_down() {
            // The host can only stop early on an I/O error on the register
            // FIFO; without it no client can connect, so stop serving.
            shared.shut_down();
        }
        let host_result = host.join();
        (summary, host_result)
    });
    session::refuse_queued(&shared);
    drop(register);
    match summary {
        (summary, Ok(Ok(()))) => Ok(summary),
        (_, Ok(Err(error))) => Err(error),
        (_, Err(_)) => Err(std::io::Error::other("the host thread panicked")),
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::store::{Commit, Engine, KeySet, WriteSet};
    use crate::token::Token;
    use subscriptions::Subscriber;

    fn t(s: &str) -> Token {
        Token::try_from(s).unwrap()
    }

    fn config(workers: usize) -> Config {
        Config {
            register_fifo: PathBuf::from("/nonexistent"),
            register_mode: 0o600,
            max_sessions: 2,
            workers,
            ring_capacity: 4,
            connect_timeout: Duration::from_millis(10),
            max_subscriptions: 1000,
            reset_store_on_sigusr1: false,
        }
    }

    #[test]
    fn commits_reach_subscribers_in_order_and_deletes_end_subscriptions() {
        for engine in Engine::ALL {
            let Parts {
                shared,
                mut ports,
                mut mergers,
                ..
            } = build(config(2), engine.open());
            let subscriber = Subscriber {
                slot: 1,
                generation: 1,
            };
            shared.subscriptions.subscribe(t("a"), subscriber);
            shared.subscriptions.subscribe(t("b"), subscriber);
            let (first, second) = ports.split_at_mut(1);
            first[0].write(&WriteSet::from_pairs([(t("a"), t("1")), (t("c"), t("x"))]));
            second[0].write(&WriteSet::from_pairs([(t("b"), t("2")), (t("a"), t("3"))]));
            first[0].delete(&KeySet::from_keys([t("a"), t("zz")]));
            second[0].write(&WriteSet::from_pairs([(t("a"), t("4"))]));
            let mut out = Vec::new();
            mergers[1].collect_ready(&mut out);
            let seen: Vec<(String, Option<String>)> = out
                .iter()
                .map(|note| (note.key.to_string(), note.value.map(|v| v.to_string())))
                .collect();
            let expected = [
                ("a", Some("1")),
                ("a", Some("3")),
                ("b", Some("2")),
                ("a", None),
            ];
            let expected: Vec<(String, Option<String>)> = expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect();
            assert_eq!(seen, expected, "{engine}");
            let mut other = Vec::new();
            mergers[0].collect_ready(&mut other);
            assert!(other.is_empty());
        }
    }

    /// Two workers commit writes of shared keys while the slot's merger
    /// drains concurrently: the notes leave in the order of the timestamps
    /// the commits returned, and none is lost.
    #[test]
    fn concurrent_commits_leave_the_merge_in_timestamp_order() {
        const COMMITS: usize = 20_000;
        for engine in Engine::ALL {
            let mut cfg = config(2);
            cfg.ring_capacity = 1 << 16;
            let Parts {
                shared,
                ports,
                mut mergers,
                ..
            } = build(cfg, engine.open());
            for key in ["a", "b", "c"] {
                shared.subscriptions.subscribe(
                    t(key),
                    Subscriber {
                        slot: 0,
                        generation: 1,
                    },
                );
            }
            let done = AtomicBool::new(false);
            let (stamps, emitted) = std::thread::scope(|scope| {
                let workers: Vec<_> = ports
                    .into_iter()
                    .enumerate()
                    .map(|(w, mut port)| {
                        scope.spawn(move || {
                            let keys = [t("a"), t("b"), t("c")];
                            (0..COMMITS)
                                .map(|i| {
                                    let value = t(&format!("{w}-{i}"));
                                    let key = keys[(i + w) % 3];
                                    (value, port.write(&WriteSet::from_pairs([(key, value)])))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let merger = &mut mergers[0];
                let done = &done;
                let drain = scope.spawn(move || {
                    let mut out = Vec::new();
                    // Relaxed: the last round below runs after the join.
                    while !done.load(Ordering::Relaxed) {
                        merger.collect_ready(&mut out);
                    }
                    merger.collect_ready(&mut out);
                    out
                });
                let stamps: std::collections::HashMap<_, _> = workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap())
                    .collect();
                // Relaxed: pairs with the drain's Relaxed load; the drain's
                // last round after the join is what must see everything.
                done.store(true, Ordering::Relaxed);
                (stamps, drain.join().unwrap())
            });
            assert_eq!(emitted.len(), 2 * COMMITS, "{engine}: notes lost");
            let order: Vec<_> = emitted
                .iter()
                .map(|note| stamps[&note.value.unwrap()])
                .collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "{engine}: out of commit order"
            );
        }
    }
}
