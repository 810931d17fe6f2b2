//! End-to-end tests of server mode: the real `kvs` binary, real FIFOs, the
//! real `kvs-client`, and raw protocol bytes where a test needs to misbehave.
//!
//! Jobs that must run after a client subscribes begin with a `WAIT` long
//! enough for the client to connect; the assertions are about what arrives
//! and in which order, never about how fast.

#![cfg(not(feature = "loom"))]

mod common;

use common::process::{self, Watched};
use common::skip::require;
use common::wait_for;
use kvs::client::{ClientFifos, Connection};
use kvs::protocol::{ConnectRequest, Request};
use kvs::token::Token;
use nix::sys::signal::Signal;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long a test waits for something it expects to happen; far above what
/// it takes, so reaching it means it did not happen.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running server in a temporary directory.
struct Server {
    child: Watched,
    dir: Option<tempfile::TempDir>,
    register: PathBuf,
}

impl Server {
    fn start(jobs: &[(&str, &str)], extra: &[&str]) -> Server {
        Self::start_with_threads(2, jobs, extra)
    }

    fn start_with_threads(threads: usize, jobs: &[(&str, &str)], extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in jobs {
            fs::write(dir.path().join(name), text).unwrap();
        }
        let register = dir.path().join("register");
        let child = Watched::spawn(
            Command::new(env!("CARGO_BIN_EXE_kvs"))
                .arg(dir.path())
                .args([threads.to_string().as_str(), "2"])
                .arg(&register)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        wait_for(|| register.exists(), "the register FIFO to appear");
        Server {
            child,
            dir: Some(dir),
            register,
        }
    }

    /// Waits until the job output `file` contains `needle`: a job that
    /// writes its keys and then `WAIT`s has made them exist once its
    /// `Waiting...` is flushed.
    fn wait_for_output(&self, file: &str, needle: &str) {
        let path = self.path().join(file);
        wait_for(
            || fs::read_to_string(&path).is_ok_and(|text| text.contains(needle)),
            "the job to reach its WAIT",
        );
    }

    fn signal(&self, signal: Signal) {
        self.child.signal(signal);
    }

    /// `signal` (SIGTERM or SIGINT), then the exit status and stderr.
    fn stop_with(self, signal: Signal) -> (ExitStatus, String, tempfile::TempDir) {
        self.signal(signal);
        self.exit()
    }

    /// Waits for the server to exit; its exit status and stderr.
    fn exit(mut self) -> (ExitStatus, String, tempfile::TempDir) {
        let output = self.child.wait_with_output();
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
            self.dir.take().expect("present until stopped"),
        )
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(self) -> (ExitStatus, String, tempfile::TempDir) {
        self.stop_with(Signal::SIGTERM)
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until stopped").path()
    }

    fn fifos(&self, name: &str) -> ClientFifos {
        let fifos = ClientFifos::in_dir(self.path(), name);
        fifos.create().unwrap();
        fifos
    }
}

fn t(s: &str) -> Token {
    Token::try_from(s).unwrap()
}

/// A unique client id for `kvs-client`, whose FIFOs live in /tmp.
fn client_id(tag: &str) -> String {
    format!("kvs-test-{}-{tag}", std::process::id())
}

/// A `kvs-client` under the deadline, fed line by line. Its stdout is read
/// on a thread, which ends when the client's stdout closes: at the latest
/// when the deadline (or dropping this) kills the client.
struct Client {
    id: String,
    process: Watched,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Client {
    fn start(register: &Path, tag: &str) -> Client {
        let id = client_id(tag);
        let mut process = Watched::spawn(
            Command::new(env!("CARGO_BIN_EXE_kvs-client"))
                .arg(&id)
                .arg(register)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let stdout = process.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Client {
            id,
            process,
            lines,
            seen: Vec::new(),
        }
    }

    /// Writes `input` to the client's stdin (which stays open).
    fn send(&mut self, input: &str) {
        let stdin = self.process.stdin.as_mut().expect("stdin still open");
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a printed line equal to `line`; fails with every line seen
    /// when it does not come.
    fn expect(&mut self, line: &str) {
        while !self.seen.iter().any(|seen| seen == line) {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(next) => self.seen.push(next),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no line {line:?}; printed {:?}", self.id, self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: ended without {line:?}; printed {:?}",
                        self.id, self.seen
                    )
                }
            }
        }
    }

