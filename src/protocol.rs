//! The named-pipe protocol's messages, byte for byte (SPEC §4).
//!
//! Every fixed-size string is a NUL-padded byte array; opcodes and results
//! are single bytes holding the numbers 1–4 and 0–1 (not ASCII digits).
//!
//! | message | bytes |
//! |---|---|
//! | connect request | `1` · req_path\[40\] · resp_path\[40\] · notif_path\[40\] |
//! | connect response | `1` · result |
//! | disconnect request / response | `2` / `2` · result |
//! | subscribe request / response | `3` · key\[41\] / `3` · result |
//! | unsubscribe request / response | `4` · key\[41\] / `4` · result |
//! | notification | key\[41\] · value\[41\] |
//!
//! [`pipe`] moves these bytes over non-blocking FIFOs, the same way on the
//! server's end and on the client's. Both ends depend on this module, and it
//! depends on nothing of either: the client knows the wire, not the server.

pub mod pipe;

use crate::token::{Key, Token, TokenError, Value, MAX_TOKEN_LEN};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The connect opcode.
pub const OP_CONNECT: u8 = 1;
/// The disconnect opcode.
pub const OP_DISCONNECT: u8 = 2;
/// The subscribe opcode.
pub const OP_SUBSCRIBE: u8 = 3;
/// The unsubscribe opcode.
pub const OP_UNSUBSCRIBE: u8 = 4;

/// The length of a path field in a connect request.
pub const PATH_FIELD_LEN: usize = 40;
/// The length of a key or value field.
pub const TOKEN_FIELD_LEN: usize = MAX_TOKEN_LEN + 1;
/// The length of a connect request.
pub const CONNECT_REQUEST_LEN: usize = 1 + 3 * PATH_FIELD_LEN;
/// The length of a notification.
pub const NOTIFICATION_LEN: usize = 2 * TOKEN_FIELD_LEN;
/// The value a notification carries for a deleted key.
pub const DELETED: &[u8] = b"DELETED";

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The first byte is not an opcode this message may have.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    /// A path field is empty.
    #[error("empty pipe path")]
    EmptyPath,
    /// A path is longer than the 40-byte field it must fit in (its length).
    #[error("pipe path of {0} bytes is longer than the {PATH_FIELD_LEN}-byte field")]
    PathTooLong(usize),
    /// A path field holds a control byte, or bytes after its NUL padding
    /// (or a path to encode holds a NUL).
    #[error("malformed pipe path")]
    BadPath,
    /// A key field is not a valid key.
    #[error("bad key")]
    BadKey(#[from] TokenError),
    /// A key field of 41 bytes has no NUL.
    #[error("key field not NUL-terminated")]
    UnterminatedKey,
}

/// The three pipes a client asks the server to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Where the client writes requests.
    pub request: PathBuf,
    /// Where the server writes responses.
    pub response: PathBuf,
    /// Where the server writes notifications.
    pub notification: PathBuf,
}

impl ConnectRequest {
    /// Parses a whole connect request.
    pub fn decode(bytes: &[u8; CONNECT_REQUEST_LEN]) -> Result<Self, ProtocolError> {
        if bytes[0] != OP_CONNECT {
            return Err(ProtocolError::UnknownOpcode(bytes[0]));
        }
        let field =
            |i: usize| path_field(&bytes[1 + i * PATH_FIELD_LEN..1 + (i + 1) * PATH_FIELD_LEN]);
        Ok(Self {
            request: field(0)?,
            response: field(1)?,
            notification: field(2)?,
        })
    }

    /// The request's bytes (used by the client).
    pub fn encode(&self) -> Result<[u8; CONNECT_REQUEST_LEN], ProtocolError> {
        let mut bytes = [0u8; CONNECT_REQUEST_LEN];
        bytes[0] = OP_CONNECT;
        for (i, path) in [&self.request, &self.response, &self.notification]
            .into_iter()
            .enumerate()
        {
            let raw = encodable_path(path)?;
            bytes[1 + i * PATH_FIELD_LEN..][..raw.len()].copy_from_slice(raw);
        }
        Ok(bytes)
    }
}

/// The bytes of `path`, if they fit a path field: 1 to 40 bytes, no NUL.
fn encodable_path(path: &Path) -> Result<&[u8], ProtocolError> {
    let raw = path.as_os_str().as_bytes();
    if raw.is_empty() {
        return Err(ProtocolError::EmptyPath);
    }
    if raw.len() > PATH_FIELD_LEN {
        return Err(ProtocolError::PathTooLong(raw.len()));
    }
    if raw.contains(&0) {
        return Err(ProtocolError::BadPath);
    }
    Ok(raw)
}

