//! `--notify N`: the server's notification path under load, end to end.
//!
//! The rig builds the server's real notification path ([`notify::build`])
//! with one worker port per load thread and `N` session slots. Each slot
//! gets a session whose notification pipe is a real FIFO (made in a
//! temporary directory), is subscribed to every key, and is served by the
//! server's pipe writer ([`writer::run`]) speaking the [`Wire`] the caller
//! names. That wire must put notes on the pipe in the protocol's format:
//! on the far end of each FIFO a reader thread plays the client, decodes
//! every 82-byte notification ([`decode_notification`]) and records how
//! long ago its value's send time was (commit to delivery; see
//! [`workload::stamped_value`]). `kvs-bench` names the server's own wire,
//! so the rig measures the path clients get; the bench itself stays below
//! the server (README, layout).

use super::latency::Latencies;
use super::workload;
use crate::notify::subscriptions::Subscriber;
use crate::notify::writer::{self, Wire};
use crate::notify::{self, Hub, Layout, WorkerPort};
use crate::protocol::pipe::wait_ready;
use crate::protocol::{decode_notification, NOTIFICATION_LEN};
use crate::store::Store;
use crate::token::Token;
use anyhow::Context;
use nix::sys::stat::Mode;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long one reader waits in `poll` before looking at its stop flag.
const READ_POLL: Duration = Duration::from_millis(10);
/// After the load stops, how long delivery may stall before the rig gives
/// up waiting for the notifications still in flight.
const DRAIN_STALL: Duration = Duration::from_millis(300);
/// Bytes a reader takes from its pipe per `read`.
const READ_CHUNK: usize = 64 * 1024;

/// What the readers measured.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Notifications delivered and decoded.
    pub delivered: u64,
    /// Notifications whose value carried no send time (should be none).
    pub undecodable: u64,
    /// Commit-to-delivery latency of each notification.
    pub latency: Latencies,
    /// Sessions the server ended because their ring filled up (the reader
    /// fell behind); after that a subscriber receives nothing more.
    pub sessions_ended: u64,
}

/// The running notification path.
#[derive(Debug)]
pub struct Rig {
    hub: Arc<Hub>,
    /// Stops the pipe writers.
    shutdown: Arc<AtomicBool>,
    generations: Vec<u64>,
    writers: Vec<JoinHandle<()>>,
    readers: Vec<JoinHandle<io::Result<(Latencies, u64)>>>,
    delivered: Arc<AtomicU64>,
    undecodable: Arc<AtomicU64>,
    readers_stop: Arc<AtomicBool>,
    /// Holds the FIFOs; removed when the rig is dropped.
    dir: tempfile::TempDir,
}

impl Rig {
    /// Builds the notification path over `store`, connects `subscribers`
    /// sessions through FIFOs, subscribes each to every key, and starts the
    /// pipe writers (speaking `W`) and readers. Returns the rig and one
    /// port per worker.
    pub fn start<W: Wire>(
        store: Arc<dyn Store>,
        keys: &[Token],
        subscribers: usize,
        workers: usize,
        ring_capacity: usize,
        epoch: Instant,
    ) -> anyhow::Result<(Rig, Vec<WorkerPort>)> {
        let dir = tempfile::Builder::new()
            .prefix("kvs-bench-")
            .tempdir()
            .context("creating a directory for the notification FIFOs")?;
        let layout = Layout {
            sessions: subscribers,
            workers,
            ring_capacity,
            // Every slot subscribes to every key.
            max_subscriptions: keys.len(),
        };
        let notify::Wiring {
            hub,
            ports,
            mergers,
        } = notify::build(store, layout);
        let mut rig = Rig {
            hub,
            shutdown: Arc::new(AtomicBool::new(false)),
            generations: Vec::with_capacity(subscribers),
            writers: Vec::with_capacity(subscribers),
            readers: Vec::with_capacity(subscribers),
            delivered: Arc::new(AtomicU64::new(0)),
            undecodable: Arc::new(AtomicU64::new(0)),
            readers_stop: Arc::new(AtomicBool::new(false)),
            dir,
        };
        for slot in 0..subscribers {
            rig.connect(slot, epoch)?;
        }
        subscribe_all(&rig.hub, keys, &rig.generations);
        for (slot, merger) in mergers.into_iter().enumerate() {
            let (hub, shutdown) = (Arc::clone(&rig.hub), Arc::clone(&rig.shutdown));
            let limit = layout.held_limit();
            rig.writers
                .push(spawn(format!("bench-writer-{slot}"), move || {
                    writer::run::<W>(&hub.slots()[slot], merger, limit, &shutdown)
                })?);
        }
        Ok((rig, ports))
    }

    /// Starts a session in `slot` whose notification pipe is a fresh FIFO,
    /// and a reader thread on the FIFO's far end.
    fn connect(&mut self, slot: usize, epoch: Instant) -> anyhow::Result<()> {
        let (read_end, write_end) = fifo_pair(&self.dir.path().join(format!("notify-{slot}")))?;
        self.generations
            .push(self.hub.slots()[slot].begin(write_end));
        let reader = Reader {
            pipe: read_end,
            epoch,
            delivered: Arc::clone(&self.delivered),
            undecodable: Arc::clone(&self.undecodable),
            stop: Arc::clone(&self.readers_stop),
        };
        self.readers
            .push(spawn(format!("bench-reader-{slot}"), move || reader.run())?);
        Ok(())
    }

