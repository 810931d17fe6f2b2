//! The job-file experiment's C yardstick (`benches/yardstick/yardstick.c`)
//! is honest: on the same job files it writes the same `.out` and `.bck`
//! bytes as `kvs` and reports the same invalid lines, so timing it against
//! `kvs` compares two servers doing the same work. Needs a C compiler (a
//! reported skip without one, a failure in CI; see `common::skip`).

#![cfg(not(feature = "loom"))]

mod common;

use common::process;
use common::skip::require;
use kvs::bench::jobfile::write_job;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What both servers print on stderr for an invalid line.
const INVALID: &str = "Invalid command. See HELP for usage";

/// The yardstick, compiled as `benches/experiments.sh` compiles it (with
/// warnings as errors), in a directory that lives as long as the test;
/// `None` (a reported skip) without a C compiler.
fn build_yardstick() -> Option<(tempfile::TempDir, PathBuf)> {
    let cc = require(common::c_compiler(), "no C compiler (cc) on the PATH")?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/yardstick/yardstick.c");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("yardstick");
    let compiled = process::output(
        Command::new(cc)
            .args(["-O2", "-pthread", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&binary)
            .arg(&source),
    );
    assert!(compiled.status.success(), "{compiled:?}");
    Some((dir, binary))
}

fn run_yardstick(binary: &Path, dir: &Path, threads: usize) -> Output {
    let output = process::output(Command::new(binary).arg(dir).arg(threads.to_string()));
    assert!(output.status.success(), "yardstick failed: {output:?}");
    output
}

/// Two copies of `files` (name, bytes): one for `kvs`, one for the yardstick.
fn twin_dirs(files: &[(String, Vec<u8>)]) -> [tempfile::TempDir; 2] {
    [(); 2].map(|()| {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    })
}

fn invalid_lines(output: &Output) -> usize {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(INVALID))
        .count()
}

/// What one comparison saw.
#[derive(Debug, PartialEq)]
struct Compared {
    /// Output files (`.out` and `.bck`) found equal.
    files: usize,
    /// Invalid lines both reported.
    invalid_lines: usize,
}

/// Runs both servers with `threads` workers on copies of `files` and
/// asserts that they wrote the same files and reported the same invalid
/// lines.
fn assert_same_as_kvs(binary: &Path, files: &[(String, Vec<u8>)], threads: usize) -> Compared {
    let [for_kvs, for_yardstick] = twin_dirs(files);
    let kvs = common::run_kvs(for_kvs.path(), threads, 1, "lockfree");
    assert!(kvs.status.success(), "kvs failed: {kvs:?}");
    let yardstick = run_yardstick(binary, for_yardstick.path(), threads);
    assert_eq!(invalid_lines(&yardstick), invalid_lines(&kvs));
    let mut written = common::files_with_ext(for_kvs.path(), "out");
    written.extend(common::files_with_ext(for_kvs.path(), "bck"));
    common::assert_same_files(&written, for_yardstick.path(), "yardstick against kvs");
    let yardstick_files = common::files_with_ext(for_yardstick.path(), "out").len()
        + common::files_with_ext(for_yardstick.path(), "bck").len();
    assert_eq!(yardstick_files, written.len(), "files written");
    Compared {
        files: written.len(),
        invalid_lines: invalid_lines(&kvs),
    }
}

/// The files of a fixture directory, as (name, bytes).
fn fixture(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    common::files_with_ext(&dir, "job")
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn every_command_and_invalid_line_prints_what_kvs_prints() {
    let Some((_build, binary)) = build_yardstick() else {
        return;
    };
    let mut files = fixture("every-command");
    // The edges of the careful parser: whitespace, commas, lengths, digits.
    files.push((
        "edges.job".into(),
        b"WRITE[(a,1)]\nREAD [a,a]  \r\nWRITE [(b,2),]\nWRITE [(c,3),(d,4)]\nREAD [c,d,\
          e]\nREAD [a,]\nDELETE [x,x,a]\nWAIT\t0\nWAIT 18446744073709551616\nWAIT x\n\
          SHOW x\nHELP\nWRITE [(kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk,v)]\n\
          WRITE [(kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk,v)]\nREAD\x0b[c]\nSHOW"
            .to_vec(),
    ));
    // all.out, its three backups, edges.out; the fixture's three invalid
    // lines and seven of the edges.
    assert_eq!(
        assert_same_as_kvs(&binary, &files, 1),
        Compared {
            files: 5,
            invalid_lines: 10
        }
    );
}

#[test]
fn the_generated_workload_prints_what_kvs_prints() {
    let Some((_build, binary)) = build_yardstick() else {
        return;
    };
    // Two files in a row on one worker (so the output is deterministic),
    // each ending with the whole store.
    let files: Vec<(String, Vec<u8>)> = [1, 2]
        .map(|seed| {
            let mut bytes = Vec::new();
            write_job(&mut bytes, 3000, 64, seed).unwrap();
            bytes.extend_from_slice(b"SHOW\n");
            (format!("gen{seed}.job"), bytes)
        })
        .into();
    assert_eq!(
        assert_same_as_kvs(&binary, &files, 1),
        Compared {
            files: 2,
            invalid_lines: 0
        }
    );
}

#[test]
fn parallel_workers_each_run_whole_job_files() {
    let Some((_build, binary)) = build_yardstick() else {
        return;
    };
    // Disjoint keys: the outputs do not depend on the interleaving.
    let compared = assert_same_as_kvs(&binary, &fixture("parallel-disjoint"), 2);
    assert_eq!(compared.files, 2);
}