/// A path field: up to 40 bytes, NUL-padded (a 40-byte path has no NUL).
/// Control bytes in the path, or anything but NULs after it, mean the field
/// is not a path (the host uses this to resynchronize after garbage).
fn path_field(field: &[u8]) -> Result<PathBuf, ProtocolError> {
    let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let (path, padding) = field.split_at(len);
    if path.is_empty() {
        return Err(ProtocolError::EmptyPath);
    }
    if path.iter().any(|&b| b < 0x20 || b == 0x7f) || padding.iter().any(|&b| b != 0) {
        return Err(ProtocolError::BadPath);
    }
    Ok(PathBuf::from(OsStr::from_bytes(path)))
}

/// A request on a session's request pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// End the session.
    Disconnect,
    /// Subscribe to a key.
    Subscribe(Key),
    /// Unsubscribe from a key.
    Unsubscribe(Key),
}

impl Request {
    /// How many bytes follow the opcode `op`, or `None` for an opcode that is
    /// not a session request.
    pub fn body_len(op: u8) -> Option<usize> {
        match op {
            OP_DISCONNECT => Some(0),
            OP_SUBSCRIBE | OP_UNSUBSCRIBE => Some(TOKEN_FIELD_LEN),
            _ => None,
        }
    }

    /// Parses a request from its opcode and exactly `body_len(op)` bytes.
    pub fn decode(op: u8, body: &[u8]) -> Result<Self, ProtocolError> {
        match op {
            OP_DISCONNECT => Ok(Request::Disconnect),
            OP_SUBSCRIBE => Ok(Request::Subscribe(key_field(body)?)),
            OP_UNSUBSCRIBE => Ok(Request::Unsubscribe(key_field(body)?)),
            other => Err(ProtocolError::UnknownOpcode(other)),
        }
    }

    /// The request's bytes (used by the client).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Disconnect => vec![OP_DISCONNECT],
            Request::Subscribe(key) => key_request(OP_SUBSCRIBE, key),
            Request::Unsubscribe(key) => key_request(OP_UNSUBSCRIBE, key),
        }
    }

    /// The opcode of the request.
    pub fn opcode(&self) -> u8 {
        match self {
            Request::Disconnect => OP_DISCONNECT,
            Request::Subscribe(_) => OP_SUBSCRIBE,
            Request::Unsubscribe(_) => OP_UNSUBSCRIBE,
        }
    }
}

fn key_request(op: u8, key: &Key) -> Vec<u8> {
    let mut bytes = vec![op];
    bytes.extend_from_slice(&key.to_padded_field());
    bytes
}

/// A 41-byte NUL-padded key field.
fn key_field(field: &[u8]) -> Result<Key, ProtocolError> {
    let len = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(ProtocolError::UnterminatedKey)?;
    Ok(Token::new(&field[..len])?)
}

/// A response: the request's opcode and a result byte.
pub fn encode_response(op: u8, result: u8) -> [u8; 2] {
    [op, result]
}

/// A notification of a new value, or of a deletion when `value` is `None`.
pub fn encode_notification(key: &Key, value: Option<&Value>) -> [u8; NOTIFICATION_LEN] {
    let mut bytes = [0u8; NOTIFICATION_LEN];
    bytes[..TOKEN_FIELD_LEN].copy_from_slice(&key.to_padded_field());
    let value_bytes = value.map_or(DELETED, Value::as_bytes);
    bytes[TOKEN_FIELD_LEN..][..value_bytes.len()].copy_from_slice(value_bytes);
    bytes
}

