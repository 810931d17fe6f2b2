//! The connect handshake in every order a client may open its FIFOs (SPEC
//! §4), and the ways a client can misuse it: never opening a pipe,
//! vanishing, leaving its response FIFO full, naming a terminal or a pipe
//! that is not its own, or waiting for a slot while the server resets or
//! stops. Each test runs the real `kvs` binary; the well-behaved clients are
//! `tests/c_client/course_client.c` (compiled with `cc`), which opens its
//! FIFOs with blocking `open`s in the order it is given, as a C client does,
//! and `kvs-client`.
//!
//! Every process a test starts is killed, and the test fails, if it has not
//! finished by [`DEADLINE`]. Assertions are about what arrives, never about
//! how fast.

#![cfg(not(feature = "loom"))]

mod common;

use common::process::Watched;
use common::wait_for;
use kvs::protocol::ConnectRequest;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long any process a test starts may run, and any wait may last.
const DEADLINE: Duration = Duration::from_secs(20);

/// The course order: response FIFO, the answer, request FIFO, notification
/// FIFO.
const COURSE_ORDER: &str = "resp,answer,req,notif";
/// All three opened (request first, as a blocking C client may), then the
/// answer read.
const ALL_THEN_ANSWER: &str = "req,resp,notif,answer";
/// Notification FIFO first, then request, then response, then the answer.
const NOTIF_REQ_RESP: &str = "notif,req,resp,answer";

/// A job that creates `a`, waits for the clients, then writes `a` with the
/// values 1.., 20 times over a second or so, and deletes it.
fn counting_job() -> String {
    let mut job = String::from("WRITE [(a,0)]\nWAIT 2500\n");
    for i in 1..=20 {
        job.push_str(&format!("WRITE [(a,{i})(b,{i})]\nWAIT 50\n"));
    }
    job.push_str("DELETE [a]\n");
    job
}

/// A running server in a temporary directory; killed if dropped unstopped
/// or still running at the [`DEADLINE`].
struct Server {
    child: Watched,
    dir: tempfile::TempDir,
    register: PathBuf,
}

impl Server {
    fn start(job: &str, extra: &[&str]) -> Server {
        Self::spawn(job, extra, false, false)
    }

    /// Starts the server as an unprivileged user when the tests run as
    /// root, so that file permissions bind it as they bind a server run by
    /// an ordinary user.
    fn start_unprivileged(job: &str, extra: &[&str]) -> Server {
        Self::spawn(job, extra, false, true)
    }

    /// Starts the server as the leader of a new session with no controlling
    /// terminal, as a daemon runs: the kind of process that acquires a
    /// terminal it opens without `O_NOCTTY`.
    fn start_as_session_leader(job: &str, extra: &[&str]) -> Server {
        Self::spawn(job, extra, true, false)
    }

    fn spawn(job: &str, extra: &[&str], session_leader: bool, unprivileged: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("one.job"), job).unwrap();
        let register = dir.path().join("register");
        let log = File::create(dir.path().join("stderr.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kvs"));
        command
            .arg(dir.path())
            .args(["2", "2"])
            .arg(&register)
            .args(extra)
            .env("KVS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        if unprivileged && common::running_as_root() {
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
            command.uid(common::NOBODY).gid(common::NOBODY);
        }
        if session_leader {
            // SAFETY: the closure runs in the child between fork and exec and
            // calls only setsid(2), which is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    nix::unistd::setsid()
                        .map(drop)
                        .map_err(std::io::Error::from)
                });
            }
        }
        let child = Watched::spawn_with_deadline(&mut command, DEADLINE);
        wait_for(|| register.exists(), "the register FIFO to appear");
        Server {
            child,
            dir,
            register,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn signal(&self, signal: Signal) {
        self.child.signal(signal);
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.path().join("stderr.log")).unwrap()
    }

    /// Waits until the job output contains `needle`.
    fn wait_for_output(&self, needle: &str) {
        let out = self.path().join("one.out");
        wait_for(
            || fs::read_to_string(&out).is_ok_and(|text| text.contains(needle)),
            "the job's output",
        );
    }

    /// SIGTERM; the server must exit 0 by the deadline.
    fn stop_cleanly(mut self) {
        self.signal(Signal::SIGTERM);
        let status = self.child.wait();
        assert!(status.success(), "{status}: {}", self.stderr());
    }
}