    /// Whether a line arrives within `window` (for what must not happen yet).
    fn prints_within(&mut self, window: Duration) -> bool {
        match self.lines.recv_timeout(window) {
            Ok(line) => {
                self.seen.push(line);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for the client to exit by itself (stdin stays open), then
    /// returns its status and everything it printed.
    fn exit_status(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.process.wait();
        self.seen.extend(self.lines.iter());
        (status, self.seen)
    }

    /// Closes stdin, waits for the exit, and returns the status and
    /// everything the client printed.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.process.stdin.take());
        self.exit_status()
    }
}

/// Runs `kvs-client` with `input` (then end of input) to its exit.
fn run_client(id_tag: &str, register: &Path, input: &str) -> (ExitStatus, String) {
    let mut client = Client::start(register, id_tag);
    client.send(input);
    let (status, lines) = client.finish();
    (status, lines.iter().map(|l| format!("{l}\n")).collect())
}

/// Runs `kvs-client` with `input` and checks it exits 0 having printed
/// `expected`: the server still serves a well-behaved client.
fn assert_serves(server: &Server, tag: &str, input: &str, expected: &str) {
    let (status, stdout) = run_client(tag, &server.register, input);
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains(expected), "{stdout}");
}

/// SIGTERM, and the server exits 0.
fn stop_cleanly(server: Server) {
    let (status, stderr, _) = server.stop();
    assert!(status.success(), "{stderr}");
}

#[test]
fn kvs_client_session_prints_the_course_lines() {
    let job = "WRITE [(a,anna)(b,bernardo)]\nWAIT 1500\nWRITE [(a,ana)(c,carlota)]\nDELETE [a]\nWRITE [(a,again)(b,bruno)]\n";
    let server = Server::start(&[("one.job", job)], &[]);
    server.wait_for_output("one.out", "Waiting...");
    // `DELAY 0` prints nothing (SPEC §5); `DELAY 3000` prints `Waiting...`.
    let input = "SUBSCRIBE [a]\nSUBSCRIBE [NONE]\nSUBSCRIBE [b]\nDELAY 0\nDELAY 3000\nUNSUBSCRIBE [a]\nUNSUBSCRIBE [b]\nDISCONNECT\n";
    let (status, stdout) = run_client("course", &server.register, input);
    assert!(status.success(), "{stdout}");
    // Notifications come from another thread: compare the response lines in
    // order, and the notification lines in order, separately.
    let responses: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('(')).collect();
    let notes: Vec<&str> = stdout.lines().filter(|l| l.starts_with('(')).collect();
    assert_eq!(
        responses,
        [
            "Server returned 0 for operation: connect",
            "Server returned 1 for operation: subscribe",
            "Server returned 0 for operation: subscribe",
            "Server returned 1 for operation: subscribe",
            "Waiting...",
            "Server returned 1 for operation: unsubscribe",
            "Server returned 0 for operation: unsubscribe",
            "Server returned 0 for operation: disconnect",
        ]
    );
    // The DELETE of `a` ended that subscription: the later write of `a` is
    // not sent, and the UNSUBSCRIBE of `a` finds nothing (result 1).
    assert_eq!(notes, ["(a,ana)", "(a,DELETED)", "(b,bruno)"]);
    assert_fifos_removed(&client_id("course"));
    stop_cleanly(server);
}

/// `kvs-client` removes its FIFOs on exit (SPEC §5).
fn assert_fifos_removed(id: &str) {
    for path in ["req", "resp", "notif"] {
        assert!(
            !Path::new(&format!("/tmp/{path}{id}")).exists(),
            "client left /tmp/{path}{id}"
        );
    }
}

/// Connects through the library's client, which opens the FIFOs the way
/// the project's `kvs-client` does. The connect runs on a thread: when the
/// server does not complete it, the test opens the FIFOs itself (a FIFO
/// opened read-write never blocks) and answers, which releases the thread,
/// and fails.
fn connect(server: &Server, fifos: &ClientFifos) -> Connection {
    let (register, paths) = (server.register.clone(), fifos_of(fifos));
    let (tx, rx) = mpsc::channel();
    let connecting = thread::spawn(move || {
        let fifos = ClientFifos {
            request: paths[0].clone(),
            response: paths[1].clone(),
            notification: paths[2].clone(),
        };
        let connected = Connection::connect(&register, &fifos);
        // The caller's `ClientFifos` removes them; this copy must not.
        std::mem::forget(fifos);
        let _ = tx.send(connected.map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(Ok((connection, 0))) => connection,
        Ok(Ok((_, result))) => panic!("connect refused with result {result}"),
        Ok(Err(error)) => panic!("connect failed: {error}"),
        Err(_) => {
            // Stand in for the server: hold every FIFO open and answer the
            // connect, so the thread's opens and its read return.
            let held: Vec<fs::File> = fifos_of(fifos)
                .iter()
                .filter_map(|path| {
                    fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(path)
                        .ok()
                })
                .collect();
            if let Some(mut response) = held.get(1) {
                let _ = response.write_all(&[1, 1]);
            }
            let _ = connecting.join();
            panic!("the server did not complete the connect");
        }
    }
}

fn fifos_of(fifos: &ClientFifos) -> [PathBuf; 3] {
    [
        fifos.request.clone(),
        fifos.response.clone(),
        fifos.notification.clone(),
    ]
}

#[test]
fn notifications_follow_commit_order_across_two_job_threads() {
    // Two jobs on two threads write the same two keys together, each with
    // its own increasing values. In commit order, `a` and `b` always change
    // together, so the client must see (a,v)(b,v) pairs, each job's values
    // in its own order, and last the values the store ends with.
    let steps = 300;
    let job = |name: &str| {
        let mut text = String::from("WRITE [(a,init)(b,init)]\nWAIT 1000\n");
        for i in 0..steps {
            text.push_str(&format!("WRITE [(a,{name}{i:04})(b,{name}{i:04})]\n"));
        }
        text.push_str("WAIT 500\nSHOW\n");
        text
    };
    let (x, y) = (job("x"), job("y"));
    let server = Server::start(&[("x.job", &x), ("y.job", &y)], &[]);
    let fifos = server.fifos("order");
    let mut connection = connect(&server, &fifos);
    let mut notifications = connection.take_notifications().unwrap();
    let reader = thread::spawn(move || {
        let mut seen = Vec::new();
        for (key, value) in notifications.by_ref() {
            seen.push((
                String::from_utf8(key).unwrap(),
                String::from_utf8(value).unwrap(),
            ));
        }
        seen
    });
    // The keys exist once a job's first write runs; until then subscribe
    // says 0. The jobs then wait, so every later write is notified.
    for key in ["a", "b"] {
        wait_for(
            || connection.call(&Request::Subscribe(t(key))).unwrap() == 1,
            "the key to exist",
        );
    }
    // Both jobs end with a SHOW; once both are written, every write is done.
    for out in ["x.out", "y.out"] {
        let out = server.path().join(out);
        wait_for(
            || fs::read_to_string(&out).is_ok_and(|t| t.contains("(b, ")),
            "the jobs to finish",
        );
    }
    // Disconnecting closes the notification pipe after the last message.
    assert_eq!(connection.call(&Request::Disconnect).unwrap(), 0);
    let seen = reader.join().unwrap();
    let (status, _, dir) = server.stop();
    assert!(status.success());
    // Writes that committed before both subscriptions were in place may be
    // missing; from the first complete pair on, every pair is there.
    let start = seen
        .windows(2)
        .position(|w| w[0].0 == "a" && w[1].0 == "b" && w[0].1 == w[1].1)
        .expect("a complete pair");
    let tail = &seen[start..];
    assert!(
        tail.len() >= 4 * steps,
        "too few notifications: {}",
        tail.len()
    );
    let mut last = std::collections::HashMap::new();
    for pair in tail.chunks(2) {
        assert_eq!(pair.len(), 2, "odd tail");
        assert_eq!(
            (pair[0].0.as_str(), pair[1].0.as_str()),
            ("a", "b"),
            "{pair:?}"
        );
        assert_eq!(pair[0].1, pair[1].1, "a and b committed together: {pair:?}");
        let (job, step) = pair[0].1.split_at(1);
        let previous = last.insert(job.to_string(), step.to_string());
        assert!(
            previous.is_none_or(|p| p.as_str() < step),
            "{job}'s writes out of order"
        );
    }
    let final_a = tail.last().unwrap().1.clone();
    let show = fs::read_to_string(dir.path().join("x.out")).unwrap();
    assert!(
        show.contains(&format!("(a, {final_a})")),
        "last notification {final_a} vs\n{show}"
    );
}

/// A job that writes `a` and `b` in turn, one pair every 50 ms for about
/// 20 s: long enough for any test of sessions, which stops the server (and
/// so the job) when it is done. Between any two writes of `b` there is a
/// write of `a`.
fn alternating_job() -> String {
    let mut job = String::from("WRITE [(a,0)(b,0)]\n");
    for i in 1..=400 {
        job.push_str(&format!("WAIT 50\nWRITE [(a,{i})]\nWRITE [(b,{i})]\n"));
    }
    job
}

impl Client {
    /// Waits until at least `n` printed lines start with `prefix`.
    fn expect_lines_starting(&mut self, prefix: &str, n: usize) {
        while self.seen.iter().filter(|l| l.starts_with(prefix)).count() < n {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(next) => self.seen.push(next),
                Err(_) => panic!(
                    "{}: fewer than {n} lines {prefix:?}; printed {:?}",
                    self.id, self.seen
                ),
            }
        }
    }

    /// Subscribes to `key` and waits for a notification of it.
    fn subscribe_and_hear(&mut self, key: &str) {
        self.send(&format!("SUBSCRIBE [{key}]\n"));
        let before = self.seen.iter().filter(|l| l.starts_with('(')).count();
        self.expect_lines_starting(&format!("({key},"), 1);
        assert!(self.seen.iter().filter(|l| l.starts_with('(')).count() > before);
    }
}

/// Under [`alternating_job`]: subscribes a new client to `b` only and reads
/// two notifications of `b`. The write of `a` between them reaches this
/// client only through a subscription it never made: one that its session
/// slot kept from an earlier session.
fn assert_no_inherited_subscription(client: &mut Client) {
    client.expect("Server returned 0 for operation: connect");
    client.send("SUBSCRIBE [b]\n");
    client.expect("Server returned 1 for operation: subscribe");
    client.expect_lines_starting("(b,", 2);
    assert!(
        !client.seen.iter().any(|l| l.starts_with("(a,")),
        "{}: notified of a key it never subscribed to: {:?}",
        client.id,
        client.seen
    );
}

#[test]
fn sigusr1_ends_every_client_frees_their_slots_and_drops_their_subscriptions() {
    let server = Server::start(&[("ab.job", &alternating_job())], &["--max-sessions", "2"]);
    server.wait_for_output("ab.out", "Waiting...");
    // Two subscribers to one key are both notified (SPEC §4).
    let mut first: Vec<Client> = (0..2)
        .map(|i| Client::start(&server.register, &format!("usr1-{i}")))
        .collect();
    for client in &mut first {
        client.subscribe_and_hear("a");
    }
    server.signal(Signal::SIGUSR1);
    for client in first {
        // stdin stays open: the client exits because its pipes closed.
        let id = client.id.clone();
        let (status, lines) = client.exit_status();
        assert!(status.success(), "{id}: {status:?} {lines:?}");
        assert_fifos_removed(&id);
    }
    // Both slots are free again: two new clients are served at once, and
    // neither inherits the subscriptions of the sessions SIGUSR1 ended.
    let mut second: Vec<Client> = (0..2)
        .map(|i| Client::start(&server.register, &format!("usr1-after-{i}")))
        .collect();
    for client in &mut second {
        assert_no_inherited_subscription(client);
    }
    for client in second {
        let (status, lines) = client.finish();
        assert!(status.success(), "{lines:?}");
    }
    stop_cleanly(server);
}

#[test]
fn a_slot_freed_by_a_disconnect_or_a_vanished_client_carries_no_subscription() {
    let server = Server::start(&[("ab.job", &alternating_job())], &["--max-sessions", "1"]);
    server.wait_for_output("ab.out", "Waiting...");
    let mut leaving = Client::start(&server.register, "leaving");
    leaving.subscribe_and_hear("a");
    leaving.send("DISCONNECT\n");
    let (status, lines) = leaving.exit_status();
    assert!(status.success(), "{lines:?}");
    // The only slot is reused: DISCONNECT removed the subscription to `a`.
    let mut doomed = Client::start(&server.register, "doomed");
    assert_no_inherited_subscription(&mut doomed);
    doomed.subscribe_and_hear("a");
    doomed.process.kill();
    // Killed, it could not remove its FIFOs; dropping these does.
    drop(ClientFifos::for_id(&doomed.id));
    // The server notices the vanished client, frees its only slot, drops
    // its subscriptions and keeps serving.
    let mut survivor = Client::start(&server.register, "survivor");
    assert_no_inherited_subscription(&mut survivor);
    let (status, lines) = survivor.finish();
    assert!(status.success(), "{lines:?}");
    stop_cleanly(server);
}

#[test]
fn sigterm_and_sigint_stop_at_a_command_boundary_and_let_backups_finish() {
    // 2000 keys, then five backups of them (two may run at once), then a
    // long WAIT and a READ the shutdown must keep from running.
    let mut write = String::from("WRITE [");
    for i in 0..2000 {
        write.push_str(&format!("(k{i:04},v{i})"));
    }
    write.push_str("]\n");
    let job = format!("{write}{}WAIT 60000\nREAD [k0001]\n", "BACKUP\n".repeat(5));
    for (signal, tag) in [(Signal::SIGTERM, "term"), (Signal::SIGINT, "int")] {
        // One job thread: `b.job` would start only after `a.job` ends.
        let server = Server::start_with_threads(1, &[("a.job", &job), ("b.job", "HELP\n")], &[]);
        server.wait_for_output("a.out", "Waiting...");
        let mut connected = Client::start(&server.register, &format!("{tag}-on"));
        connected.expect("Server returned 0 for operation: connect");
        let register = server.register.clone();
        let (status, stderr, dir) = server.stop_with(signal);
        assert!(status.success(), "{signal:?}: {stderr}");
        assert!(!register.exists(), "{signal:?}: register FIFO left");
        // The job stopped inside its WAIT, its output flushed; no new job
        // file was started.
        assert_eq!(
            fs::read_to_string(dir.path().join("a.out")).unwrap(),
            "Waiting...\n",
            "{signal:?}"
        );
        assert!(!dir.path().join("b.out").exists(), "{signal:?}: b.job ran");
        // Every backup the job started was finished, whole.
        for n in 1..=5 {
            let backup = fs::read_to_string(dir.path().join(format!("a-{n}.bck")))
                .unwrap_or_else(|e| panic!("{signal:?}: backup {n}: {e}"));
            assert_eq!(backup.lines().count(), 2000, "{signal:?}: backup {n}");
        }
        // The connected client's pipes were closed: it exits by itself.
        let (status, lines) = connected.exit_status();
        assert!(status.success(), "{signal:?}: {lines:?}");
        // And a new client finds no server.
        let late = process::output(
            Command::new(env!("CARGO_BIN_EXE_kvs-client"))
                .arg(client_id(&format!("{tag}-late")))
                .arg(&register),
        );
        assert!(!late.status.success(), "{signal:?}: {late:?}");
        assert!(
            late.stdout.is_empty(),
            "{signal:?}: served after shutdown: {late:?}"
        );
        assert!(!late.stderr.is_empty(), "{signal:?}: {late:?}");
    }
}

/// SPEC §6: SIGTERM lets a running backup finish. The backup's temporary
/// file is made a FIFO before the job's `BACKUP`, so its writer blocks in
/// the middle of the backup until the test reads it: the server must still
/// be running well after SIGTERM, and end once the backup has been written.
#[test]
fn sigterm_waits_for_a_backup_still_being_written() {
    let job = "WRITE [(a,1)]\nWAIT 1000\nBACKUP\nWAIT 60000\n";
    let mut server = Server::start_with_threads(1, &[("a.job", job)], &[]);
    let held = server.path().join(".a-1.bck.tmp");
    nix::unistd::mkfifo(&held, nix::sys::stat::Mode::S_IRWXU).unwrap();
    server.wait_for_output("a.out", "Waiting...\nWaiting...\n");
    server.signal(Signal::SIGTERM);
    assert!(
        !server.child.ends_within(Duration::from_millis(500)),
        "the server ended while its backup was still being written"
    );
    assert_eq!(common::read_fifo_to_end(&held), "(a, 1)\n");
    // A FIFO cannot be synced, so the backup reports its failure; the point
    // is that the server waited for it.
    let (status, stderr, _dir) = server.exit();
    assert!(status.success(), "{stderr}");
}

#[test]
fn garbage_on_the_register_fifo_is_skipped() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\nWAIT 1\n")], &[]);
    server.wait_for_output("one.out", "Waiting...");
    let mut register = open_register(&server);
    register
        .write_all(b"\x00\x09not a request\x01\x01\xff")
        .unwrap();
    let mut half = ConnectRequest {
        request: "/nonexistent/req".into(),
        response: "/nonexistent/resp".into(),
        notification: "/nonexistent/notif".into(),
    }
    .encode()
    .unwrap()
    .to_vec();
    half.truncate(60);
    register.write_all(&half).unwrap();
    drop(register);
    assert_serves(
        &server,
        "after-garbage",
        "SUBSCRIBE [a]\nDISCONNECT\n",
        "Server returned 1 for operation: subscribe",
    );
    stop_cleanly(server);
}

/// The register FIFO, opened for writing without blocking (the server
/// holds its read end while it runs).
fn open_register(server: &Server) -> fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&server.register)
        .expect("the server holds the register FIFO open")
}

