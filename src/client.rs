//! The client side of the pipe protocol, used by `kvs-client`.
//!
//! A [`Connection`] sends the connect request on the server's register FIFO
//! and then opens the client's FIFOs in the course client's order: the
//! response pipe, whose 2-byte answer it reads first, then the request pipe,
//! then the notification pipe (SPEC §4). Requests and their responses then
//! go over the request and response pipes; notifications arrive on the
//! notification pipe, which [`Connection::take_notifications`] hands to a
//! reader thread.
//!
//! No step waits forever: each is bounded by the connect's wait (a register
//! FIFO that stays full, a server that never answers, or never opens its
//! ends), and ends with an error that says which. The waits are `poll`s on
//! non-blocking descriptors; once connected, the pipes are made blocking.

use crate::protocol::pipe::{self, Go, ReadOutcome, Ready};
use crate::protocol::{
    decode_notification, ConnectRequest, ProtocolError, Request, NOTIFICATION_LEN, OP_CONNECT,
};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`Connection::connect`] waits for the server at most: for room
/// in the register FIFO, for the answer (which includes waiting for a free
/// session slot), and again for the server to open its pipe ends.
pub const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// How often an open waiting for the server's end is retried.
const OPEN_RETRY: Duration = Duration::from_millis(5);

/// The three FIFOs of a client, removed when dropped.
#[derive(Debug)]
pub struct ClientFifos {
    /// Requests to the server.
    pub request: PathBuf,
    /// Responses from the server.
    pub response: PathBuf,
    /// Notifications from the server.
    pub notification: PathBuf,
}

impl ClientFifos {
    /// The course's names: `/tmp/req<id>`, `/tmp/resp<id>`, `/tmp/notif<id>`.
    pub fn for_id(id: &str) -> Self {
        Self::in_dir(Path::new("/tmp"), id)
    }

    /// The same names in another directory.
    pub fn in_dir(dir: &Path, id: &str) -> Self {
        Self {
            request: dir.join(format!("req{id}")),
            response: dir.join(format!("resp{id}")),
            notification: dir.join(format!("notif{id}")),
        }
    }