/// Opens the FIFO at `path` for writing without blocking: retries while it
/// has no reader yet, and fails the test past the deadline.
fn open_fifo_writer(path: &Path) -> File {
    let give_up = Instant::now() + DEADLINE;
    loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
        {
            Ok(file) => return file,
            Err(e) => assert!(
                Instant::now() < give_up,
                "{} never got a reader: {e}",
                path.display()
            ),
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The course-order C client, compiled once per test run.
fn course_client() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c_client/course_client.c");
        let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("course_client");
        let mut cc = Command::new("cc");
        cc.args(["-O1", "-Wall", "-Werror", "-o"])
            .arg(&binary)
            .arg(&source);
        let status = Watched::spawn_with_deadline(&mut cc, DEADLINE).wait();
        assert!(status.success(), "cc failed on {}", source.display());
        binary
    })
}

/// A client process whose standard output is read line by line; killed
/// when dropped or at the [`DEADLINE`].
struct Client {
    child: Watched,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Client {
    /// The C client: `steps` is its open order, `then` what it does next.
    fn c(server: &Server, tag: &str, steps: &str, then: &str, key: Option<&str>) -> Client {
        let mut command = Command::new(course_client());
        command
            .arg(&server.register)
            .arg(server.path())
            .args([tag, steps, then])
            .args(key);
        Self::spawn(command)
    }

    /// `kvs-client`, its standard input left open until [`Client::finish`].
    fn kvs(server: &Server, id: &str) -> Client {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kvs-client"));
        command
            .arg(id)
            .arg(&server.register)
            .env("KVS_CLIENT_WAIT_MS", "60000");
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Client {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = Watched::spawn_with_deadline(&mut command, DEADLINE);
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an output line equal to `line`.
    fn wait_for_line(&mut self, line: &str) {
        let give_up = Instant::now() + DEADLINE;
        while !self.seen.iter().any(|seen| seen == line) {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(next) => self.seen.push(next),
                Err(_) => {
                    self.child.kill();
                    panic!("no line {line:?}; got {:?}", self.seen);
                }
            }
        }
    }

    /// Closes standard input, waits for the exit (by the deadline) and
    /// returns the status and every output line.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.child.stdin.take());
        let status = self.child.wait();
        let mut seen = std::mem::take(&mut self.seen);
        seen.extend(self.lines.iter());
        (status, seen)
    }

    /// [`Client::finish`], and the client must exit 0.
    fn output(self) -> Vec<String> {
        let (status, lines) = self.finish();
        assert!(status.success(), "{status}: {lines:?}");
        lines
    }
}

/// Checks a session client's output: connected, subscribed to `a`, got a
/// gap-free, increasing run of `a`'s values ending in `(a,DELETED)` (the
/// commits after it subscribed, in commit order), and disconnected.
fn assert_ordered_session(lines: &[String]) {
    assert_eq!(
        lines.first().map(String::as_str),
        Some("connect 0"),
        "{lines:?}"
    );
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some("subscribe 1"),
        "{lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("disconnect 0"),
        "{lines:?}"
    );
    let notes = &lines[2..lines.len() - 1];
    assert_eq!(
        notes.last().map(String::as_str),
        Some("(a,DELETED)"),
        "{lines:?}"
    );
    let values: Vec<u32> = notes[..notes.len() - 1]
        .iter()
        .map(|note| {
            let value = note.strip_prefix("(a,").and_then(|v| v.strip_suffix(')'));
            value
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{note}"))
        })
        .collect();
    assert!(
        values.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "not in commit order, or a gap: {values:?}"
    );
    assert!(values.last().map_or(true, |&last| last == 20), "{values:?}");
}

/// Runs one session client per order at once against a server running the
/// counting job; each must see its notifications in commit order.
fn assert_sessions_in_orders(orders: &[&str]) {
    // Compiled before the server starts, so that the compile does not eat
    // into the job's 2.5 s window for the clients to subscribe.
    course_client();
    let server = Server::start(&counting_job(), &[]);
    server.wait_for_output("Waiting...");
    let clients: Vec<Client> = orders
        .iter()
        .enumerate()
        .map(|(i, order)| Client::c(&server, &format!("s{i}"), order, "session", Some("a")))
        .collect();
    for client in clients {
        assert_ordered_session(&client.output());
    }
    server.stop_cleanly();
}

#[test]
fn three_course_order_c_clients_subscribe_get_notifications_in_order_and_disconnect() {
    assert_sessions_in_orders(&[COURSE_ORDER, COURSE_ORDER, COURSE_ORDER]);
}

