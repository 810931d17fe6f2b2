//! Parsing job files: a line at a time, from a buffered reader.
//!
//! [`JobReader`] pulls lines out of a `BufRead` (one `read` system call per
//! buffer, never per byte) and hands each to [`parse_line_into`], which
//! either leaves a [`Command`] in the caller's buffer, says the line is blank
//! or a comment, or explains precisely why the line is invalid.
//!
//! Two parsers, one language: the fast path reads a `WRITE`, `READ` or
//! `DELETE` line (and blank and comment lines) in one pass, checking and
//! copying each token as it scans, into the list the caller's command
//! already holds (no command value is moved per line). Any byte it does not
//! expect sends the line to the careful path, which splits the line by its
//! delimiters and is the one that names an invalid line's error. Invariant:
//! the fast path accepts only lines the careful path accepts, and yields the
//! same command for them (a proptest below checks this on arbitrary lines).
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
use crate::token::{scan_token_bytes, Token, TokenError, MAX_TOKEN_LEN};
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

/// What one line of a job file held, its command (if any) left in the
/// buffer [`parse_line_into`] was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A command, now in the caller's buffer.
    Command,
    /// An empty, blank or comment line.
    Skip,
    /// An invalid line, and why.
    Invalid(ParseError),
}

/// Parses one line (without its `\n`).
pub fn parse_line(line: &[u8]) -> Line {
    let mut command = Command::Show;
    match parse_line_into(line, &mut command) {
        Parsed::Command => Line::Command(command),
        Parsed::Skip => Line::Skip,
        Parsed::Invalid(error) => Line::Invalid(error),
    }
}

/// Parses one line (without its `\n`) into `command`, reusing the key or
/// pair list it holds when the line is the same kind of command. Unless the
/// line is [`Parsed::Command`], `command` holds nothing meaningful after.
pub fn parse_line_into(line: &[u8], command: &mut Command) -> Parsed {
    match parse_fast(line, command) {
        Some((parsed, end)) if end == line.len() => parsed,
        _ => parse_careful_into(line, command),
    }
}

/// The careful path's answer for `line`, its command put in `command`.
fn parse_careful_into(line: &[u8], command: &mut Command) -> Parsed {
    match parse_careful(line) {
        Ok(Some(parsed)) => {
            *command = parsed;
            Parsed::Command
        }
        Ok(None) => Parsed::Skip,
        Err(error) => Parsed::Invalid(error),
    }
}

/// The fast path (see the module's doc) on the text from a line's start:
/// what the line holds, and where it ends (its `\n`, or the end of `text`).
/// Finding the end as it parses spares the reader a separate search for
/// it. `None` sends the line to the careful path.
fn parse_fast(text: &[u8], command: &mut Command) -> Option<(Parsed, usize)> {
    let start = skip_blanks(text, 0);
    let rest = &text[start..];
    let list_end = match rest.first() {
        None => return Some((Parsed::Skip, start)),
        Some(b'\n') => return Some((Parsed::Skip, start)),
        Some(b'#') => {
            let end = memchr::memchr(b'\n', rest).map_or(text.len(), |i| start + i);
            return Some((Parsed::Skip, end));
        }
        Some(b'W') if rest.starts_with(b"WRITE") => {
            let open = open_bracket(text, start + b"WRITE".len())?;
            pairs_into(command, |pairs| scan_pairs(text, open, pairs))?
        }
        Some(b'R') if rest.starts_with(b"READ") => {
            let open = open_bracket(text, start + b"READ".len())?;
            keys_into(command, false, |keys| scan_keys(text, open, keys))?
        }
        Some(b'D') if rest.starts_with(b"DELETE") => {
            let open = open_bracket(text, start + b"DELETE".len())?;
            keys_into(command, true, |keys| scan_keys(text, open, keys))?
        }
        _ => return None,
    };
    let end = skip_blanks(text, list_end);
    matches!(text.get(end), None | Some(b'\n')).then_some((Parsed::Command, end))
}

/// The position of the first byte from `at` on that is not whitespace
/// within the line (a `\n` ends the line, so it is not skipped).
fn skip_blanks(text: &[u8], at: usize) -> usize {
    let blanks = text.get(at..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&b| b.is_ascii_whitespace() && b != b'\n')
            .count()
    });
    at + blanks
}

/// The position just past the `[` that follows a command word ending at
/// `word_end` (after any whitespace).
fn open_bracket(line: &[u8], word_end: usize) -> Option<usize> {
    expect(line, skip_blanks(line, word_end), b'[')
}

