//! Parsing job files: a line at a time, from a buffered reader.
//!
//! [`JobReader`] pulls lines out of a `BufRead` (one `read` system call per
//! buffer, never per byte) and hands each to [`parse_line`], which either
//! yields a [`Command`], says the line is blank or a comment, or explains
//! precisely why the line is invalid.
//!
//! Grammar (whitespace is ASCII whitespace; a trailing `\r` is whitespace):
//!
//! ```text
//! line     := ws* (comment | command)? ws*
//! comment  := '#' any*
//! command  := "WRITE" ws* '[' pair (','? pair)* ']'
//!           | ("READ" | "DELETE") ws* '[' token (',' token)* ']'
//!           | "SHOW" | "BACKUP" | "HELP"
//!           | "WAIT" ws+ digits
//! pair     := '(' token ',' token ')'
//! token    := 1 to 40 bytes, none of them whitespace, NUL or ( ) [ ] ,
//! ```
//!
//! Command words are upper case, as in the course's job files. No whitespace
//! is allowed inside the brackets: keys and values cannot hold any, so
//! `(a, b)` is a value with a leading space, which is invalid.

use super::command::{Command, Keys, Pairs};
use crate::token::{Token, TokenError};
use std::io::{self, BufRead};

/// The longest line the reader accepts, in bytes. A longer line is reported
/// as invalid and skipped, so one runaway line cannot exhaust memory.
pub const MAX_LINE_LEN: usize = 1 << 20;

/// Why a line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The first word is not a command of the language.
    #[error("unknown command")]
    UnknownCommand,
    /// A command that takes a list has no `[`.
    #[error("expected '[' after the command word")]
    MissingOpenBracket,
    /// The list is not closed by `]`.
    #[error("expected ']' at the end of the list")]
    MissingCloseBracket,
    /// A `WRITE` element is not `(key,value)`.
    #[error("expected a pair '(key,value)'")]
    MalformedPair,
    /// `[]` with nothing inside.
    #[error("the list is empty")]
    EmptyList,
    /// A key or value breaks the token rules.
    #[error("bad key or value")]
    BadToken(#[from] TokenError),
    /// Something follows a complete command.
    #[error("unexpected text after the command")]
    TrailingInput,
    /// `WAIT` without a non-negative whole number of milliseconds.
    #[error("WAIT needs a whole number of milliseconds")]
    BadDelay,
    /// The line exceeds [`MAX_LINE_LEN`].
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
}

/// What one line of a job file holds.
// The command stays inline on purpose: boxing it would put an allocation
// back on every line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A command to run.
    Command(Command),
    /// An empty, blank or comment line.
    Skip,
    /// An invalid line, and why.
    Invalid(ParseError),
}

/// Parses one line (without its `\n`).
pub fn parse_line(line: &[u8]) -> Line {
    let line = line.trim_ascii();
    if line.is_empty() || line[0] == b'#' {
        return Line::Skip;
    }
    match parse_command(line) {
        Ok(command) => Line::Command(command),
        Err(error) => Line::Invalid(error),
    }
}

fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let word_end = line
        .iter()
        .position(|&b| b == b'[' || b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let (word, rest) = line.split_at(word_end);
    match word {
        b"WRITE" => parse_list(rest, parse_pairs).map(Command::Write),
        b"READ" => parse_list(rest, parse_keys).map(Command::Read),
        b"DELETE" => parse_list(rest, parse_keys).map(Command::Delete),
        b"SHOW" => expect_end(rest).map(|()| Command::Show),
        b"BACKUP" => expect_end(rest).map(|()| Command::Backup),
        b"HELP" => expect_end(rest).map(|()| Command::Help),
        b"WAIT" => parse_delay(rest).map(Command::Wait),
        _ => Err(ParseError::UnknownCommand),
    }
}

fn expect_end(rest: &[u8]) -> Result<(), ParseError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(ParseError::TrailingInput)
    }
}

fn parse_delay(rest: &[u8]) -> Result<u64, ParseError> {
    if !rest.first().is_some_and(u8::is_ascii_whitespace) {
        return Err(ParseError::BadDelay);
    }
    let digits = rest.trim_ascii_start();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadDelay);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::BadDelay)
}

