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
            Command::Help => out.push_str(kvs::job::command::HELP_TEXT),
            Command::Backup => unreachable!("not generated"),
        }
    }
    out.into_bytes()
}

proptest! {
    #[test]
    fn parsing_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut reader = JobReader::new(&bytes[..]);
        let mut lines = 0;
        while let Some(_line) = reader.next_line().unwrap() {
            lines += 1;
        }
        prop_assert_eq!(lines, reader.line_number());
        let _ = parse_line(&bytes);
    }

    #[test]
    fn printed_commands_parse_back_to_themselves(command in any_command()) {
        let printed = command.to_line();
        prop_assert_eq!(parse_line(&printed), Line::Command(command));
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