    /// Creates the three FIFOs (owner-only), replacing stale ones.
    pub fn create(&self) -> io::Result<()> {
        for path in self.paths() {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(
                |errno| {
                    io::Error::new(
                        io::Error::from(errno).kind(),
                        format!("{}: {errno}", path.display()),
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Removes the three FIFOs (those that exist).
    pub fn remove(&self) {
        for path in self.paths() {
            let _ = fs::remove_file(path);
        }
    }

    fn paths(&self) -> [&Path; 3] {
        [&self.request, &self.response, &self.notification]
    }
}

impl Drop for ClientFifos {
    fn drop(&mut self) {
        self.remove();
    }
}

/// An open session with the server.
#[derive(Debug)]
pub struct Connection {
    requests: File,
    responses: File,
    notifications: Option<Notifications>,
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The register FIFO has no reader: no server is running there.
    #[error("no server is listening on {0}")]
    NoServer(PathBuf),
    /// A pipe path cannot be sent in a connect request (empty, over 40
    /// bytes, or holding a NUL).
    #[error(transparent)]
    Path(#[from] ProtocolError),
    /// The server answered with a failure (the result byte).
    #[error("the server refused the connection")]
    Refused(u8),
    /// The server did not take part in a step of the handshake in time.
    #[error("{step}: no answer from the server within {:?}", .waited)]
    TimedOut {
        /// What the client was waiting for.
        step: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// The server closed the response pipe without answering.
    #[error("the server closed the connection without answering")]
    ClosedUnanswered,
    /// A system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Connection {
    /// Connects through `register`, using `fifos` (already created), waiting
    /// at most [`CONNECT_WAIT`] for each of the server's steps. Returns the
    /// connection and the connect result byte (0); a refusal is
    /// [`ConnectError::Refused`].
    pub fn connect(register: &Path, fifos: &ClientFifos) -> Result<(Self, u8), ConnectError> {
        Self::connect_within(register, fifos, CONNECT_WAIT)
    }

    /// [`Connection::connect`], waiting at most `wait` for each step.
    pub fn connect_within(
        register: &Path,
        fifos: &ClientFifos,
        wait: Duration,
    ) -> Result<(Self, u8), ConnectError> {
        let request = ConnectRequest {
            request: fifos.request.clone(),
            response: fifos.response.clone(),
            notification: fifos.notification.clone(),
        }
        .encode()?;
        send_connect(register, &request, wait)?;
        let mut responses = open_nonblocking(&fifos.response, false)?;
        let result = read_answer(&mut responses, wait)?;
        if result != 0 {
            return Err(ConnectError::Refused(result));
        }
        let deadline = Instant::now() + wait;
        let requests = open_writer(&fifos.request, deadline, wait)?;
        let (notifications, early) = open_reader(&fifos.notification, deadline, wait)?;
        let connection = Self {
            requests,
            responses,
            notifications: Some(Notifications {
                pipe: notifications,
                early,
            }),
        };
        Ok((connection, result))
    }
    /// Sends `request` and returns the server's result byte.
    pub fn call(&mut self, request: &Request) -> io::Result<u8> {
        self.requests.write_all(&request.encode())?;
        let mut response = [0u8; 2];
        self.responses.read_exact(&mut response)?;
        if response[0] != request.opcode() {
            return Err(io::Error::other(format!(
                "response opcode {} to request {}",
                response[0],
                request.opcode()
            )));
        }
        Ok(response[1])
    }

    /// The notification pipe, for a reader thread (once).
    pub fn take_notifications(&mut self) -> Option<Notifications> {
        self.notifications.take()
    }
}

/// The notification stream of a connection.
#[derive(Debug)]
pub struct Notifications {
    pipe: File,
    /// Bytes read while waiting for the server to open the pipe.
    early: Vec<u8>,
}

impl Iterator for Notifications {
    /// A notification's key and value bytes (NULs removed).
    type Item = (Vec<u8>, Vec<u8>);

    /// The next notification; `None` once the server closed the pipe (or it
    /// broke mid-message).
    fn next(&mut self) -> Option<Self::Item> {
        let mut message = [0u8; NOTIFICATION_LEN];
        let early = self.early.len().min(NOTIFICATION_LEN);
        message[..early].copy_from_slice(&self.early[..early]);
        self.early.drain(..early);
        self.pipe.read_exact(&mut message[early..]).ok()?;
        let (key, value) = decode_notification(&message);
        Some((key.to_vec(), value.to_vec()))
    }
}

/// Writes the connect request on the register FIFO, waiting (up to `wait`)
/// while the FIFO is full. 121 bytes, under `PIPE_BUF`: written whole or
/// not at all, never interleaved with another client's.
fn send_connect(register: &Path, request: &[u8], wait: Duration) -> Result<(), ConnectError> {
    let mut server = open_nonblocking(register, true).map_err(|e| match e.raw_os_error() {
        Some(code) if code == Errno::ENXIO as i32 => ConnectError::NoServer(register.to_path_buf()),
        _ => ConnectError::Io(with_path(register, e)),
    })?;
    let deadline = Instant::now() + wait;
    loop {
        match server.write(request) {
            Ok(n) if n == request.len() => return Ok(()),
            Ok(_) => return Err(io::Error::other("connect request cut short").into()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let step = "sending the connect request (the register FIFO is full)";
                wait_for(&server, true, deadline, step, wait)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ConnectError::Io(with_path(register, e))),
        }
    }
}

/// Reads the 2-byte connect answer from the (non-blocking) response pipe,
/// then makes it blocking for the session's responses.
fn read_answer(responses: &mut File, wait: Duration) -> Result<u8, ConnectError> {
    let deadline = Instant::now() + wait;
    let mut answer = [0u8; 2];
    // Before the server opens its end, `read` would say end-of-file: only
    // read once `poll` reports data or a hang-up.
    let step = "waiting for the connect answer";
    let outcome = pipe::fill(responses, &mut answer, |file| {
        wait_for(file, false, deadline, step, wait).map(|()| Go::Read)
    })?;
    if outcome != ReadOutcome::Complete {
        return Err(ConnectError::ClosedUnanswered);
    }
    if answer[0] != OP_CONNECT {
        return Err(io::Error::other(format!("unexpected response opcode {}", answer[0])).into());
    }
    set_blocking(responses)?;
    Ok(answer[1])
}

/// Opens the write end of `path` once the server's read end is there.
fn open_writer(path: &Path, deadline: Instant, wait: Duration) -> Result<File, ConnectError> {
    loop {
        match open_nonblocking(path, true) {
            Ok(file) => {
                set_blocking(&file)?;
                return Ok(file);
            }
            Err(e) if e.raw_os_error() == Some(Errno::ENXIO as i32) => {
                retry_until(deadline, "opening the request pipe", wait)?;
            }
            Err(e) => return Err(ConnectError::Io(with_path(path, e))),
        }
    }
}

/// Opens the read end of `path` and waits for the server's write end: a
/// blocking read before it opens would see end-of-file. A non-blocking read
/// tells (end-of-file: no writer yet; `EAGAIN`: an idle writer); bytes it
/// reads are returned to be read first.
fn open_reader(
    path: &Path,
    deadline: Instant,
    wait: Duration,
) -> Result<(File, Vec<u8>), ConnectError> {
    let mut file = open_nonblocking(path, false).map_err(|e| with_path(path, e))?;
    let mut early = Vec::new();
    while !pipe::writer_present(&mut file, &mut early).map_err(|e| with_path(path, e))? {
        retry_until(deadline, "opening the notification pipe", wait)?;
    }
    set_blocking(&file)?;
    Ok((file, early))
}

/// Sleeps a retry interval, or fails with `TimedOut` past `deadline`.
fn retry_until(
    deadline: Instant,
    step: &'static str,
    waited: Duration,
) -> Result<(), ConnectError> {
    if Instant::now() >= deadline {
        return Err(ConnectError::TimedOut { step, waited });
    }
    thread::sleep(OPEN_RETRY);
    Ok(())
}

/// Waits until `file` is readable (or `writable`, or hung up), or fails
/// with `TimedOut` at `deadline`.
fn wait_for(
    file: &File,
    writable: bool,
    deadline: Instant,
    step: &'static str,
    waited: Duration,
) -> Result<(), ConnectError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectError::TimedOut { step, waited });
        }
        if pipe::wait_ready(file, writable, left.max(Duration::from_millis(1)))? == Ready::Yes {
            return Ok(());
        }
    }
}

fn open_nonblocking(path: &Path, write: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
}

/// Clears `O_NONBLOCK`: once connected, the client waits on its pipes.
fn set_blocking(file: &File) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    fcntl(file, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(())
}

/// `error`, saying which path it was about.
fn with_path(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// A line the client reads from standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `SUBSCRIBE [key]`
    Subscribe(crate::token::Key),
    /// `UNSUBSCRIBE [key]`
    Unsubscribe(crate::token::Key),
    /// `DELAY <ms>`
    Delay(u64),
    /// `DISCONNECT`
    Disconnect,
}

/// Why a client line is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientCommandError {
    /// The first word is not a client command.
    #[error(
        "unknown command (expected SUBSCRIBE [key], UNSUBSCRIBE [key], DELAY <ms> or DISCONNECT)"
    )]
    Unknown,
    /// The key is missing or invalid.
    #[error("expected one key in brackets, e.g. SUBSCRIBE [a]")]
    BadKey,
    /// The delay is not a whole number of milliseconds.
    #[error("DELAY needs a whole number of milliseconds")]
    BadDelay,
}

