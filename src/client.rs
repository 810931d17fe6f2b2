//! The client side of the pipe protocol, used by `kvs-client`.
//!
//! A [`Connection`] creates the client's three FIFOs, sends the connect
//! request on the server's register FIFO, opens its ends and reads the
//! connect response. Requests and their responses then go over the request
//! and response pipes; notifications arrive on the notification pipe, which
//! [`Connection::take_notifications`] hands to a reader thread.

use crate::server::protocol::{
    decode_notification, ConnectRequest, Request, NOTIFICATION_LEN, OP_CONNECT,
};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    notifications: Option<File>,
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The register FIFO has no reader: no server is running there.
    #[error("no server is listening on {0}")]
    NoServer(PathBuf),
    /// A path is too long for the protocol (40 bytes at most).
    #[error("pipe path longer than 40 bytes")]
    PathTooLong,
    /// The server answered with a failure.
    #[error("the server refused the connection")]
    Refused,
    /// A system error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Connection {
    /// Connects through `register`, using `fifos` (already created).
    /// Returns the connection and the connect result byte.
    pub fn connect(register: &Path, fifos: &ClientFifos) -> Result<(Self, u8), ConnectError> {
        let request = ConnectRequest {
            request: fifos.request.clone(),
            response: fifos.response.clone(),
            notification: fifos.notification.clone(),
        }
        .encode()
        .map_err(|_| ConnectError::PathTooLong)?;
        let mut server = OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(register)
            .map_err(|e| match e.raw_os_error() {
                Some(code) if code == nix::errno::Errno::ENXIO as i32 => {
                    ConnectError::NoServer(register.to_path_buf())
                }
                _ => ConnectError::Io(e),
            })?;
        // 121 bytes, under PIPE_BUF: written whole, never interleaved.
        server.write_all(&request)?;
        drop(server);
        // The server opens its ends in whatever order these block in.
        let requests = OpenOptions::new().write(true).open(&fifos.request)?;
        let mut responses = File::open(&fifos.response)?;
        let notifications = File::open(&fifos.notification)?;
        let mut response = [0u8; 2];
        responses.read_exact(&mut response)?;
        if response[0] != OP_CONNECT {
            return Err(ConnectError::Io(io::Error::other(
                "unexpected response opcode",
            )));
        }
        let connection = Self {
            requests,
            responses,
            notifications: Some(notifications),
        };
        Ok((connection, response[1]))
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
        self.notifications.take().map(|pipe| Notifications { pipe })
    }
}

/// The notification stream of a connection.
#[derive(Debug)]
pub struct Notifications {
    pipe: File,
}

impl Iterator for Notifications {
    /// A notification's key and value bytes (NULs removed).
    type Item = (Vec<u8>, Vec<u8>);

    /// The next notification; `None` once the server closed the pipe (or it
    /// broke mid-message).
    fn next(&mut self) -> Option<Self::Item> {
        let mut message = [0u8; NOTIFICATION_LEN];
        self.pipe.read_exact(&mut message).ok()?;
        let (key, value) = decode_notification(&message);
        Some((key.to_vec(), value.to_vec()))
    }
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
    use crate::token::Token;

    #[test]
    fn parses_the_course_client_commands() {
        let a = Token::try_from("a").unwrap();
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