/// Reads a connect response from the FIFO at `path` without blocking on
/// its open: fails if none arrives in time.
fn read_connect_response(path: &Path) -> u8 {
    use std::os::unix::fs::OpenOptionsExt;
    let mut pipe = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap();
    let mut response = Vec::new();
    wait_for(
        || {
            let mut chunk = [0u8; 2];
            match pipe.read(&mut chunk) {
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            response.len() >= 2
        },
        "the connect response",
    );
    assert_eq!(response[0], 1, "not a connect response: {response:?}");
    response[1]
}

/// Sends a connect request naming `request` and `notification` as given and
/// a real response FIFO; returns the connect result.
fn connect_with(server: &Server, request: PathBuf, notification: PathBuf, name: &str) -> u8 {
    let fifos = server.fifos(name);
    let connect = ConnectRequest {
        request,
        response: fifos.response.clone(),
        notification,
    };
    open_register(server)
        .write_all(&connect.encode().unwrap())
        .unwrap();
    read_connect_response(&fifos.response)
}

#[test]
fn paths_that_are_not_fifos_are_refused() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\n")], &[]);
    let regular = server.path().join("regular");
    fs::write(&regular, "").unwrap();
    let real = server.fifos("real");
    let link = server.path().join("link");
    symlink(&real.notification, &link).unwrap();
    assert_eq!(
        connect_with(&server, regular.clone(), real.notification.clone(), "r1"),
        1
    );
    assert_eq!(connect_with(&server, real.request.clone(), link, "r2"), 1);
    assert_eq!(
        fs::read(&regular).unwrap(),
        b"",
        "the server wrote to a regular file"
    );
    // And the server still serves a well-behaved client.
    assert_serves(
        &server,
        "after-bad-paths",
        "DISCONNECT\n",
        "Server returned 0 for operation: connect",
    );
    stop_cleanly(server);
}