/// Runs `scan` on the pairs of `command`, made a `WRITE` first unless it
/// already is one (so a run of writes fills one list).
fn pairs_into(
    command: &mut Command,
    scan: impl FnOnce(&mut Pairs) -> Option<usize>,
) -> Option<usize> {
    if let Command::Write(pairs) = command {
        return scan(pairs);
    }
    *command = Command::Write(Pairs::new());
    match command {
        Command::Write(pairs) => scan(pairs),
        _ => None,
    }
}

/// Runs `scan` on the keys of `command`, made a `DELETE` (`delete`) or a
/// `READ` first unless it already is that command.
fn keys_into(
    command: &mut Command,
    delete: bool,
    scan: impl FnOnce(&mut Keys) -> Option<usize>,
) -> Option<usize> {
    match command {
        Command::Delete(keys) if delete => return scan(keys),
        Command::Read(keys) if !delete => return scan(keys),
        _ => {}
    }
    *command = if delete {
        Command::Delete(Keys::new())
    } else {
        Command::Read(Keys::new())
    };
    match command {
        Command::Delete(keys) | Command::Read(keys) => scan(keys),
        _ => None,
    }
}

/// Reads `key,key,...]` from `at` into `keys`; the position past the `]`.
fn scan_keys(line: &[u8], mut at: usize, keys: &mut Keys) -> Option<usize> {
    keys.clear();
    loop {
        let mut key = [0; MAX_TOKEN_LEN];
        let len = scan_token_bytes(line.get(at..)?, &mut key)?;
        keys.push(Token::from_scanned(key, len));
        let end = at + len;
        match line.get(end)? {
            b',' => at = end + 1,
            b']' => return Some(end + 1),
            _ => return None,
        }
    }
}

/// Reads `(k,v)(k,v),...]` from `at` into `pairs`; the position past the `]`.
fn scan_pairs(line: &[u8], mut at: usize, pairs: &mut Pairs) -> Option<usize> {
    pairs.clear();
    loop {
        // Made tokens only in the push: returned, each is copied twice more.
        let (mut key, mut value) = ([0; MAX_TOKEN_LEN], [0; MAX_TOKEN_LEN]);
        let at_key = expect(line, at, b'(')?;
        let key_len = scan_token_bytes(line.get(at_key..)?, &mut key)?;
        let at_value = expect(line, at_key + key_len, b',')?;
        let value_len = scan_token_bytes(line.get(at_value..)?, &mut value)?;
        at = expect(line, at_value + value_len, b')')?;
        pairs.push((
            Token::from_scanned(key, key_len),
            Token::from_scanned(value, value_len),
        ));
        match line.get(at)? {
            b']' => return Some(at + 1),
            b',' => at += 1,
            _ => {}
        }
    }
}

/// The position past `byte`, if `byte` is at `at`.
fn expect(line: &[u8], at: usize, byte: u8) -> Option<usize> {
    (line.get(at) == Some(&byte)).then_some(at + 1)
}

