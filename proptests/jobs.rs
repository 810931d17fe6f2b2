//! The job language on random input: the parser never panics, valid commands
//! survive a print/parse round trip, and a job mixing valid and malformed
//! lines prints exactly what a simple model of the language prints for the
//! valid ones.

use crate::strategies::{any_command, command_without_backup};
use kvs::backup::Backups;
use kvs::job::{parse_line, BackupNames, Command, JobExecutor, JobReader, Line, Sleeper};
use kvs::store::Engine;
use kvs::token::{Key, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

struct NoSleep;
impl Sleeper for NoSleep {
    fn sleep(&self, _: Duration) {}
}

/// A line that is invalid by construction.
fn malformed_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Not a command word: starts with a byte no command starts with.
        ("[!@$%^&*a-z]", "[^\n]{0,30}").prop_map(|(a, b)| format!("{a}{b}").into_bytes()),
        // A list command missing its closing bracket.
        prop::sample::select(vec![
            "READ [a,b",
            "DELETE [a",
            "WRITE [(a,b)",
            "WRITE [(a,b)(c"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        // A token of 41 bytes.
        Just(format!("READ [{}]", "x".repeat(41)).into_bytes()),
        // Whitespace inside a pair.
        Just(b"WRITE [(a, b)]".to_vec()),
        // Extra words.
        Just(b"SHOW ALL".to_vec()),
        Just(b"WAIT soon".to_vec()),
    ]
}

#[allow(clippy::large_enum_variant)] // a test value, built a few hundred times
#[derive(Debug, Clone)]
enum JobLine {
    Valid(Command),
    Malformed(Vec<u8>),
    Comment,
}

fn job_line() -> impl Strategy<Value = JobLine> {
    prop_oneof![
        6 => command_without_backup().prop_map(JobLine::Valid),
        2 => malformed_line().prop_map(JobLine::Malformed),
        1 => Just(JobLine::Comment),
    ]
}

/// The language's output, computed independently of the executor.
fn model_output(commands: &[Command]) -> Vec<u8> {
    let mut store: BTreeMap<Key, Value> = BTreeMap::new();
    let mut out = String::new();
    for command in commands {
        match command {
            Command::Write(pairs) => pairs.iter().for_each(|(k, v)| {
                store.insert(*k, *v);
            }),
            Command::Read(keys) => {
                let mut keys = keys.clone();
                keys.sort();
                out.push('[');
                for k in keys {
                    let v = store
                        .get(&k)
                        .map_or("KVSERROR".to_string(), |v| v.to_string());
                    out.push_str(&format!("({k},{v})"));
                }
                out.push_str("]\n");
            }
            Command::Delete(keys) => {
                let mut keys = keys.clone();
                keys.sort();
                let missing: Vec<Key> = keys
                    .into_iter()
                    .filter(|k| store.remove(k).is_none())
                    .collect();
                if !missing.is_empty() {
                    out.push('[');
                    missing
                        .iter()
                        .for_each(|k| out.push_str(&format!("({k},KVSMISSING)")));
                    out.push_str("]\n");
                }
            }
            Command::Show => store
                .iter()
                .for_each(|(k, v)| out.push_str(&format!("({k}, {v})\n"))),
            Command::Wait(0) => {}
            Command::Wait(_) => out.push_str("Waiting...\n"),
            Command::Help => out.push_str(kvs::format::HELP_TEXT),
            Command::Backup => unreachable!("not generated"),
        }
    }
    out.into_bytes()
}

/// Optional whitespace as a job file may hold it.
fn blank() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// A command written out by hand, independently of `Command::to_line`: the
/// SPEC's syntax with its freedoms (whitespace around the line and before
/// `[`, pairs back to back or comma-separated, a trailing `\r`), and the
/// command it must parse to.
fn spec_line() -> impl Strategy<Value = (String, Command)> {
    let token = || "[a-zA-Z0-9_.:;!*+-]{1,40}";
    let t = |s: &String| Key::try_from(s.as_str()).unwrap();
    let list = prop_oneof![
        (
            prop::sample::select(vec!["READ", "DELETE"]),
            prop::collection::vec(token(), 1..5)
        )
            .prop_map(move |(word, keys)| {
                let parsed = keys.iter().map(t).collect();
                let command = if word == "READ" {
                    Command::Read(parsed)
                } else {
                    Command::Delete(parsed)
                };
                (format!("{word}{{}}[{}]", keys.join(",")), command)
            }),
        (
            prop::collection::vec((token(), token()), 1..5),
            any::<bool>()
        )
            .prop_map(move |(pairs, commas)| {
                let written: Vec<String> =
                    pairs.iter().map(|(k, v)| format!("({k},{v})")).collect();
                let command = Command::Write(pairs.iter().map(|(k, v)| (t(k), t(v))).collect());
                (
                    format!("WRITE{{}}[{}]", written.join(if commas { "," } else { "" })),
                    command,
                )
            }),
    ];
    let word = prop_oneof![
        Just(("SHOW{}".to_string(), Command::Show)),
        Just(("BACKUP{}".to_string(), Command::Backup)),
        Just(("HELP{}".to_string(), Command::Help)),
        (0u64..100_000).prop_map(|ms| (format!("WAIT {ms}{{}}"), Command::Wait(ms))),
    ];
    (
        prop_oneof![3 => list, 1 => word],
        blank(),
        blank(),
        blank(),
        any::<bool>(),
    )
        .prop_map(|((template, command), before, inside, after, cr)| {
            // `{}` marks where the command allows whitespace: before `[`
            // for a list; for a bare word, nowhere (it goes at the end).
            let (body, tail) = match template.split_once("{}") {
                Some((head, rest)) if !rest.is_empty() => {
                    (format!("{head}{inside}{rest}"), String::new())
                }
                Some((head, _)) => (head.to_string(), inside),
                None => (template, String::new()),
            };
            let cr = if cr { "\r" } else { "" };
            (format!("{before}{body}{tail}{after}{cr}"), command)
        })
}

proptest! {
    #[test]
    fn the_reader_yields_each_newline_separated_line_parsed(
        bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'#')], 0..200)
    ) {
        // The lines as the format defines them: split at `\n`, a final
        // newline ending the last line rather than starting an empty one.
        let mut expected: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        if bytes.is_empty() || bytes.ends_with(b"\n") {
            expected.pop();
        }
        let mut reader = JobReader::new(&bytes[..]);
        let mut got = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            got.push(line);
            prop_assert_eq!(reader.line_number(), got.len());
        }
        prop_assert_eq!(got.len(), expected.len());
        for (line, text) in got.iter().zip(&expected) {
            prop_assert_eq!(line, &parse_line(text));
            let blank_or_comment = text.trim_ascii().first().is_none_or(|&b| b == b'#');
            prop_assert_eq!(matches!(line, Line::Skip), blank_or_comment, "{:?}", text);
            // Whatever parses as a command is one the printer writes back.
            if let Line::Command(command) = line {
                prop_assert_eq!(parse_line(&command.to_line()), Line::Command(command.clone()));
            }
        }
    }

    #[test]
    fn printed_commands_parse_back_to_themselves(command in any_command()) {
        let printed = command.to_line();
        prop_assert_eq!(parse_line(&printed), Line::Command(command));
    }

    #[test]
    fn lines_written_as_the_spec_allows_parse_to_their_command(
        (text, command) in spec_line()
    ) {
        prop_assert_eq!(parse_line(text.as_bytes()), Line::Command(command), "{:?}", text);
    }

    #[test]
    fn malformed_lines_are_skipped_and_valid_ones_run(lines in prop::collection::vec(job_line(), 0..40)) {
        let mut text = Vec::new();
        let mut valid = Vec::new();
        let mut malformed = 0;
        for line in &lines {
            match line {
                JobLine::Valid(command) => {
                    text.extend(command.to_line());
                    valid.push(command.clone());
                }
                JobLine::Malformed(bytes) => {
                    text.extend(bytes);
                    malformed += 1;
                }
                JobLine::Comment => text.extend(b"# a comment"),
            }
            text.push(b'\n');
        }
        let expected = model_output(&valid);
        for engine in Engine::ALL {
            let store = engine.open();
            let backups = Backups::new(1);
            let names = BackupNames::new(std::env::temp_dir(), "unused".into());
            let mut executor = JobExecutor::new(store.as_ref(), &backups, &NoSleep, Vec::new(), names);
            let mut reader = JobReader::new(&text[..]);
            let mut invalid = 0;
            while let Some(line) = reader.next_line().unwrap() {
                match line {
                    Line::Command(command) => executor.execute(&command).unwrap(),
                    Line::Invalid(_) => invalid += 1,
                    Line::Skip => {}
                }
            }
            prop_assert_eq!(invalid, malformed, "{}", engine);
            let out = executor.finish().unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected), "{}", engine);
        }
    }
}