#[test]
fn a_client_that_opens_all_three_pipes_before_reading_the_answer_is_served() {
    assert_sessions_in_orders(&[ALL_THEN_ANSWER]);
}

#[test]
fn a_client_that_opens_notif_then_req_then_resp_is_served() {
    assert_sessions_in_orders(&[NOTIF_REQ_RESP]);
}

/// A client that subscribes to a key that does not exist and disconnects:
/// shows the server serves (in its only slot, when started so).
fn assert_served(server: &Server, tag: &str) {
    let lines = Client::c(server, tag, COURSE_ORDER, "session", Some("nokey")).output();
    assert_eq!(lines, ["connect 0", "subscribe 0", "disconnect 0"]);
}

/// A client that opens only some of its pipes holds the only slot until the
/// connect timeout ends its session (closing its response pipe); a client
/// queued behind it is then served.
fn assert_partial_client_frees_the_slot(steps: &str) {
    let server = Server::start(
        "WRITE [(x,1)]\n",
        &["--max-sessions", "1", "--connect-timeout-ms", "300"],
    );
    let partial = Client::c(&server, "p", steps, "linger", None);
    let later = Client::c(&server, "l", COURSE_ORDER, "session", Some("nokey"));
    assert_eq!(later.output(), ["connect 0", "subscribe 0", "disconnect 0"]);
    assert_eq!(partial.output(), ["connect 0", "closed"]);
    server.stop_cleanly();
}

#[test]
fn a_client_that_never_opens_its_request_pipe_loses_its_slot_at_the_timeout() {
    assert_partial_client_frees_the_slot("resp,answer,notif");
}

#[test]
fn a_client_that_never_opens_its_notification_pipe_loses_its_slot_at_the_timeout() {
    assert_partial_client_frees_the_slot("resp,answer,req");
}

/// Regression: the session read its request pipe waiting for `poll`, which
/// reports nothing on a read end that never had a writer: the slot was
/// held forever.
#[test]
fn a_client_that_vanishes_before_opening_its_request_pipe_frees_the_slot() {
    let server = Server::start("WRITE [(x,1)]\n", &["--max-sessions", "1"]);
    let vanishing = Client::c(&server, "v", "resp,notif,answer", "vanish", None);
    assert_eq!(vanishing.output(), ["connect 0"]);
    let later = Client::c(&server, "l", ALL_THEN_ANSWER, "session", Some("nokey"));
    assert_eq!(later.output(), ["connect 0", "subscribe 0", "disconnect 0"]);
    server.stop_cleanly();
}

/// A client that writes 50 of its request's 121 bytes (a well-behaved one
/// writes all of them at once) and dies: the server drops the 50 bytes,
/// saying so, as soon as it has read them, so the next client's request is
/// read on its own and not behind them.
#[test]
fn a_partial_connect_request_from_a_dead_client_is_dropped_and_the_next_is_served() {
    let server = Server::start("WRITE [(x,1)]\n", &[]);
    let [request, response, notification] =
        ["req-dead", "resp-dead", "notif-dead"].map(|name| server.path().join(name));
    let whole = ConnectRequest {
        request,
        response,
        notification,
    }
    .encode()
    .unwrap();
    // The dying client's write end is closed here, as its exit closes it.
    open_fifo_writer(&server.register)
        .write_all(&whole[..50])
        .unwrap();
    wait_for(
        || {
            server
                .stderr()
                .contains("partial connect request of 50 bytes")
        },
        "the server to report the partial request",
    );
    assert_served(&server, "after-partial");
    let stderr = server.stderr();
    assert!(!stderr.contains("bad connect request"), "{stderr}");
    server.stop_cleanly();
}

/// Makes FIFOs `names` in `dir`.
fn fifos(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            path
        })
        .collect()
}

fn open_nonblocking(path: &Path, read: bool, write: bool) -> File {
    OpenOptions::new()
        .read(read)
        .write(write)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .unwrap()
}

/// Writes into `pipe` until it is full.
fn fill(pipe: &mut File) {
    let block = [0u8; 4096];
    while pipe.write(&block).is_ok() {}
}

/// Sends a raw connect request naming `paths` on the register FIFO.
fn send_connect(server: &Server, [request, response, notification]: [&Path; 3]) {
    let connect = ConnectRequest {
        request: request.to_path_buf(),
        response: response.to_path_buf(),
        notification: notification.to_path_buf(),
    };
    open_fifo_writer(&server.register)
        .write_all(&connect.encode().unwrap())
        .unwrap();
}

