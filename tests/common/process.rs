//! Processes under a deadline: a test that starts a process can fail, but
//! never hang.
//!
//! Invariant: every [`Watched`] child is reaped by its own watchdog thread
//! and by nobody else, and the watchdog kills the child once the deadline
//! passes (or when the owner drops it). Signals go through the watchdog, so
//! one is never sent to a pid that has already been reaped and reused. Once
//! the child is dead its pipes close, so a test blocked reading them gets
//! end-of-file instead of waiting forever.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any process a test starts may run: `KVS_TEST_DEADLINE_SECS`
/// seconds, 60 by default (far above what any test needs, so only a hang
/// reaches it; mutation runs lower it).
pub fn deadline() -> Duration {
    let secs = std::env::var("KVS_TEST_DEADLINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// How the watchdog saw the child end.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Exited(ExitStatus),
    KilledAtDeadline,
}

/// A child process watched by a deadline.
pub struct Watched {
    what: String,
    limit: Duration,
    pid: u32,
    /// The child's stdin, when piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, when piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, when piped.
    pub stderr: Option<ChildStderr>,
    signals: Option<Sender<Signal>>,
    ending: Receiver<Ending>,
    ended: Option<Ending>,
    watchdog: Option<JoinHandle<()>>,
}

impl Watched {
    /// Spawns `command` under the default [`deadline`].
    pub fn spawn(command: &mut Command) -> Watched {
        Self::spawn_with_deadline(command, deadline())
    }

    /// Spawns `command`; it is killed if still running after `limit`.
    pub fn spawn_with_deadline(command: &mut Command, limit: Duration) -> Watched {
        let what = format!("{command:?}");
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let (signals, signal_rx) = mpsc::channel();
        let (ending_tx, ending) = mpsc::channel();
        let pid = child.id();
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let watchdog = thread::spawn(move || {
            let ended = watch(&mut child, Instant::now() + limit, &signal_rx);
            let _ = ending_tx.send(ended);
        });
        Watched {
            what,
            limit,
            pid,
            stdin,
            stdout,
            stderr,
            signals: Some(signals),
            ending,
            ended: None,
            watchdog: Some(watchdog),
        }
    }

    /// The child's process id (for messages; signal it with [`Self::signal`]).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` to the child, unless it has already ended.
    pub fn signal(&self, signal: Signal) {
        if let Some(signals) = &self.signals {
            let _ = signals.send(signal);
        }
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        self.wait_ending()
            .unwrap_or_else(|| panic!("{} had run past its deadline", self.what))
    }

    /// Waits for the child to exit (its stdin, if piped, stays open); fails
    /// the test if the deadline killed it.
    pub fn wait(&mut self) -> ExitStatus {
        self.wait_ending().unwrap_or_else(|| {
            panic!(
                "{} ran past its deadline of {:?} and was killed",
                self.what, self.limit
            )
        })
    }

    /// Closes stdin, collects stdout and stderr, and waits for the exit, all
    /// under the deadline; a run killed at its deadline fails the test with
    /// whatever it printed.
    pub fn wait_with_output(&mut self) -> Output {
        drop(self.stdin.take());
        let stdout = self.stdout.take().map(read_in_background);
        let stderr = self.stderr.take().map(read_in_background);
        let ending = self.wait_ending();
        let collect = |reader: Option<JoinHandle<Vec<u8>>>| {
            reader.map_or_else(Vec::new, |r| r.join().expect("pipe reader"))
        };
        let (stdout, stderr) = (collect(stdout), collect(stderr));
        let Some(status) = ending else {
            panic!(
                "{} ran past its deadline and was killed; stdout:\n{}\nstderr:\n{}",
                self.what,
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        };
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// The exit status, or `None` when the deadline killed the child.
    /// Whether the child ends within `limit` (it keeps running otherwise).
    pub fn ends_within(&mut self, limit: Duration) -> bool {
        if self.ended.is_none() {
            match self.ending.recv_timeout(limit) {
                Ok(ending) => self.ended = Some(ending),
                Err(_) => return false,
            }
        }
        true
    }

    fn wait_ending(&mut self) -> Option<ExitStatus> {
        let ending = *self.ended.get_or_insert_with(|| {
            self.ending
                .recv()
                .expect("the watchdog reports before it ends")
        });
        self.signals = None;
        match ending {
            Ending::Exited(status) => Some(status),
            Ending::KilledAtDeadline => None,
        }
    }
}

impl Drop for Watched {
    /// A child still running when its test ends (or panics) is killed.
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
        self.signals = None;
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
    }
}

/// The watchdog: reaps `child`, forwarding signals until it exits, and kills
/// it at `deadline` or when the owner goes away.
fn watch(child: &mut Child, deadline: Instant, signals: &Receiver<Signal>) -> Ending {
    const POLL: Duration = Duration::from_millis(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ending::Exited(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ending::KilledAtDeadline;
        }
        match signals.recv_timeout(POLL) {
            // The child is not reaped yet (only this thread reaps it), so
            // its pid still names it even if it has just exited.
            Ok(signal) => {
                let _ = kill(Pid::from_raw(child.id() as i32), signal);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = child.kill();
                return child
                    .wait()
                    .map_or(Ending::KilledAtDeadline, Ending::Exited);
            }
        }
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs `command` to completion under the deadline, like `Command::output`.
pub fn output(command: &mut Command) -> Output {
    use std::process::Stdio;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Watched::spawn(command).wait_with_output()
}