/// A raw connect request whose three path fields are `fields` (each up to
/// 40 bytes, NUL-padded): what a client written against the byte layout
/// alone may send.
fn raw_connect(fields: [&[u8]; 3]) -> [u8; 121] {
    let mut bytes = [0u8; 121];
    bytes[0] = 1;
    for (i, field) in fields.iter().enumerate() {
        bytes[1 + 40 * i..][..field.len()].copy_from_slice(field);
    }
    bytes
}

#[test]
fn connect_paths_are_checked_byte_by_byte() {
    let good: &[u8] = b"/tmp/fine";
    let mut nul_inside = [0u8; 40];
    nul_inside[..9].copy_from_slice(b"/tmp/a\0bc");
    let forty = [b'p'; 40];
    for (field, valid) in [
        (&b"/tmp/with\x02control"[..], false),
        (b"/tmp/with\x1funit-separator", false),
        (b"/tmp/with\x7fdelete", false),
        (b"", false),
        (&nul_inside[..], false),
        (b"/tmp/with space", true),
        (&forty[..], true),
    ] {
        for position in 0..3 {
            let mut fields = [good; 3];
            fields[position] = field;
            let decoded = ConnectRequest::decode(&raw_connect(fields));
            assert_eq!(
                decoded.is_ok(),
                valid,
                "{field:?} in field {position}: {decoded:?}"
            );
            if let Ok(request) = decoded {
                let paths = [request.request, request.response, request.notification];
                assert_eq!(paths[position].as_os_str().as_encoded_bytes(), field);
            }
        }
    }
}