/// Reads the 2-byte connect answer from `responses` (opened non-blocking
/// before the connect was sent), by the deadline.
fn read_answer(responses: &mut File) -> [u8; 2] {
    let give_up = Instant::now() + DEADLINE;
    let mut answer = [0u8; 2];
    let mut filled = 0;
    while filled < 2 {
        assert!(Instant::now() < give_up, "no connect answer");
        let mut fds = [PollFd::new(responses.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(50u16)).unwrap() == 0 {
            continue;
        }
        match responses.read(&mut answer[filled..]) {
            Ok(0) => panic!("response pipe closed unanswered"),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    answer
}

/// Sends a connect naming `request`, a fresh response FIFO, and
/// `notification` (opened for reading here when `open_notification`, as a
/// client would); returns the answer.
fn connect_naming(
    server: &Server,
    tag: &str,
    request: &Path,
    notification: &Path,
    open_notification: bool,
) -> [u8; 2] {
    let response = &fifos(server.path(), &[&format!("resp-{tag}")])[0];
    let mut responses = open_nonblocking(response, true, false);
    let _notifications = open_notification.then(|| open_nonblocking(notification, true, false));
    send_connect(server, [request, response, notification]);
    read_answer(&mut responses)
}

/// Regression: refusing a connect wrote the answer with no deadline and no
/// stop, so a client holding its response FIFO full kept the slot forever
/// and SIGTERM could not stop the server.
#[test]
fn refusing_a_client_that_keeps_its_response_pipe_full_does_not_hang() {
    let server = Server::start(
        "WRITE [(x,1)]\n",
        &["--max-sessions", "1", "--connect-timeout-ms", "300"],
    );
    let paths = fifos(server.path(), &["resp-full", "notif-full"]);
    let mut full = open_nonblocking(&paths[0], true, true);
    fill(&mut full);
    let missing = server.path().join("no-such-request-pipe");
    send_connect(&server, [&missing, &paths[0], &paths[1]]);
    assert_served(&server, "after-full");
    server.stop_cleanly();
    drop(full);
}

/// Regression: client paths were opened without `O_NOCTTY`, so a server
/// that leads its session took a terminal named as a pipe as its
/// controlling terminal, and hanging that terminal up killed it (SIGHUP).
#[test]
fn a_terminal_named_as_a_client_pipe_is_refused_and_cannot_hang_up_the_server() {
    let server = Server::start_as_session_leader("WRITE [(x,1)]\n", &[]);
    let pty = nix::pty::openpty(None, None).unwrap();
    let terminal = fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
    ))
    .unwrap();
    let request = &fifos(server.path(), &["req-tty"])[0];
    assert_eq!(
        connect_naming(&server, "tty", request, &terminal, false),
        [1, 1]
    );
    // Hang the terminal up: were it the server's, the server would get SIGHUP.
    drop(pty);
    assert_served(&server, "after-tty");
    assert!(
        server
            .stderr()
            .contains("is not a FIFO (it is a character device)"),
        "{}",
        server.stderr()
    );
    let null = Path::new("/dev/null");
    assert_eq!(connect_naming(&server, "null", null, null, false), [1, 1]);
    assert_served(&server, "after-null");
    server.stop_cleanly();
}

/// Regression: a connect could name the register FIFO, or another live
/// session's pipe, as its own; its session then read other clients'
/// connect requests or requests.
#[test]
fn the_register_fifo_or_another_clients_pipe_named_as_a_client_pipe_is_refused() {
    let server = Server::start("WRITE [(x,1)]\n", &[]);
    let notification = &fifos(server.path(), &["notif-r"])[0];
    let register = server.register.clone();
    assert_eq!(
        connect_naming(&server, "r", &register, notification, true),
        [1, 1]
    );
    let mut holder = Client::c(&server, "h", ALL_THEN_ANSWER, "linger", None);
    holder.wait_for_line("connect 0");
    let holders_request = server.path().join("reqh");
    let notification = &fifos(server.path(), &["notif-o"])[0];
    assert_eq!(
        connect_naming(&server, "o", &holders_request, notification, true),
        [1, 1]
    );
    assert_served(&server, "after-names");
    server.stop_cleanly();
    assert_eq!(holder.output(), ["connect 0", "closed"]);
}

/// Starts `kvs-client`, and waits until it has sent its connect request (it
/// holds its response FIFO open, which it opens right after), and a moment
/// for the server to read it.
fn queued_kvs_client(server: &Server, tag: &str) -> Client {
    let id = format!("kvs-handshake-{}-{tag}", std::process::id());
    let client = Client::kvs(server, &id);
    let response = PathBuf::from(format!("/tmp/resp{id}"));
    let fds = PathBuf::from(format!("/proc/{}/fd", client.child.id()));
    let holds_response = || {
        fs::read_dir(&fds).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|entry| fs::read_link(entry.path()).is_ok_and(|target| target == response))
        })
    };
    wait_for(holds_response, "kvs-client to send its connect request");
    thread::sleep(Duration::from_millis(100));
    client
}

