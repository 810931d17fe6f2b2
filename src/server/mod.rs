//! The notification server: job processing plus clients over named pipes.
//!
//! ```text
//! register FIFO -> host thread -> bounded queue -> S session managers
//!                                                      | subscribe / unsubscribe
//!                                                      v
//! job workers --Commit--> notify::WorkerPort ----> notify::Hub (store, subscriptions, slots)
//!                                  | rings, merged in commit order
//!                                  v
//!                       pipe writer per slot -> notification FIFO
//! ```
//!
//! How a commit reaches a client's pipe is [`crate::notify`]'s; this module
//! serves the pipes and the process around it:
//!
//! * [`crate::protocol`]: the pipe messages, byte for byte, and their bounded I/O.
//! * [`fifo`]: creating and safely opening FIFOs.
//! * [`host`]: reads connect requests from the register FIFO.
//! * [`instance`]: one server per register path.
//! * [`session`]: serves one client from connect to disconnect.
//! * [`signals`]: SIGINT, SIGTERM, SIGHUP and SIGUSR1, handled by one thread.
//! * [`wire`]: the notification pipe's wire format, for the pipe writers
//!   (the server's and, through `kvs-bench`, the bench's).

// std: the FIFO claims table is a std mutex that no loom model reaches.
#[allow(clippy::disallowed_types)]
pub mod fifo;
pub mod host;
pub mod instance;
pub mod session;
pub mod signals;
pub mod wire;

use crate::job::{CommandGate, JobContext, RunSummary};
use crate::notify::subscriptions::{Subscribed, Subscriber};
use crate::notify::{self, Hub, Layout, NoteMerger, WorkerPort};
use crate::store::Store;
use crate::sync::{self, AtomicU64, Mutex};
use crate::token::Key;
use host::QueuedConnect;
use std::io;
use std::path::PathBuf;
// std: the shutdown flag is shared with the job workers (see `Shared`).
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

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

impl Config {
    /// The notification path these settings ask for.
    pub fn layout(&self) -> Layout {
        Layout {
            sessions: self.max_sessions,
            workers: self.workers,
            ring_capacity: self.ring_capacity,
            max_subscriptions: self.max_subscriptions,
        }
    }
}

/// What the server's threads share.
#[derive(Debug)]
// std: `shutdown` is a stop request that publishes nothing (the pipe
// writers load it Acquire for the bench's sake, see `writer::run`), and it
// is the job workers' stop flag too, which batch mode owns as std's.
#[allow(clippy::disallowed_types)]
pub struct Shared {
    /// The settings.
    pub config: Config,
    /// The notification path's shared state: the store, the subscriptions
    /// and the session slots.
    pub hub: Arc<Hub>,
    /// The register FIFO and every live session's pipes, which no connect
    /// may name.
    pub pipes: fifo::PipesInUse,
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

    /// Starts a graceful shutdown: the jobs stop at their next command
    /// boundary, the host takes no more connects, and each pipe writer
    /// delivers what its rings hold and marks its slot done, which ends the
    /// slot's session (see `session::should_stop`).
    pub fn shut_down(&self) {
        // Relaxed: see `is_shutting_down`. Stored before the doorbells
        // ring, whose fences order it before each writer's re-check in
        // `park_unless` or make the ring wake the park.
        self.shutdown.store(true, Ordering::Relaxed);
        self.hub.wake_every_writer();
    }

    /// The shutdown flag, for the job workers to stop at.
    #[allow(clippy::disallowed_types)] // std: see `Shared`.
    pub fn shutdown_flag(&self) -> &AtomicBool {
        &self.shutdown
    }