#[test]
fn a_client_cannot_encode_a_path_the_protocol_cannot_carry() {
    let encode = |path: &str| {
        ConnectRequest {
            request: "/tmp/req".into(),
            response: path.into(),
            notification: "/tmp/notif".into(),
        }
        .encode()
    };
    let forty = "p".repeat(40);
    assert_eq!(encode(&forty).unwrap()[41..81], *forty.as_bytes());
    for bad in [String::new(), "p".repeat(41), "/tmp/a\0b".to_string()] {
        assert!(encode(&bad).is_err(), "{bad:?} encoded");
    }
}

#[test]
fn malformed_connect_paths_are_skipped_and_odd_valid_ones_served() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\nWAIT 1\n")], &[]);
    server.wait_for_output("one.out", "Waiting...");
    let mut register = open_register(&server);
    for bad in [&b"/tmp/ctl\x02x"[..], b"/tmp/del\x7fx", b"", b"/tmp/nul\0x"] {
        register
            .write_all(&raw_connect([b"/tmp/req-x", bad, b"/tmp/notif-x"]))
            .unwrap();
    }
    drop(register);
    // Paths with a space, the longest of them exactly 40 bytes (no NUL).
    let dir = server.path().to_str().unwrap().len();
    assert!(dir < 20, "temporary directory name too long for the test");
    let name = format!("a b{}", "x".repeat(40 - dir - "/notif".len() - 3));
    let fifos = server.fifos(&name);
    assert_eq!(fifos.notification.as_os_str().len(), 40);
    let mut connection = connect(&server, &fifos);
    assert_eq!(connection.call(&Request::Subscribe(t("a"))).unwrap(), 1);
    assert_eq!(connection.call(&Request::Disconnect).unwrap(), 0);
    stop_cleanly(server);
}