/// Regression: connects still queued for a slot at shutdown were dropped
/// unanswered; their clients waited forever.
#[test]
fn connects_waiting_for_a_slot_are_refused_at_shutdown() {
    let server = Server::start("WRITE [(x,1)]\n", &["--max-sessions", "1"]);
    let mut holder = Client::c(&server, "h", ALL_THEN_ANSWER, "linger", None);
    holder.wait_for_line("connect 0");
    let waiting = queued_kvs_client(&server, "shutdown");
    server.stop_cleanly();
    assert_eq!(
        waiting.output(),
        ["Server returned 1 for operation: connect"]
    );
    assert_eq!(holder.output(), ["connect 0", "closed"]);
}

/// Regression: SIGUSR1 ended only sessions whose pipes were all open, and
/// left queued connects to be served as if nothing had happened.
#[test]
fn sigusr1_ends_sessions_still_opening_and_refuses_queued_connects() {
    let server = Server::start(
        "WRITE [(x,1)]\n",
        &["--max-sessions", "2", "--connect-timeout-ms", "60000"],
    );
    let mut holder = Client::c(&server, "h", ALL_THEN_ANSWER, "linger", None);
    let mut opening = Client::c(&server, "o", "resp,answer,notif", "linger", None);
    holder.wait_for_line("connect 0");
    opening.wait_for_line("connect 0");
    let waiting = queued_kvs_client(&server, "usr1");
    server.signal(Signal::SIGUSR1);
    assert_eq!(opening.output(), ["connect 0", "closed"]);
    assert_eq!(holder.output(), ["connect 0", "closed"]);
    assert_eq!(
        waiting.output(),
        ["Server returned 1 for operation: connect"]
    );
    assert_served(&server, "after-usr1");
    server.stop_cleanly();
}

/// `kvs-client <id> <register>` with no input, waiting at most `wait_ms`
/// for each step of the server's.
fn bare_kvs_client(id: &str, register: &Path, wait_ms: &str) -> Watched {
    Watched::spawn_with_deadline(
        Command::new(env!("CARGO_BIN_EXE_kvs-client"))
            .arg(id)
            .arg(register)
            .env("KVS_CLIENT_WAIT_MS", wait_ms)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        DEADLINE,
    )
}

/// Waits for `child` (by the deadline); its status, stdout and stderr.
fn exit_of(mut child: Watched) -> (ExitStatus, String, String) {
    let output = child.wait_with_output();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("kvs-client prints UTF-8");
    (output.status, text(output.stdout), text(output.stderr))
}

/// Regression: `kvs-client` waited in a blocking `open` for a server that
/// never answered.
#[test]
fn kvs_client_gives_up_with_a_message_when_no_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let register = &fifos(dir.path(), &["register"])[0];
    let _silent_server = open_nonblocking(register, true, false);
    let id = format!("kvs-handshake-{}-silent", std::process::id());
    let (status, _, stderr) = exit_of(bare_kvs_client(&id, register, "300"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no answer from the server within"),
        "{stderr}"
    );
    assert!(
        !Path::new(&format!("/tmp/resp{id}")).exists(),
        "FIFOs left behind"
    );
}