/// Strips the `[` … `]` around a list and parses its inside with `inner`.
fn parse_list<T>(
    rest: &[u8],
    inner: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b"[")
        .ok_or(ParseError::MissingOpenBracket)?;
    let body = rest
        .strip_suffix(b"]")
        .ok_or(ParseError::MissingCloseBracket)?;
    if body.is_empty() {
        return Err(ParseError::EmptyList);
    }
    inner(body)
}

fn parse_keys(body: &[u8]) -> Result<Keys, ParseError> {
    body.split(|&b| b == b',').map(parse_token).collect()
}

fn parse_pairs(mut body: &[u8]) -> Result<Pairs, ParseError> {
    let mut pairs = Pairs::new();
    loop {
        let inside = body.strip_prefix(b"(").ok_or(ParseError::MalformedPair)?;
        let close = inside
            .iter()
            .position(|&b| b == b')')
            .ok_or(ParseError::MalformedPair)?;
        let (pair, after) = (&inside[..close], &inside[close + 1..]);
        let comma = pair
            .iter()
            .position(|&b| b == b',')
            .ok_or(ParseError::MalformedPair)?;
        pairs.push((
            parse_token(&pair[..comma])?,
            parse_token(&pair[comma + 1..])?,
        ));
        // Pairs may be written back to back, `(a,b)(c,d)`, or with one comma
        // between them, `(a,b),(c,d)`, as the HELP text shows.
        body = match after {
            [] => return Ok(pairs),
            [b',', more @ ..] if !more.is_empty() => more,
            more => more,
        };
    }
}

fn parse_token(raw: &[u8]) -> Result<Token, ParseError> {
    Ok(Token::new(raw)?)
}

/// Reads a job file line by line through a reusable buffer.
#[derive(Debug)]
pub struct JobReader<R> {
    input: R,
    line: Vec<u8>,
    line_number: usize,
}

impl<R: BufRead> JobReader<R> {
    /// Wraps a buffered reader.
    pub fn new(input: R) -> Self {
        Self {
            input,
            line: Vec::with_capacity(256),
            line_number: 0,
        }
    }

    /// The 1-based number of the line last returned.
    pub fn line_number(&self) -> usize {
        self.line_number
    }