#[test]
fn a_client_that_never_reads_notifications_is_disconnected() {
    // Paced writes (a burst of them would overflow the small rings before
    // anything reaches the pipe): the pipe fills first, then the rings.
    let mut job = String::from("WRITE [(a,0)]\nWAIT 1000\n");
    for i in 0..3000 {
        job.push_str(&format!("WRITE [(a,{i})]\nWAIT 1\n"));
    }
    let server = Server::start(&[("one.job", &job)], &["--ring-capacity", "16"]);
    let fifos = server.fifos("slow");
    let mut connection = connect(&server, &fifos);
    // `a` exists once the job's first write has run.
    wait_for(
        || connection.call(&Request::Subscribe(t("a"))).unwrap() == 1,
        "the key to exist",
    );
    // Never read the notification pipe: the pipe fills, then the rings, and
    // the server ends the session, closing the response pipe.
    let mut notifications = connection.take_notifications().unwrap();
    wait_for(
        || connection.call(&Request::Subscribe(t("a"))).is_err(),
        "the server to end the slow session",
    );
    // What did arrive is a gap-free prefix of the writes.
    let mut previous: Option<u32> = None;
    for (_, value) in notifications.by_ref() {
        let value: u32 = String::from_utf8(value).unwrap().parse().unwrap();
        if let Some(p) = previous {
            assert_eq!(value, p + 1, "gap in the notifications");
        }
        previous = Some(value);
    }
    assert!(
        previous.is_some(),
        "no notification arrived before the session ended"
    );
    assert_serves(
        &server,
        "after-slow",
        "DISCONNECT\n",
        "Server returned 0 for operation: connect",
    );
    stop_cleanly(server);
}