/// `kvs-client` given a register FIFO that does not exist names the path
/// it did not find, and leaves no FIFOs behind.
#[test]
fn kvs_client_names_a_missing_register_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let register = dir.path().join("no-register-here");
    let id = format!("kvs-handshake-{}-missing", std::process::id());
    let (status, stdout, stderr) = exit_of(bare_kvs_client(&id, &register, "300"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let expected = format!("{}: No such file or directory", register.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        !Path::new(&format!("/tmp/resp{id}")).exists(),
        "FIFOs left behind"
    );
}

/// Regression: `kvs-client` failed with EAGAIN when the register FIFO was
/// momentarily full, instead of waiting for room.
#[test]
fn kvs_client_waits_while_the_register_fifo_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let register = &fifos(dir.path(), &["register"])[0];
    let mut server_end = open_nonblocking(register, true, true);
    fill(&mut server_end);
    let id = format!("kvs-handshake-{}-full", std::process::id());
    let mut client = bare_kvs_client(&id, register, "60000");
    thread::sleep(Duration::from_millis(300));
    assert!(
        !client.ends_within(Duration::ZERO),
        "kvs-client gave up on a full FIFO"
    );
    // Play the server: drain the filler, take the request, refuse it.
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let give_up = Instant::now() + DEADLINE;
    let request = loop {
        assert!(Instant::now() < give_up, "no connect request");
        match server_end.read(&mut chunk) {
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
        if let Some(start) = received.iter().position(|&b| b == 1) {
            if received.len() >= start + 121 {
                break received[start..start + 121].to_vec();
            }
        }
    };
    let request = ConnectRequest::decode(request.as_slice().try_into().unwrap()).unwrap();
    assert_eq!(request.response, PathBuf::from(format!("/tmp/resp{id}")));
    let mut responses = open_fifo_writer(&request.response);
    responses.write_all(&[1, 1]).unwrap();
    let (status, stdout, stderr) = exit_of(client);
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout, "Server returned 1 for operation: connect\n");
}

/// Regression: a request FIFO the server may not open for reading (its
/// permissions) ended the handshake before the response FIFO was ever
/// opened, so the client, waiting in its `open` of that FIFO, was never
/// answered. It must get its refusal.
#[test]
fn a_request_fifo_the_server_cannot_read_is_refused_with_an_answer() {
    let server = Server::start_unprivileged("WRITE [(x,1)]\n", &["--max-sessions", "1"]);
    let paths = fifos(server.path(), &["req-locked", "resp-open", "notif-open"]);
    fs::set_permissions(&paths[0], fs::Permissions::from_mode(0o200)).unwrap();
    for path in &paths[1..] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
    }
    let mut responses = open_nonblocking(&paths[1], true, false);
    send_connect(&server, [&paths[0], &paths[1], &paths[2]]);
    assert_eq!(read_answer(&mut responses), [1, 1]);
    // The only slot is free again: a client whose FIFOs the server may
    // open is served.
    let later = fifos(server.path(), &["req-later", "resp-later", "notif-later"]);
    for path in &later {
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
    }
    let mut responses = open_nonblocking(&later[1], true, false);
    send_connect(&server, [&later[0], &later[1], &later[2]]);
    assert_eq!(read_answer(&mut responses), [1, 0]);
    let _notifications = open_nonblocking(&later[2], true, false);
    let mut requests = open_fifo_writer(&later[0]);
    requests.write_all(&[2]).unwrap();
    assert_eq!(read_answer(&mut responses), [2, 0]);
    server.stop_cleanly();
}

/// Regression: a SIGUSR1 that ended a handshake before the client opened
/// its response FIFO left the connect unanswered, so a client blocking in
/// its `open` of that FIFO (as the course's client does) waited for ever.
#[test]
fn a_handshake_stopped_before_the_client_opens_its_response_pipe_is_still_answered() {
    let server = Server::start("WRITE [(x,1)]\n", &["--connect-timeout-ms", "60000"]);
    let paths = fifos(server.path(), &["req-late", "resp-late", "notif-late"]);
    send_connect(&server, [&paths[0], &paths[1], &paths[2]]);
    // The session has taken the connect once it holds the request pipe's
    // read end; the writer stays open, as a live client's would.
    let mut _request_writer = None;
    wait_for(
        || {
            _request_writer = OpenOptions::new()
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&paths[0])
                .ok();
            _request_writer.is_some()
        },
        "the session to open the request pipe",
    );
    server.signal(Signal::SIGUSR1);
    // Let the session see the stop before the client opens its response
    // FIFO (well within the server's grace for that open).
    thread::sleep(Duration::from_millis(100));
    let (done, answer) = mpsc::channel();
    let response = paths[1].clone();
    thread::spawn(move || {
        let mut answer = [0u8; 2];
        let read = File::open(&response).and_then(|mut f| f.read_exact(&mut answer));
        let _ = done.send(read.map(|()| answer));
    });
    let answer = answer
        .recv_timeout(DEADLINE)
        .expect("the connect was never answered")
        .expect("the answer is readable");
    assert_eq!(answer[0], 1, "a connect answer");
    server.stop_cleanly();
}