    /// Called once the load has stopped: waits (within reason) for the
    /// `expected` notifications still in flight, shuts the pipe writers
    /// down, closes the pipes and collects the readers' figures.
    pub fn finish(self, expected: u64) -> anyhow::Result<NotifyStats> {
        let sessions_ended = self
            .generations
            .iter()
            .zip(self.hub.slots())
            .filter(|(generation, slot)| slot.is_ended(**generation))
            .count() as u64;
        self.wait_for_delivery(expected);
        // Release: pairs with the Acquire at the head of the writer's loop
        // (`writer::run`); the load, already stopped, is visible to its last
        // round. Stored before the doorbells ring.
        self.shutdown.store(true, Ordering::Release);
        self.hub.wake_every_writer();
        for writer in self.writers {
            writer
                .join()
                .map_err(|_| anyhow::anyhow!("a pipe writer panicked"))?;
        }
        // Closing the write ends lets each reader see end-of-file once it
        // has read everything; the flag covers a reader stuck otherwise.
        for slot in self.hub.slots() {
            drop(slot.take_writer_session());
        }
        // Relaxed: a stop request carries no data (results leave by join).
        self.readers_stop.store(true, Ordering::Relaxed);
        let mut stats = NotifyStats {
            sessions_ended,
            ..NotifyStats::default()
        };
        for reader in self.readers {
            let (latency, count) = reader
                .join()
                .map_err(|_| anyhow::anyhow!("a notification reader panicked"))?
                .context("reading notifications")?;
            stats.latency.merge(&latency);
            stats.delivered += count;
        }
        // Relaxed: read after every reader was joined, which orders it.
        stats.undecodable = self.undecodable.load(Ordering::Relaxed);
        Ok(stats)
    }

    /// Waits until `expected` notifications arrived, or delivery stalled.
    fn wait_for_delivery(&self, expected: u64) {
        // Relaxed: a progress count; the figures reported come from the
        // readers' own histograms after the join.
        let mut seen = self.delivered.load(Ordering::Relaxed);
        let mut last_progress = Instant::now();
        while seen < expected && last_progress.elapsed() < DRAIN_STALL {
            thread::sleep(Duration::from_millis(2));
            // Relaxed: as above.
            let now = self.delivered.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                last_progress = Instant::now();
            }
        }
    }
}

/// Makes a FIFO at `path` and opens both ends non-blocking, as the server
/// keeps a client's notification pipe: the read end first, so that the
/// write end finds a reader.
fn fifo_pair(path: &std::path::Path) -> anyhow::Result<(File, File)> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", path.display()))?;
    let open = |write: bool| {
        OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
            .with_context(|| format!("opening {} (write: {write})", path.display()))
    };
    let read_end = open(false)?;
    Ok((read_end, open(true)?))
}

/// Subscribes every slot's session to every key.
fn subscribe_all(hub: &Hub, keys: &[Token], generations: &[u64]) {
    for &key in keys {
        for (slot, &generation) in generations.iter().enumerate() {
            hub.subscriptions()
                .subscribe(key, Subscriber { slot, generation });
        }
    }
}

fn spawn<T: Send + 'static>(
    name: String,
    body: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<JoinHandle<T>> {
    thread::Builder::new()
        .name(name)
        .spawn(body)
        .context("spawning a thread")
}

/// The client end of one notification FIFO.
struct Reader {
    pipe: File,
    epoch: Instant,
    delivered: Arc<AtomicU64>,
    undecodable: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    /// Reads until end-of-file (or the stop flag); returns the latencies and
    /// how many notifications it decoded.
    fn run(mut self) -> io::Result<(Latencies, u64)> {
        let mut latency = Latencies::new();
        let mut count = 0u64;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut filled = 0usize;
        loop {
            match self.pipe.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    let now = self.nanos_now();
                    let whole = filled - filled % NOTIFICATION_LEN;
                    let decoded = self.decode(&buf[..whole], now, &mut latency);
                    count += decoded;
                    buf.copy_within(whole..filled, 0);
                    filled -= whole;
                    // Relaxed: a progress count (see `Rig::wait_for_delivery`).
                    self.delivered.fetch_add(decoded, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Relaxed: a stop request carries no data.
                    if self.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    wait_ready(&self.pipe, false, READ_POLL)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((latency, count))
    }

    fn nanos_now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records the latency of every notification in `bytes` (a whole number
    /// of them); returns how many there were.
    fn decode(&self, bytes: &[u8], now: u64, latency: &mut Latencies) -> u64 {
        let mut count = 0;
        for note in bytes.chunks_exact(NOTIFICATION_LEN) {
            let note: &[u8; NOTIFICATION_LEN] = note.try_into().expect("chunks are exact");
            let (_key, value) = decode_notification(note);
            match workload::stamp_of(value) {
                Some(sent) => latency.record_nanos(now.saturating_sub(sent)),
                None => {
                    // Relaxed: a statistic, read after the join.
                    self.undecodable.fetch_add(1, Ordering::Relaxed);
                }
            }
            count += 1;
        }
        count
    }
}