/// Splits a notification into its key and value bytes (NULs removed).
pub fn decode_notification(bytes: &[u8; NOTIFICATION_LEN]) -> (&[u8], &[u8]) {
    let field = |f: &'_ [u8]| -> usize { f.iter().position(|&b| b == 0).unwrap_or(f.len()) };
    let (key, value) = bytes.split_at(TOKEN_FIELD_LEN);
    (&key[..field(key)], &value[..field(value)])
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::{key, value};

    #[test]
    fn connect_request_round_trips_and_allows_a_40_byte_path() {
        let long = format!("/tmp/{}", "p".repeat(35));
        let request = ConnectRequest {
            request: "/tmp/req1".into(),
            response: long.clone().into(),
            notification: "/tmp/notif1".into(),
        };
        let bytes = request.encode().unwrap();
        assert_eq!(bytes.len(), 121);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..10], b"/tmp/req1");
        assert_eq!(bytes[10], 0);
        assert_eq!(ConnectRequest::decode(&bytes).unwrap(), request);
        assert_eq!(
            ConnectRequest::decode(&bytes).unwrap().response,
            PathBuf::from(long)
        );
    }

    #[test]
    fn a_path_that_cannot_be_encoded_says_why() {
        let request = |path: &str| ConnectRequest {
            request: "/tmp/req1".into(),
            response: "/tmp/resp1".into(),
            notification: path.into(),
        };
        let long = format!("/tmp/{}", "p".repeat(36));
        assert_eq!(request(&long).encode(), Err(ProtocolError::PathTooLong(41)));
        assert_eq!(request("").encode(), Err(ProtocolError::EmptyPath));
        assert_eq!(request("/tmp/a\0b").encode(), Err(ProtocolError::BadPath));
    }

    #[test]
    fn rejects_garbage_connect_requests() {
        let mut bytes = [0u8; CONNECT_REQUEST_LEN];
        assert_eq!(
            ConnectRequest::decode(&bytes),
            Err(ProtocolError::UnknownOpcode(0))
        );
        bytes[0] = OP_CONNECT;
        assert_eq!(
            ConnectRequest::decode(&bytes),
            Err(ProtocolError::EmptyPath)
        );
    }

    #[test]
    fn requests_round_trip() {
        for request in [
            Request::Disconnect,
            Request::Subscribe(key("a")),
            Request::Unsubscribe(key("key")),
        ] {
            let bytes = request.encode();
            let op = bytes[0];
            assert_eq!(Request::body_len(op), Some(bytes.len() - 1));
            assert_eq!(Request::decode(op, &bytes[1..]), Ok(request));
        }
        assert_eq!(Request::encode(&Request::Subscribe(key("a"))).len(), 42);
    }

    #[test]
    fn rejects_bad_key_fields() {
        assert_eq!(
            Request::decode(3, &[b'a'; 41]),
            Err(ProtocolError::UnterminatedKey)
        );
        assert!(matches!(
            Request::decode(3, &[0; 41]),
            Err(ProtocolError::BadKey(_))
        ));
        assert_eq!(Request::body_len(1), None);
        assert_eq!(Request::body_len(9), None);
    }

    #[test]
    fn notifications_are_82_nul_padded_bytes() {
        let bytes = encode_notification(&key("a"), Some(&value("anna")));
        assert_eq!(bytes.len(), 82);
        assert_eq!(&bytes[..2], b"a\0");
        assert_eq!(&bytes[41..46], b"anna\0");
        assert_eq!(decode_notification(&bytes), (&b"a"[..], &b"anna"[..]));
        let deleted = encode_notification(&key("a"), None);
        assert_eq!(decode_notification(&deleted), (&b"a"[..], &b"DELETED"[..]));
    }

    #[test]
    fn a_path_field_with_a_control_byte_or_trailing_garbage_is_not_a_path() {
        let field = |raw: &[u8]| {
            let mut bytes = [0u8; PATH_FIELD_LEN];
            bytes[..raw.len()].copy_from_slice(raw);
            path_field(&bytes)
        };
        for bad in [
            &b"/tmp/a\x01"[..],
            b"/tmp/\x1fa",
            b"/tmp/a\x7f",
            b"/tmp/a\0b",
        ] {
            assert_eq!(field(bad), Err(ProtocolError::BadPath), "{bad:?}");
        }
        for good in [&b"/tmp/a b"[..], b"/tmp/~a", b"/tmp/\x80"] {
            let path = field(good).unwrap();
            assert_eq!(path.as_os_str().as_bytes(), good);
        }
    }

    #[test]
    fn opcodes_and_responses_are_the_specs_numbers() {
        assert_eq!(Request::Disconnect.opcode(), 2);
        assert_eq!(Request::Subscribe(key("a")).opcode(), 3);
        assert_eq!(Request::Unsubscribe(key("a")).opcode(), 4);
        assert_eq!(encode_response(3, 1), [3, 1]);
        assert_eq!(encode_response(2, 0), [2, 0]);
    }
}
