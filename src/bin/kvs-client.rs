//! `kvs-client <id> <register_fifo>`: the course's client. Connects to a
//! `kvs` server, runs SUBSCRIBE / UNSUBSCRIBE / DELAY / DISCONNECT lines from
//! standard input, and prints each notification from a second thread.
//!
//! It connects the way the course's client does (response pipe, answer,
//! request pipe, notification pipe) and waits for the server at most
//! `KVS_CLIENT_WAIT_MS` milliseconds per step (default 30 000), so a server
//! that is gone or stuck ends in a message, not a hang.

use kvs::client::{
    parse_client_line, ClientCommand, ClientFifos, ConnectError, Connection, CONNECT_WAIT,
};
use kvs::format::{write_notification, write_server_returned, WAITING};
use kvs::protocol::Request;
use nix::sys::signal::{SigSet, Signal};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{self, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn main() -> ExitCode {
    kvs::allocator::settle_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let [_, id, register] = args.as_slice() else {
        eprintln!("usage: kvs-client <client_id> <register_fifo>");
        return ExitCode::from(2);
    };
    match run(id, PathBuf::from(register)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kvs-client: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(id: &str, register: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let fifos = Arc::new(ClientFifos::for_id(id));
    remove_fifos_on_signal(Arc::clone(&fifos))?;
    let outcome = session(&fifos, &register);
    fifos.remove();
    outcome
}

fn session(fifos: &Arc<ClientFifos>, register: &Path) -> Result<(), Box<dyn std::error::Error>> {
    fifos.create()?;
    let mut connection = match Connection::connect_within(register, fifos, connect_wait()?) {
        Ok((connection, _)) => connection,
        Err(ConnectError::Refused(result)) => {
            say(|out| write_server_returned(out, result, "connect"));
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    say(|out| write_server_returned(out, 0, "connect"));
    let notifications = connection.take_notifications().expect("taken once");
    let watcher_fifos = Arc::clone(fifos);
    let leaving = Arc::new(AtomicBool::new(false));
    let watcher_leaving = Arc::clone(&leaving);
    thread::spawn(move || {
        for (key, value) in notifications {
            say(|out| write_notification(out, &key, &value));
        }
        // Relaxed: a flag with no data behind it.
        if !watcher_leaving.load(Ordering::Relaxed) {
            // The server closed our pipes on its own: the session is over.
            watcher_fifos.remove();
            process::exit(0);
        }
    });
    match drive(&mut connection, &leaving) {
        // The server closed the session under us (SIGUSR1, shutdown): the
        // notification thread may not have noticed yet; exit as it would.
        Err(error) if server_closed(&error) => Ok(()),
        other => Ok(other?),
    }
}

/// How long to wait for the server per connect step.
fn connect_wait() -> Result<Duration, String> {
    match std::env::var("KVS_CLIENT_WAIT_MS") {
        Err(_) => Ok(CONNECT_WAIT),
        Ok(text) => text
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("KVS_CLIENT_WAIT_MS={text:?} is not a number of milliseconds")),
    }
}

/// Runs the commands of standard input, then disconnects.
fn drive(connection: &mut Connection, leaving: &AtomicBool) -> io::Result<()> {
    for line in io::stdin().lock().lines() {
        let line = line?;
        let command = match parse_client_line(&line) {
            Ok(Some(command)) => command,
            Ok(None) => continue,
            Err(error) => {
                eprintln!("kvs-client: {line:?}: {error}");
                continue;
            }
        };
        if command == ClientCommand::Disconnect {
            break;
        }
        execute(connection, command)?;
    }
    // DISCONNECT, or the end of input: leave cleanly. The server closes the
    // notification pipe as it answers, which is expected now.
    // Relaxed: a flag with no data behind it.
    leaving.store(true, Ordering::Relaxed);
    execute(connection, ClientCommand::Disconnect)
}

/// Whether `error` means the server closed this client's pipes.
fn server_closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe
    )
}

/// Runs one command and prints the server's answer.
fn execute(connection: &mut Connection, command: ClientCommand) -> io::Result<()> {
    let (request, name) = match command {
        ClientCommand::Delay(ms) => {
            if ms > 0 {
                say(|out| out.write_all(WAITING));
            }
            thread::sleep(Duration::from_millis(ms));
            return Ok(());
        }
        ClientCommand::Subscribe(key) => (Request::Subscribe(key), "subscribe"),
        ClientCommand::Unsubscribe(key) => (Request::Unsubscribe(key), "unsubscribe"),
        ClientCommand::Disconnect => (Request::Disconnect, "disconnect"),
    };
    let result = connection.call(&request)?;
    say(|out| write_server_returned(out, result, name));
    Ok(())
}

/// Prints one line (which `write` writes, newline included) and flushes
/// it. A closed standard output is not a reason to stop talking to the
/// server (the session still ends cleanly), so write errors are ignored
/// rather than panicking as `println!` would.
fn say(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    let mut out = io::stdout().lock();
    let _ = write(&mut out);
    let _ = out.flush();
}

/// Ctrl-C or SIGTERM: remove the FIFOs, then exit as the signal would.
fn remove_fifos_on_signal(fifos: Arc<ClientFifos>) -> io::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().map_err(io::Error::from)?;
    thread::spawn(move || {
        let signal = set.wait().unwrap_or(Signal::SIGTERM);
        fifos.remove();
        process::exit(128 + signal as i32);
    });
    Ok(())
}
