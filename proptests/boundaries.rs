//! Exact inputs at the edges the random tests rarely reach: the job reader's
//! line limit and I/O errors, `WAIT`'s number, the sleeper, and the backup
//! limit.

use kvs::backup::Backups;
use kvs::job::parse::MAX_LINE_LEN;
use kvs::job::{parse_line, Command, JobReader, Line, ParseError, Sleeper, StoppableSleeper};
use kvs::store::Snapshot;
use kvs::token::{Key, Token, Value};
use std::io::{self, BufReader, Read};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Far above what any step below takes: reaching it means it never happens.
const PATIENCE: Duration = Duration::from_secs(20);

/// Every line `input` holds, read through a reader whose buffer is `chunk`
/// bytes (so a long line arrives in many pieces).
fn read_all(input: &[u8], chunk: usize) -> Vec<Line> {
    let mut reader = JobReader::new(BufReader::with_capacity(chunk, input));
    let mut lines = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        lines.push(line);
    }
    lines
}

/// `SHOW` padded with spaces to exactly `len` bytes.
fn show_of_len(len: usize) -> Vec<u8> {
    let mut line = b"SHOW".to_vec();
    line.resize(len, b' ');
    line
}

#[test]
fn a_line_of_exactly_the_limit_is_read_and_one_byte_more_is_too_long() {
    for chunk in [7, 4096, 1 << 16] {
        for end in [&b"\n"[..], b""] {
            let mut input = show_of_len(MAX_LINE_LEN);
            input.extend_from_slice(end);
            assert_eq!(
                read_all(&input, chunk),
                [Line::Command(Command::Show)],
                "exactly {MAX_LINE_LEN} bytes, buffer {chunk}, end {end:?}"
            );
            // Too long: reported, and reading goes on after its newline.
            let mut input = show_of_len(MAX_LINE_LEN + 1);
            input.extend_from_slice(end);
            let mut expected = vec![Line::Invalid(ParseError::LineTooLong)];
            if !end.is_empty() {
                input.extend_from_slice(b"HELP\n");
                expected.push(Line::Command(Command::Help));
            }
            assert_eq!(
                read_all(&input, chunk),
                expected,
                "{} bytes, buffer {chunk}, end {end:?}",
                MAX_LINE_LEN + 1
            );
        }
    }
}

/// A reader that fails once with `kind`, then yields `rest`.
struct FailsOnce {
    kind: Option<io::ErrorKind>,
    rest: &'static [u8],
}

impl Read for FailsOnce {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.kind.take() {
            return Err(io::Error::new(kind, "injected"));
        }
        let n = self.rest.len().min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fn first_line_after(kind: io::ErrorKind) -> io::Result<Option<Line>> {
    let input = BufReader::new(FailsOnce {
        kind: Some(kind),
        rest: b"SHOW\n",
    });
    JobReader::new(input).next_line()
}

#[test]
fn the_reader_retries_an_interrupted_read_and_reports_any_other_error() {
    assert_eq!(
        first_line_after(io::ErrorKind::Interrupted).unwrap(),
        Some(Line::Command(Command::Show))
    );
    let error = first_line_after(io::ErrorKind::PermissionDenied).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn wait_takes_only_a_plain_number() {
    assert_eq!(parse_line(b"WAIT 5"), Line::Command(Command::Wait(5)));
    assert_eq!(parse_line(b"WAIT \t 0"), Line::Command(Command::Wait(0)));
    for bad in [
        "WAIT +5",
        "WAIT -5",
        "WAIT 5x",
        "WAIT 5 5",
        "WAIT 0x10",
        "WAIT  ",
    ] {
        assert_eq!(
            parse_line(bad.as_bytes()),
            Line::Invalid(ParseError::BadDelay),
            "{bad:?}"
        );
    }
}

#[test]
fn the_stoppable_sleeper_sleeps_at_least_the_time_asked_unless_stopped() {
    let stop = AtomicBool::new(false);
    let asked = Duration::from_millis(120);
    let start = Instant::now();
    StoppableSleeper { stop: &stop }.sleep(asked);
    assert!(start.elapsed() >= asked, "woke after {:?}", start.elapsed());
    // Once stopped, a sleep of an hour ends (on a thread, so that a sleeper
    // that ignores the flag fails the test instead of hanging it).
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let stop = AtomicBool::new(true);
        StoppableSleeper { stop: &stop }.sleep(Duration::from_secs(3600));
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(PATIENCE).is_ok(),
        "a stopped sleeper kept sleeping"
    );
}

/// A gate the test opens; snapshots wait at it while being written, so the
/// test controls how long each backup stays in progress.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    writing: usize,
    most_writing: usize,
}