/// Parses one line of client input; `Ok(None)` for a blank line.
pub fn parse_client_line(line: &str) -> Result<Option<ClientCommand>, ClientCommandError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (word, rest) = line.split_at(
        line.find(|c: char| c == '[' || c.is_whitespace())
            .unwrap_or(line.len()),
    );
    let rest = rest.trim();
    let key = || -> Result<crate::token::Key, ClientCommandError> {
        let inner = rest
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or(ClientCommandError::BadKey)?;
        crate::token::Token::new(inner.as_bytes()).map_err(|_| ClientCommandError::BadKey)
    };
    let command = match word {
        "SUBSCRIBE" => ClientCommand::Subscribe(key()?),
        "UNSUBSCRIBE" => ClientCommand::Unsubscribe(key()?),
        "DELAY" => ClientCommand::Delay(rest.parse().map_err(|_| ClientCommandError::BadDelay)?),
        "DISCONNECT" if rest.is_empty() => ClientCommand::Disconnect,
        _ => return Err(ClientCommandError::Unknown),
    };
    Ok(Some(command))
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::key;

    /// A path that cannot be sent is refused before anything is opened,
    /// and the refusal names what is wrong with it (an empty path is not
    /// "too long").
    #[test]
    fn a_path_that_does_not_fit_is_refused_for_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let register = dir.path().join("register");
        let connect = |fifos: &ClientFifos| {
            Connection::connect_within(&register, fifos, Duration::ZERO).map(|_| ())
        };
        let too_long = ClientFifos::in_dir(dir.path(), &"x".repeat(40));
        let error = connect(&too_long).unwrap_err();
        assert!(
            matches!(error, ConnectError::Path(ProtocolError::PathTooLong(_))),
            "{error}"
        );
        let empty = ClientFifos {
            request: PathBuf::new(),
            response: dir.path().join("resp"),
            notification: dir.path().join("notif"),
        };
        let error = connect(&empty).unwrap_err();
        assert!(
            matches!(error, ConnectError::Path(ProtocolError::EmptyPath)),
            "{error}"
        );
    }

    #[test]
    fn parses_the_course_client_commands() {
        let a = key("a");
        assert_eq!(
            parse_client_line("SUBSCRIBE [a]"),
            Ok(Some(ClientCommand::Subscribe(a)))
        );
        assert_eq!(
            parse_client_line("UNSUBSCRIBE [a]\r"),
            Ok(Some(ClientCommand::Unsubscribe(a)))
        );
        assert_eq!(
            parse_client_line("DELAY 5000"),
            Ok(Some(ClientCommand::Delay(5000)))
        );
        assert_eq!(
            parse_client_line("DISCONNECT"),
            Ok(Some(ClientCommand::Disconnect))
        );
        assert_eq!(parse_client_line("  "), Ok(None));
        assert_eq!(
            parse_client_line("SUBSCRIBE a"),
            Err(ClientCommandError::BadKey)
        );
        assert_eq!(
            parse_client_line("SUBSCRIBE [a b]"),
            Err(ClientCommandError::BadKey)
        );
        assert_eq!(
            parse_client_line("DELAY x"),
            Err(ClientCommandError::BadDelay)
        );
        assert_eq!(parse_client_line("FROB"), Err(ClientCommandError::Unknown));
    }
}