#[test]
fn refuses_to_replace_a_register_path_that_is_not_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let register = dir.path().join("register");
    fs::write(&register, "precious").unwrap();
    let output = process::output(
        Command::new(env!("CARGO_BIN_EXE_kvs"))
            .arg(dir.path())
            .args(["1", "1"])
            .arg(&register),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a FIFO"));
    assert_eq!(fs::read_to_string(&register).unwrap(), "precious");
}

/// Compiles the C client in `tests/c_client/` with `cc`.
fn build_c_client(cc: &Path, dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c_client/client.c");
    let binary = dir.join("c-client");
    let compiled = process::output(
        Command::new(cc)
            .arg("-O1")
            .arg("-o")
            .arg(&binary)
            .arg(&source),
    );
    assert!(compiled.status.success(), "{compiled:?}");
    binary
}

#[test]
fn a_client_written_in_c_works_unchanged() {
    let Some(cc) = require(common::c_compiler(), "no C compiler (cc) on the PATH") else {
        return;
    };
    let build_dir = tempfile::tempdir().unwrap();
    let client = build_c_client(&cc, build_dir.path());
    let job = "WRITE [(a,1)]\nWAIT 1500\nWRITE [(a,2)]\nWRITE [(b,x)(a,3)]\n";
    let server = Server::start(&[("one.job", job)], &[]);
    server.wait_for_output("one.out", "Waiting...");
    let output = process::output(
        Command::new(&client)
            .arg(&server.register)
            .arg(server.path())
            .args(["a", "2"]),
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1 0\n3 1\n(a,2)\n(a,3)\n2 0\n"
    );
    stop_cleanly(server);
}

#[test]
fn a_connect_beyond_max_sessions_waits_for_a_free_slot() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\n")], &["--max-sessions", "1"]);
    let mut first = Client::start(&server.register, "slot-first");
    first.expect("Server returned 0 for operation: connect");
    let mut second = Client::start(&server.register, "slot-second");
    // The only slot is taken: the second client is not answered while the
    // first stays connected.
    assert!(
        !second.prints_within(Duration::from_millis(500)),
        "second client served beside the first: {:?}",
        second.seen
    );
    first.send("DISCONNECT\n");
    let (status, lines) = first.finish();
    assert!(status.success(), "{lines:?}");
    second.expect("Server returned 0 for operation: connect");
    second.send("DISCONNECT\n");
    let (status, lines) = second.finish();
    assert!(status.success(), "{lines:?}");
    stop_cleanly(server);
}