    /// The next line, parsed; `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        if let Some(line) = self.line_in_buffer()? {
            self.line_number += 1;
            return Ok(Some(line));
        }
        self.line.clear();
        let complete = read_bounded_line(&mut self.input, &mut self.line, MAX_LINE_LEN)?;
        if self.line.is_empty() && complete == LineEnd::Eof {
            return Ok(None);
        }
        self.line_number += 1;
        if complete == LineEnd::TooLong {
            return Ok(Some(Line::Invalid(ParseError::LineTooLong)));
        }
        Ok(Some(parse_line(&self.line)))
    }

    /// The next line parsed straight from the reader's buffer, when the
    /// buffer holds all of it (nearly always: lines are short), so it is
    /// not copied first. `None` leaves the input untouched for the general
    /// path (a line across buffers, the end of the input, an interrupted
    /// read); a read error is returned as it is.
    fn line_in_buffer(&mut self) -> io::Result<Option<Line>> {
        let available = match self.input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(end) = memchr::memchr(b'\n', available).filter(|&end| end <= MAX_LINE_LEN) else {
            return Ok(None);
        };
        let line = parse_line(&available[..end]);
        self.input.consume(end + 1);
        Ok(Some(line))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LineEnd {
    Newline,
    Eof,
    TooLong,
}

/// Appends bytes up to the next `\n` (consumed, not stored) to `line`. A line
/// over `limit` bytes is consumed to its end but only its first `limit` bytes
/// are kept, and reported as [`LineEnd::TooLong`].
fn read_bounded_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<LineEnd> {
    let mut too_long = false;
    loop {
        let available = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if too_long {
                LineEnd::TooLong
            } else {
                LineEnd::Eof
            });
        }
        let (chunk, found_newline) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], true),
            None => (available, false),
        };
        let room = limit.saturating_sub(line.len());
        if chunk.len() > room {
            too_long = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let consumed = chunk.len() + usize::from(found_newline);
        input.consume(consumed);
        if found_newline {
            return Ok(if too_long {
                LineEnd::TooLong
            } else {
                LineEnd::Newline
            });
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn t(s: &str) -> Token {
        Token::try_from(s).unwrap()
    }

    fn cmd(line: &str) -> Command {
        match parse_line(line.as_bytes()) {
            Line::Command(c) => c,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    fn invalid(line: &str) -> ParseError {
        match parse_line(line.as_bytes()) {
            Line::Invalid(e) => e,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(
            cmd("WRITE [(a,anna)(b,bernardo)]"),
            Command::Write(smallvec![(t("a"), t("anna")), (t("b"), t("bernardo"))])
        );
        assert_eq!(cmd("READ [x,z]"), Command::Read(smallvec![t("x"), t("z")]));
        assert_eq!(cmd("DELETE [c]"), Command::Delete(smallvec![t("c")]));
        assert_eq!(cmd("SHOW"), Command::Show);
        assert_eq!(cmd("WAIT 20000"), Command::Wait(20000));
        assert_eq!(cmd("BACKUP"), Command::Backup);
        assert_eq!(cmd("HELP"), Command::Help);
    }

    #[test]
    fn accepts_the_help_texts_comma_between_pairs_and_no_space_before_bracket() {
        assert_eq!(cmd("WRITE [(a,1),(b,2)]"), cmd("WRITE [(a,1)(b,2)]"));
        assert_eq!(cmd("DELETE[a,b]"), cmd("DELETE [a,b]"));
        assert_eq!(cmd("  SHOW \r"), Command::Show);
    }

    #[test]
    fn skips_blank_and_comment_lines() {
        for line in ["", "   ", "# comment", "#", "\r"] {
            assert_eq!(parse_line(line.as_bytes()), Line::Skip, "{line:?}");
        }
    }

    #[test]
    fn explains_invalid_lines() {
        assert_eq!(
            invalid("WRITE [.my.key,my_value]"),
            ParseError::MalformedPair
        );
        assert_eq!(invalid("WRITE [ola,ola]"), ParseError::MalformedPair);
        assert_eq!(invalid("FROB"), ParseError::UnknownCommand);
        assert_eq!(invalid("show"), ParseError::UnknownCommand);
        assert_eq!(invalid("READ a,b"), ParseError::MissingOpenBracket);
        assert_eq!(invalid("READ [a,b"), ParseError::MissingCloseBracket);
        assert_eq!(invalid("READ []"), ParseError::EmptyList);
        assert_eq!(
            invalid("READ [a,,b]"),
            ParseError::BadToken(TokenError::Empty)
        );
        assert_eq!(
            invalid("WRITE [(a, b)]"),
            ParseError::BadToken(TokenError::ForbiddenByte(b' '))
        );
        assert_eq!(
            invalid("WRITE [(a,b)(c,d)"),
            ParseError::MissingCloseBracket
        );
        assert_eq!(invalid("WRITE [(a,b),]"), ParseError::MalformedPair);
        assert_eq!(
            invalid("WRITE [(a,b,c)]"),
            ParseError::BadToken(TokenError::ForbiddenByte(b','))
        );
        assert_eq!(invalid("SHOW now"), ParseError::TrailingInput);
        assert_eq!(invalid("WAIT"), ParseError::BadDelay);
        assert_eq!(invalid("WAIT -1"), ParseError::BadDelay);
        assert_eq!(invalid("WAIT10"), ParseError::UnknownCommand);
        assert_eq!(
            invalid("WAIT 99999999999999999999999"),
            ParseError::BadDelay
        );
        let long = format!("READ [{}]", "k".repeat(41));
        assert_eq!(invalid(&long), ParseError::BadToken(TokenError::TooLong));
    }

    #[test]
    fn reader_numbers_lines_and_bounds_their_length() {
        let mut text = b"SHOW\n\n# c\r\nHELP".to_vec();
        text.extend(b"\nREAD [");
        text.extend(std::iter::repeat_n(b'a', MAX_LINE_LEN));
        text.extend(b"]\nBACKUP\n");
        let mut reader = JobReader::new(&text[..]);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            lines.push((reader.line_number(), line));
        }
        assert_eq!(
            lines,
            vec![
                (1, Line::Command(Command::Show)),
                (2, Line::Skip),
                (3, Line::Skip),
                (4, Line::Command(Command::Help)),
                (5, Line::Invalid(ParseError::LineTooLong)),
                (6, Line::Command(Command::Backup)),
            ]
        );
    }

    #[test]
    fn display_round_trips() {
        for line in [
            "WRITE [(a,1)(b,2)]",
            "READ [a,b,a]",
            "DELETE [x]",
            "SHOW",
            "WAIT 5",
            "BACKUP",
            "HELP",
        ] {
            assert_eq!(cmd(line).to_string(), line);
        }
    }
}
