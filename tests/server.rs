//! End-to-end tests of server mode: the real `kvs` binary, real FIFOs, the
//! real `kvs-client`, and raw protocol bytes where a test needs to misbehave.
//!
//! Jobs that must run after a client subscribes begin with a `WAIT` long
//! enough for the client to connect; the assertions are about what arrives
//! and in which order, never about how fast.

#![cfg(not(feature = "loom"))]

use kvs::client::{ClientFifos, Connection};
use kvs::server::protocol::{ConnectRequest, Request};
use kvs::token::Token;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A running server in a temporary directory.
struct Server {
    child: Child,
    dir: Option<tempfile::TempDir>,
    register: PathBuf,
}

impl Server {
    fn start(jobs: &[(&str, &str)], extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in jobs {
            fs::write(dir.path().join(name), text).unwrap();
        }
        let register = dir.path().join("register");
        let child = Command::new(env!("CARGO_BIN_EXE_kvs"))
            .arg(dir.path())
            .args(["2", "2"])
            .arg(&register)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
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
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String, tempfile::TempDir) {
        self.signal(Signal::SIGTERM);
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (
            status,
            stderr,
            self.dir.take().expect("present until stopped"),
        )
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn t(s: &str) -> Token {
    Token::try_from(s).unwrap()
}

/// A unique client id for `kvs-client`, whose FIFOs live in /tmp.
fn client_id(tag: &str) -> String {
    format!("kvs-test-{}-{tag}", std::process::id())
}

fn run_client(id: &str, register: &Path, input: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvs-client"))
        .arg(id)
        .arg(register)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Runs `kvs-client` with `input` and checks it exits 0 having printed
/// `expected`: the server still serves a well-behaved client.
fn assert_serves(server: &Server, tag: &str, input: &str, expected: &str) {
    let (status, stdout) = run_client(&client_id(tag), &server.register, input);
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
    let id = client_id("course");
    let input = "SUBSCRIBE [a]\nSUBSCRIBE [NONE]\nSUBSCRIBE [b]\nDELAY 3000\nUNSUBSCRIBE [a]\nUNSUBSCRIBE [b]\nDISCONNECT\n";
    let (status, stdout) = run_client(&id, &server.register, input);
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
    for path in ["req", "resp", "notif"] {
        assert!(
            !Path::new(&format!("/tmp/{path}{id}")).exists(),
            "client left /tmp/{path}{id}"
        );
    }
    stop_cleanly(server);
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
    let (mut connection, result) = Connection::connect(&server.register, &fifos).unwrap();
    assert_eq!(result, 0);
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

#[test]
fn sigusr1_ends_every_client_and_the_server_keeps_serving() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\nWAIT 1\n")], &[]);
    server.wait_for_output("one.out", "Waiting...");
    let mut clients: Vec<Child> = (0..2)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_kvs-client"))
                .arg(client_id(&format!("usr1-{i}")))
                .arg(&server.register)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for client in &mut clients {
        client
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"SUBSCRIBE [a]\n")
            .unwrap();
    }
    // Each client has connected once its connect line is printed.
    let mut outputs = Vec::new();
    for client in &mut clients {
        let mut stdout = client.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"subscribe\n") {
            stdout.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        outputs.push((stdout, line));
    }
    // Keep every client's stdin open: `wait` would close it, and a client
    // at the end of its input disconnects by itself.
    let _stdins: Vec<_> = clients.iter_mut().map(|c| c.stdin.take()).collect();
    server.signal(Signal::SIGUSR1);
    for client in &mut clients {
        // stdin stays open: the client exits because its pipes closed.
        let status = client.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
    assert_serves(
        &server,
        "usr1-after",
        "SUBSCRIBE [a]\nDISCONNECT\n",
        "Server returned 1 for operation: subscribe",
    );
    stop_cleanly(server);
}

#[test]
fn sigterm_exits_zero_and_removes_the_register_fifo() {
    let server = Server::start(
        &[("one.job", "WRITE [(a,1)]\nWAIT 60000\nWRITE [(b,2)]\n")],
        &[],
    );
    let register = server.register.clone();
    let out = server.path().join("one.out");
    wait_for(
        || fs::read_to_string(&out).is_ok_and(|text| !text.is_empty()),
        "the job to start waiting",
    );
    let (status, stderr, dir) = server.stop();
    assert!(status.success(), "{stderr}");
    assert!(!register.exists());
    // The job stopped at a command boundary, inside its long WAIT, with its
    // output flushed.
    assert_eq!(
        fs::read_to_string(dir.path().join("one.out")).unwrap(),
        "Waiting...\n"
    );
}

#[test]
fn a_killed_client_does_not_disturb_the_others() {
    let job = "WRITE [(a,1)]\nWAIT 1500\nWRITE [(a,2)]\n";
    let server = Server::start(&[("one.job", job)], &["--max-sessions", "2"]);
    server.wait_for_output("one.out", "Waiting...");
    let mut doomed = Command::new(env!("CARGO_BIN_EXE_kvs-client"))
        .arg(client_id("doomed"))
        .arg(&server.register)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    doomed
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"SUBSCRIBE [a]\n")
        .unwrap();
    let mut first = [0u8; 1];
    doomed
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    assert_serves(
        &server,
        "survivor",
        "SUBSCRIBE [a]\nDELAY 2500\nDISCONNECT\n",
        "(a,2)",
    );
    stop_cleanly(server);
}

#[test]
fn garbage_on_the_register_fifo_is_skipped() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\nWAIT 1\n")], &[]);
    server.wait_for_output("one.out", "Waiting...");
    let mut register = fs::OpenOptions::new()
        .write(true)
        .open(&server.register)
        .unwrap();
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

/// Sends a connect request naming `request` and `notification` as given and
/// a real response FIFO; returns the connect result.
fn connect_with(server: &Server, request: PathBuf, notification: PathBuf, name: &str) -> u8 {
    let fifos = server.fifos(name);
    let connect = ConnectRequest {
        request,
        response: fifos.response.clone(),
        notification,
    };
    fs::OpenOptions::new()
        .write(true)
        .open(&server.register)
        .unwrap()
        .write_all(&connect.encode().unwrap())
        .unwrap();
    let mut response = [0u8; 2];
    fs::File::open(&fifos.response)
        .unwrap()
        .read_exact(&mut response)
        .unwrap();
    assert_eq!(response[0], 1);
    response[1]
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

#[test]
fn a_client_that_never_reads_notifications_is_disconnected() {
    let mut job = String::from("WRITE [(a,0)]\nWAIT 1000\n");
    for i in 0..2000 {
        job.push_str(&format!("WRITE [(a,{i})]\n"));
    }
    let server = Server::start(&[("one.job", &job)], &["--ring-capacity", "16"]);
    let fifos = server.fifos("slow");
    let (mut connection, result) = Connection::connect(&server.register, &fifos).unwrap();
    assert_eq!(result, 0);
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
    let output = Command::new(env!("CARGO_BIN_EXE_kvs"))
        .arg(dir.path())
        .args(["1", "1"])
        .arg(&register)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a FIFO"));
    assert_eq!(fs::read_to_string(&register).unwrap(), "precious");
}

/// Compiles the C client in `tests/c_client/` with the system's C compiler;
/// `None` when there is none.
fn build_c_client(dir: &Path) -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c_client/client.c");
    let binary = dir.join("c-client");
    let compiled = Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .ok()?;
    compiled.success().then_some(binary)
}

#[test]
fn a_client_written_in_c_works_unchanged() {
    let build_dir = tempfile::tempdir().unwrap();
    let Some(client) = build_c_client(build_dir.path()) else {
        eprintln!("skipped: no C compiler");
        return;
    };
    let job = "WRITE [(a,1)]\nWAIT 1500\nWRITE [(a,2)]\nWRITE [(b,x)(a,3)]\n";
    let server = Server::start(&[("one.job", job)], &[]);
    server.wait_for_output("one.out", "Waiting...");
    let output = Command::new(&client)
        .arg(&server.register)
        .arg(server.path())
        .args(["a", "2"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1 0\n3 1\n(a,2)\n(a,3)\n2 0\n"
    );
    stop_cleanly(server);
}

/// Reads `child`'s stdout until a line containing `needle` has been read.
fn read_until(stdout: &mut impl Read, needle: &str) -> String {
    let mut text = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&text).contains(needle) {
        if stdout.read(&mut byte).unwrap() == 0 {
            break;
        }
        text.push(byte[0]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn a_connect_beyond_max_sessions_waits_for_a_free_slot() {
    let server = Server::start(&[("one.job", "WRITE [(a,1)]\n")], &["--max-sessions", "1"]);
    let spawn_client = |tag: &str| {
        Command::new(env!("CARGO_BIN_EXE_kvs-client"))
            .arg(client_id(tag))
            .arg(&server.register)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = spawn_client("slot-first");
    let mut first_out = first.stdout.take().unwrap();
    read_until(&mut first_out, "connect");
    let mut second = spawn_client("slot-second");
    let second_out = second.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut second_out = second_out;
        let text = read_until(&mut second_out, "connect");
        let _ = tx.send(text);
        // Keep reading, so the client's later lines have somewhere to go.
        let _ = std::io::copy(&mut second_out, &mut std::io::sink());
    });
    // The only slot is taken: the second client is not answered while the
    // first stays connected.
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "second client served beside the first"
    );
    first
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"DISCONNECT\n")
        .unwrap();
    assert!(first.wait().unwrap().success());
    let text = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("second client served once the slot is free");
    assert!(
        text.contains("Server returned 0 for operation: connect"),
        "{text}"
    );
    second
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"DISCONNECT\n")
        .unwrap();
    assert!(second.wait().unwrap().success());
    stop_cleanly(server);
}