    /// SIGUSR1 with `--reset-on-sigusr1`: empties the store and then ends
    /// every session, both while no job command runs (`gate`). Emptying
    /// first means every session that could have subscribed to a key the
    /// reset deleted without a `DELETED` is one the reset ends; ending them
    /// before commands resume means no commit after the reset reaches a
    /// subscription made before it (`loom_tests/reset_vs_write.rs`).
    pub fn reset_store_and_sessions(&self, gate: &CommandGate) {
        let ts = gate.exclusively(|| {
            let ts = self.hub.store().clear();
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
        self.hub.end_every_session();
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
    pub fn subscribe(&self, slot: usize, generation: u64, key: Key) -> bool {
        let subscriber = Subscriber { slot, generation };
        matches!(
            self.hub.subscribe(key, subscriber),
            Some(Subscribed::Made | Subscribed::Already)
        )
    }

    /// A client's unsubscribe request: false if `slot` was not subscribed
    /// to `key`.
    pub fn unsubscribe(&self, key: &Key, slot: usize) -> bool {
        self.hub.unsubscribe(key, slot)
    }

    /// The next connect request, waiting for one; `None` at shutdown.
    pub fn next_connect(&self) -> Option<QueuedConnect> {
        while !self.is_shutting_down() {
            let queue = self.lock_connects();
            match queue.recv_timeout(fifo::POLL_INTERVAL) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }

    /// The sessions' end of the connect queue.
    pub(crate) fn lock_connects(&self) -> sync::MutexGuard<'_, Receiver<QueuedConnect>> {
        // A receiver is sound whatever a panicking holder was doing.
        sync::lock(&self.connects)
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
    pub mergers: Vec<NoteMerger>,
    /// The host's end of the connect queue.
    pub queue: SyncSender<QueuedConnect>,
}

/// Builds the notification path, the shared state and the connect queue.
#[allow(clippy::disallowed_types)] // std: see `Shared`.
pub fn build(config: Config, store: Arc<dyn Store>) -> Parts {
    let notify::Wiring {
        hub,
        ports,
        mergers,
    } = notify::build(store, config.layout());
    let (queue, connects) = std::sync::mpsc::sync_channel(hub.slots().len());
    let shared = Arc::new(Shared {
        config,
        hub,
        pipes: fifo::PipesInUse::default(),
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
/// job commands running (a `BACKUP` may wait long for a running backup to end),
/// and the signal thread must stay free meanwhile to handle SIGTERM.
fn reset_in_background(shared: Arc<Shared>, gate: Arc<CommandGate>) {
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
) -> io::Result<RunSummary> {
    config
        .layout()
        .check_ring_memory()
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let _claim = instance::claim(&config.register_fifo).map_err(io::Error::other)?;
    let mut register = fifo::RegisterFifo::create(&config.register_fifo, config.register_mode)
        .map_err(io::Error::other)?;
    let parts = build(config, store);
    let shared = Arc::clone(&parts.shared);
    shared.pipes.set_register(register.id());
    let gate = Arc::new(CommandGate::default());
    handle_signals(&shared, &gate, signals)?;
    let reset_gate = shared.config.reset_store_on_sigusr1.then_some(&*gate);
    let (summary, host) = std::thread::scope(|scope| {
        let (ports, host) = spawn_service(scope, parts, register.reader());
        let context = JobContext {
            store: shared.hub.store().as_ref(),
            backups,
            stop: shared.shutdown_flag(),
            gate: reset_gate,
        };
        let summary = crate::job::run_jobs_through(jobs, ports, &context);
        backups.wait_idle();
        (summary, serve_until_shutdown(&shared, host))
    });
    session::refuse_queued(&shared);
    drop(register);
    match host {
        Ok(Ok(())) => Ok(summary),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(io::Error::other("the host thread panicked")),
    }
}

/// Starts the signal thread: SIGUSR1 resets the sessions (and, with
/// `--reset-on-sigusr1`, the store, between job commands at `gate`); the
/// others shut the server down.
fn handle_signals(
    shared: &Arc<Shared>,
    gate: &Arc<CommandGate>,
    signals: nix::sys::signal::SigSet,
) -> io::Result<()> {
    let reset_store = shared.config.reset_store_on_sigusr1;
    let (shared, gate) = (Arc::clone(shared), Arc::clone(gate));
    signals::spawn(signals, move |request| match request {
        signals::Request::ResetSessions if reset_store => {
            reset_in_background(Arc::clone(&shared), Arc::clone(&gate))
        }
        signals::Request::ResetSessions => shared.reset_sessions(),
        signals::Request::Shutdown => shared.shut_down(),
    })
    .map(drop)
}

/// Starts a pipe writer and a session manager per slot and the host thread
/// in `scope`; gives back the workers' ports and the host's handle.
fn spawn_service<'scope>(
    scope: &'scope Scope<'scope, '_>,
    parts: Parts,
    register: &'scope mut std::fs::File,
) -> (Vec<WorkerPort>, ScopedJoinHandle<'scope, io::Result<()>>) {
    let Parts {
        shared,
        ports,
        mergers,
        queue,
    } = parts;
    let limit = shared.config.layout().held_limit();
    for (slot, merger) in mergers.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        scope.spawn(move || {
            let slot = &shared.hub.slots()[slot];
            notify::writer::run::<wire::PipeWire>(slot, merger, limit, shared.shutdown_flag());
        });
    }
    for slot in 0..shared.hub.slots().len() {
        let shared = Arc::clone(&shared);
        scope.spawn(move || session::run(slot, &shared));
    }
    let host = scope.spawn(move || host::run(register, queue, &shared));
    (ports, host)
}

/// Serves clients once the jobs are done, until a shutdown (or until the
/// host stops on its own, which also shuts down); returns how the host
/// ended.
fn serve_until_shutdown(
    shared: &Shared,
    host: ScopedJoinHandle<'_, io::Result<()>>,
) -> std::thread::Result<io::Result<()>> {
    while !shared.is_shutting_down() && !host.is_finished() {
        std::thread::park_timeout(fifo::POLL_INTERVAL);
    }
    if host.is_finished() && !shared.is_shutting_down() {
        // The host can only stop early on an I/O error on the register
        // FIFO; without it no client can connect, so stop serving.
        shared.shut_down();
    }
    host.join()
}
