//! The job language's commands, as values.
//!
//! [`Command::to_line`] prints a command in the canonical form the parser
//! reads back, so `parse(print(c)) == c` for every valid command.

use crate::token::{Key, Value};
use smallvec::SmallVec;
use std::fmt;

/// The pairs of a `WRITE`, in the order written: inline up to three (job
/// lines write one to three), so parsing a typical line allocates nothing.
pub type Pairs = SmallVec<[(Key, Value); 3]>;
/// The keys of a `READ` or `DELETE`, in the order written: inline up to
/// three, like [`Pairs`].
pub type Keys = SmallVec<[Key; 3]>;

/// One line of a `.job` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `WRITE [(k,v)(k2,v2)...]`: pairs in the order written.
    Write(Pairs),
    /// `READ [k,k2,...]`: keys in the order written, repeats kept.
    Read(Keys),
    /// `DELETE [k,k2,...]`: keys in the order written, repeats kept.
    Delete(Keys),
    /// `SHOW`: every pair, ascending by key.
    Show,
    /// `WAIT <ms>`: pause the job.
    Wait(u64),
    /// `BACKUP`: write a point-in-time copy of the store to a file.
    Backup,
    /// `HELP`: print the command summary.
    Help,
}

impl Command {
    /// The command in canonical job-file syntax, byte for byte (keys and
    /// values need not be UTF-8). The parser reads it back as `self`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = Vec::new();
        match self {
            Command::Write(pairs) => {
                line.extend_from_slice(b"WRITE [");
                for (key, value) in pairs {
                    line.push(b'(');
                    line.extend_from_slice(key.as_bytes());
                    line.push(b',');
                    line.extend_from_slice(value.as_bytes());
                    line.push(b')');
                }
                line.push(b']');
            }
            Command::Read(keys) => push_key_list(&mut line, b"READ", keys),
            Command::Delete(keys) => push_key_list(&mut line, b"DELETE", keys),
            Command::Show => line.extend_from_slice(b"SHOW"),
            Command::Wait(ms) => line.extend_from_slice(format!("WAIT {ms}").as_bytes()),
            Command::Backup => line.extend_from_slice(b"BACKUP"),
            Command::Help => line.extend_from_slice(b"HELP"),
        }
        line
    }
}

fn push_key_list(line: &mut Vec<u8>, word: &[u8], keys: &[Key]) {
    line.extend_from_slice(word);
    line.extend_from_slice(b" [");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(key.as_bytes());
    }
    line.push(b']');
}

impl fmt::Display for Command {
    /// The canonical line, with any non-UTF-8 byte shown as U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_line()))
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::testing::{key, value};
    use crate::token::Token;
    use smallvec::smallvec;

    #[test]
    fn every_command_prints_as_its_job_file_line() {
        let cases: [(Command, &[u8]); 7] = [
            (
                Command::Write(smallvec![(key("a"), value("1")), (key("b"), value("2"))]),
                b"WRITE [(a,1)(b,2)]",
            ),
            (
                Command::Read(smallvec![key("a"), key("b"), key("a")]),
                b"READ [a,b,a]",
            ),
            (Command::Delete(smallvec![key("k")]), b"DELETE [k]"),
            (Command::Show, b"SHOW"),
            (Command::Wait(250), b"WAIT 250"),
            (Command::Backup, b"BACKUP"),
            (Command::Help, b"HELP"),
        ];
        for (command, line) in cases {
            assert_eq!(command.to_line(), line, "{command:?}");
        }
    }

    #[test]
    fn display_is_the_line_with_other_bytes_replaced() {
        let odd = Token::new(b"a\xffb").unwrap();
        assert_eq!(
            Command::Delete(smallvec![odd]).to_string(),
            "DELETE [a\u{fffd}b]"
        );
        assert_eq!(Command::Wait(5).to_string(), "WAIT 5");
    }
}