/// The careful path (see the module's doc): the command, `None` for a blank
/// or comment line, or why the line is invalid.
fn parse_careful(line: &[u8]) -> Result<Option<Command>, ParseError> {
    let line = line.trim_ascii();
    if line.is_empty() || line[0] == b'#' {
        return Ok(None);
    }
    parse_command(line).map(Some)
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
        // between them, `(a,b),(c,d)`, as the HELP text shows. A comma with
        // nothing after it leaves an empty rest, which the next turn rejects
        // as a malformed pair.
        body = match after {
            [] => return Ok(pairs),
            [b',', more @ ..] => more,
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
        let mut command = Command::Show;
        Ok(self.next_into(&mut command)?.map(|parsed| match parsed {
            Parsed::Command => Line::Command(command),
            Parsed::Skip => Line::Skip,
            Parsed::Invalid(error) => Line::Invalid(error),
        }))
    }

    /// The next line, parsed into `command` (see [`parse_line_into`]);
    /// `None` at the end of the input.
    pub fn next_into(&mut self, command: &mut Command) -> io::Result<Option<Parsed>> {
        if let Some(parsed) = self.line_in_buffer(command)? {
            self.line_number += 1;
            return Ok(Some(parsed));
        }
        self.line.clear();
        let complete = read_bounded_line(&mut self.input, &mut self.line, MAX_LINE_LEN)?;
        if self.line.is_empty() && complete == LineEnd::Eof {
            return Ok(None);
        }
        self.line_number += 1;
        if complete == LineEnd::TooLong {
            return Ok(Some(Parsed::Invalid(ParseError::LineTooLong)));
        }
        Ok(Some(parse_line_into(&self.line, command)))
    }

    /// The next line parsed straight from the reader's buffer, when the
    /// buffer holds all of it (nearly always: lines are short), so it is
    /// not copied first. `None` leaves the input untouched for the general
    /// path (a line across buffers, the end of the input, an interrupted
    /// read); a read error is returned as it is.
    fn line_in_buffer(&mut self, command: &mut Command) -> io::Result<Option<Parsed>> {
        let available = match self.input.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(e),
        };
        // The fast path finds the line's end as it parses; any other line
        // is searched for its end first.
        let (parsed, end) = match parse_fast(available, command) {
            Some((parsed, end)) if end < available.len() => (parsed, end),
            _ => {
                let Some(end) = memchr::memchr(b'\n', available) else {
                    return Ok(None);
                };
                (parse_careful_into(&available[..end], command), end)
            }
        };
        if end > MAX_LINE_LEN {
            return Ok(None);
        }
        self.input.consume(end + 1);
        Ok(Some(parsed))
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
        // Rust's integer parser takes a leading `+`; the job language does not.
        assert_eq!(invalid("WAIT +5"), ParseError::BadDelay);
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

    /// A line of exactly [`MAX_LINE_LEN`] bytes is read as any other; one
    /// byte more is too long.
    #[test]
    fn a_line_of_the_longest_length_is_read_and_one_more_byte_is_too_long() {
        let mut text = Vec::new();
        for length in [MAX_LINE_LEN, MAX_LINE_LEN + 1] {
            text.push(b'#');
            text.extend(std::iter::repeat_n(b'a', length - 1));
            text.push(b'\n');
        }
        // A small buffer, so that the lines are collected across reads.
        let lines = within_deadline(move || {
            let mut reader = JobReader::new(io::BufReader::with_capacity(4096, &text[..]));
            [(); 3].map(|()| reader.next_line().unwrap())
        });
        assert_eq!(
            lines,
            [
                Some(Line::Skip),
                Some(Line::Invalid(ParseError::LineTooLong)),
                None
            ]
        );
    }

    /// Runs `read` on a thread of its own and fails if it has not returned
    /// after 30 s: a reader that loops forever fails the test instead of
    /// hanging the unit-test binary, which has no deadline of its own.
    fn within_deadline<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(read());
        });
        result
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the reader did not return within 30 s")
    }

    /// The last line needs no `\n`, and after it the input ends. (At most
    /// ten reads: a reader that never ends fails here instead of hanging.)
    #[test]
    fn a_last_line_without_a_newline_is_read() {
        let lines = within_deadline(|| {
            let mut reader = JobReader::new(&b"SHOW\nHELP"[..]);
            let mut lines = Vec::new();
            for _ in 0..10 {
                match reader.next_line().unwrap() {
                    Some(line) => lines.push(line),
                    None => break,
                }
            }
            lines
        });
        assert_eq!(
            lines,
            vec![Line::Command(Command::Show), Line::Command(Command::Help)]
        );
    }

    use proptest::prelude::*;

    /// A valid `WRITE`, `READ` or `DELETE` line, in any of the spellings
    /// the grammar allows (spaces around it and before the bracket, pairs
    /// back to back or comma-separated).
    fn list_lines() -> impl Strategy<Value = Vec<u8>> {
        let token = prop::sample::select(vec![
            "a",
            "bb",
            "k7",
            "\u{e9}",
            "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
        ]);
        let space = prop::sample::select(vec!["", " ", "\t", "\r", " \r"]);
        (
            prop::sample::select(vec!["WRITE", "READ", "DELETE"]),
            prop::collection::vec((token.clone(), token), 1..4),
            (space.clone(), space.clone(), space),
            any::<bool>(),
        )
            .prop_map(|(word, tokens, (lead, gap, trail), commas)| {
                let list: Vec<String> = if word == "WRITE" {
                    tokens.iter().map(|(k, v)| format!("({k},{v})")).collect()
                } else {
                    tokens.iter().map(|(k, _)| k.to_string()).collect()
                };
                let separator = if word == "WRITE" && !commas { "" } else { "," };
                format!("{lead}{word}{gap}[{}]{trail}", list.join(separator)).into_bytes()
            })
    }

    /// Lines near the grammar: a valid list line, often with one byte
    /// replaced, inserted or removed (by a delimiter, a space, a NUL, ...).
    fn near_lines() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop::sample::select(b" []()#,\r\t\x0b\0aW".to_vec());
        let edit = prop::option::weighted(0.8, (any::<prop::sample::Index>(), 0..3u8, byte));
        (list_lines(), edit).prop_map(|(mut line, edit)| {
            if let Some((at, kind, byte)) = edit {
                let at = at.index(line.len());
                match kind {
                    0 => line[at] = byte,
                    1 => line.insert(at, byte),
                    _ => drop(line.remove(at)),
                }
            }
            line
        })
    }

    /// What the caller's buffer holds before the line is parsed into it.
    fn earlier_command() -> impl Strategy<Value = Command> {
        prop::sample::select(vec![
            "SHOW",
            "READ [z,y]",
            "DELETE [y]",
            "WRITE [(p,q)(r,s)]",
        ])
        .prop_map(cmd)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn the_fast_path_agrees_with_the_careful_path(
            line in near_lines(),
            mut command in earlier_command(),
        ) {
            let careful = parse_careful(&line);
            // In a reader's buffer, the line is followed by its `\n` and
            // more lines: the fast path must end it at that `\n`.
            let mut buffered = line.clone();
            buffered.extend_from_slice(b"\nREAD [next]\n");
            let mut from_buffer = command.clone();
            let in_buffer = parse_fast(&buffered, &mut from_buffer);
            let alone = parse_fast(&line, &mut command);
            prop_assert_eq!(
                in_buffer.as_ref().map(|(parsed, end)| (parsed, *end)),
                alone.as_ref().map(|(parsed, end)| (parsed, *end))
            );
            prop_assert!(alone.as_ref().is_none_or(|&(_, end)| end == line.len()));
            if let Some((Parsed::Command, _)) = alone {
                prop_assert_eq!(&from_buffer, &command);
            }
            match alone.map(|(parsed, _)| parsed) {
                Some(Parsed::Command) => prop_assert_eq!(careful, Ok(Some(command))),
                Some(Parsed::Skip) => prop_assert_eq!(careful, Ok(None)),
                Some(Parsed::Invalid(error)) => prop_assert!(false, "fast path explained {:?}", error),
                None => prop_assert!(
                    !matches!(careful, Ok(Some(Command::Write(_) | Command::Read(_) | Command::Delete(_))) | Ok(None)),
                    "fast path gave up on {:?}", String::from_utf8_lossy(&line)
                ),
            }
        }
    }

    #[test]
    fn reuses_the_callers_list_and_switches_command_kinds() {
        let mut command = cmd("READ [a,b,c]");
        assert_eq!(parse_line_into(b"READ [x]", &mut command), Parsed::Command);
        assert_eq!(command, cmd("READ [x]"));
        assert_eq!(
            parse_line_into(b"DELETE [y,z]", &mut command),
            Parsed::Command
        );
        assert_eq!(command, cmd("DELETE [y,z]"));
        assert_eq!(
            parse_line_into(b" WRITE [(k,v)] \r", &mut command),
            Parsed::Command
        );
        assert_eq!(command, cmd("WRITE [(k,v)]"));
        assert_eq!(parse_line_into(b"SHOW", &mut command), Parsed::Command);
        assert_eq!(command, Command::Show);
        assert_eq!(
            parse_line_into(b"READ [a,]", &mut command),
            Parsed::Invalid(ParseError::BadToken(TokenError::Empty))
        );
    }

    /// The fast path reads blank, comment and list lines itself, each to
    /// its `\n` (or the end), and gives every other line to the careful
    /// path: the proptest below checks that what it reads agrees with the
    /// careful path, this that it reads these at all, and where they end.
    #[test]
    fn the_fast_path_reads_blank_comment_and_list_lines_to_their_end() {
        let fast = |text: &str| {
            let mut command = Command::Show;
            parse_fast(text.as_bytes(), &mut command).map(|(parsed, end)| match parsed {
                Parsed::Command => (Some(command), end),
                Parsed::Skip => (None, end),
                Parsed::Invalid(error) => panic!("{text:?}: fast path explained {error:?}"),
            })
        };
        for (text, end) in [
            ("", 0),
            ("   ", 3),
            ("\n", 0),
            (" \t\r\nSHOW", 3),
            ("# note\nREAD [a]", 6),
            ("  # note", 8),
            ("  #\n", 3),
        ] {
            assert_eq!(fast(text), Some((None, end)), "{text:?}");
        }
        for (text, line, end) in [
            ("READ [a,b] \r\nSHOW", "READ [a,b]", 12),
            ("  READ [a]", "READ [a]", 10),
            ("DELETE[a]", "DELETE [a]", 9),
            ("\tDELETE [a,b]\n", "DELETE [a,b]", 13),
            ("WRITE [(a,1),(b,2)]\n", "WRITE [(a,1)(b,2)]", 19),
            ("  WRITE [(a,1)(b,2)] ", "WRITE [(a,1)(b,2)]", 21),
        ] {
            assert_eq!(fast(text), Some((Some(cmd(line)), end)), "{text:?}");
        }
        for text in [
            "SHOW",
            "WAIT 5",
            "WRONG[(a,1)]",
            "REAL[a]",
            "DELAYS[a]",
            "READ a",
            "READ [a] x",
            "READ [a,]",
            "READ [a;",
            "WRITE [(a,1)",
            "WRITE [(a,1)x]",
            "WRITE [(a,1),]",
        ] {
            assert_eq!(fast(text), None, "{text:?}");
        }
    }

    /// `parse_line_into` keeps the caller's list, spilled to the heap by an
    /// earlier long line, for a line of the same command (the point of
    /// parsing into the caller's buffer: no allocation per line).
    #[test]
    fn a_list_line_reuses_the_callers_spilled_list() {
        for (long, short) in [
            ("READ [a,b,c,d,e]", "READ [x]"),
            ("DELETE [a,b,c,d,e]", "DELETE [x]"),
            ("WRITE [(a,1)(b,2)(c,3)(d,4)(e,5)]", "WRITE [(x,1)]"),
        ] {
            let mut command = cmd(long);
            assert_eq!(
                parse_line_into(short.as_bytes(), &mut command),
                Parsed::Command
            );
            assert_eq!(command, cmd(short));
            let spilled = match &command {
                Command::Read(keys) | Command::Delete(keys) => keys.spilled(),
                Command::Write(pairs) => pairs.spilled(),
                _ => false,
            };
            assert!(spilled, "{short:?} after {long:?}: the list was replaced");
        }
    }

    /// A line handed over with a `\n` inside is not cut at it: the fast
    /// path's end must be the line's end.
    #[test]
    fn a_line_is_not_cut_at_a_newline_inside_it() {
        assert_eq!(
            parse_line(b"READ [a]\nSHOW"),
            Line::Invalid(ParseError::MissingCloseBracket)
        );
    }

    /// A reader that hands out `chunks` one per read (an error of its kind
    /// in place of a chunk), then end-of-file.
    struct Chunks(std::collections::VecDeque<Result<&'static [u8], io::ErrorKind>>);

    impl io::Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                None => Ok(0),
                Some(Err(kind)) => Err(kind.into()),
                Some(Ok(bytes)) => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    Ok(n)
                }
            }
        }
    }

    /// The first line of `SHOW\n` read by a [`JobReader`] whose input fails
    /// with `fault` after its first `split` bytes, then goes on.
    fn first_line_after_fault(
        split: usize,
        fault: io::ErrorKind,
    ) -> Result<Option<Line>, io::ErrorKind> {
        within_deadline(move || {
            let (before, after) = b"SHOW\n".split_at(split);
            // An empty chunk would read as end-of-file: none is handed out.
            let chunks = [Ok(before), Err(fault), Ok(after)]
                .into_iter()
                .filter(|chunk| chunk != &Ok(&b""[..]))
                .collect();
            JobReader::new(io::BufReader::new(Chunks(chunks)))
                .next_line()
                .map_err(|e| e.kind())
        })
    }

    /// A read that fails in the middle of a line (the reader is then
    /// collecting it across reads) or at its start (where the reader first
    /// looks for the whole line in its buffer): retried when interrupted,
    /// and any other error reported, not retried.
    #[test]
    fn a_failing_read_is_retried_only_when_interrupted() {
        for split in [3, 0] {
            assert_eq!(
                first_line_after_fault(split, io::ErrorKind::Interrupted),
                Ok(Some(Line::Command(Command::Show))),
                "fault after {split} bytes"
            );
            assert_eq!(
                first_line_after_fault(split, io::ErrorKind::PermissionDenied),
                Err(io::ErrorKind::PermissionDenied),
                "fault after {split} bytes"
            );
        }
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