impl Gate {
    fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    /// Waits (bounded) until `ready` holds for the state.
    fn wait_until(&self, ready: impl Fn(&GateState) -> bool, what: &str) {
        let state = self.state.lock().unwrap();
        let (_state, timeout) = self
            .changed
            .wait_timeout_while(state, PATIENCE, |s| !ready(s))
            .unwrap();
        assert!(!timeout.timed_out(), "gave up waiting for {what}");
    }
}

struct GatedSnapshot(Arc<Gate>);

impl Snapshot for GatedSnapshot {
    fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)> {
        let gate = &self.0;
        let mut state = gate.state.lock().unwrap();
        state.writing += 1;
        state.most_writing = state.most_writing.max(state.writing);
        gate.changed.notify_all();
        // Bounded: a test that fails never leaves this thread waiting.
        let (mut state, _) = gate
            .changed
            .wait_timeout_while(state, PATIENCE, |s| !s.open)
            .unwrap();
        state.writing -= 1;
        gate.changed.notify_all();
        vec![(Token::try_from("k").unwrap(), Token::try_from("v").unwrap())]
    }
}

#[test]
fn a_backup_runs_beside_its_job_and_one_beyond_max_backups_waits() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let backups = Backups::new(2);
    let (started, starts) = mpsc::channel();
    let job = {
        let (gate, backups, dir) = (Arc::clone(&gate), backups.clone(), dir.path().to_owned());
        std::thread::spawn(move || {
            for n in 1..=3 {
                let snapshot = Box::new(GatedSnapshot(Arc::clone(&gate)));
                backups.start(snapshot, dir.join(format!("j-{n}.bck")));
                let _ = started.send(n);
            }
        })
    };
    // The job goes on while its first two backups are still being written.
    for n in 1..=2 {
        assert_eq!(starts.recv_timeout(PATIENCE), Ok(n));
    }
    gate.wait_until(|s| s.writing == 2, "two backups in progress");
    // A third would exceed max_backups: its BACKUP waits.
    assert!(
        starts.recv_timeout(Duration::from_millis(300)).is_err(),
        "a third backup started beside two"
    );
    gate.open();
    assert_eq!(starts.recv_timeout(PATIENCE), Ok(3));
    job.join().unwrap();
    backups.wait_idle();
    assert_eq!(gate.state.lock().unwrap().most_writing, 2);
    for n in 1..=3 {
        let backup = std::fs::read_to_string(dir.path().join(format!("j-{n}.bck"))).unwrap();
        assert_eq!(backup, "(k, v)\n");
    }
}

#[test]
fn the_limiter_counts_the_permits_held() {
    use kvs::backup::BackupLimiter;
    let limiter = Arc::new(BackupLimiter::new(3));
    assert_eq!(limiter.in_flight(), 0);
    let first = BackupLimiter::acquire(&limiter);
    let second = BackupLimiter::acquire(&limiter);
    assert_eq!(limiter.in_flight(), 2);
    drop(first);
    assert_eq!(limiter.in_flight(), 1);
    drop(second);
    limiter.wait_idle();
    assert_eq!(limiter.in_flight(), 0);
    // A limit of zero still lets one backup run.
    let at_least_one = Arc::new(BackupLimiter::new(0));
    let only = BackupLimiter::acquire(&at_least_one);
    assert_eq!(at_least_one.in_flight(), 1);
    drop(only);
}

#[test]
fn a_job_that_cannot_write_its_output_is_counted_failed_and_the_others_run() {
    use kvs::job::{run_jobs, JobContext, RunSummary};
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let job = dir.path().join(format!("{name}.job"));
            std::fs::write(&job, "WRITE [(k,v)]\nREAD [k]\n").unwrap();
            job
        })
        .collect();
    // `b.out` is taken by a directory: `b.job` cannot create its output.
    std::fs::create_dir(dir.path().join("b.out")).unwrap();
    let store = kvs::store::Engine::ALL[0].open();
    let backups = Backups::new(1);
    let stop = AtomicBool::new(false);
    let context = JobContext {
        store: store.as_ref(),
        backups: &backups,
        stop: &stop,
        gate: None,
    };
    assert_eq!(
        run_jobs(&jobs, 2, &context),
        RunSummary {
            completed: 2,
            failed: 1
        }
    );
    for name in ["a", "c"] {
        let out = std::fs::read_to_string(dir.path().join(format!("{name}.out"))).unwrap();
        assert_eq!(out, "[(k,v)]\n");
    }
}
