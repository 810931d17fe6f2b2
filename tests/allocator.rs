//! The binaries run without transparent huge pages unless
//! `MIMALLOC_ALLOW_THP` asks for them (`src/allocator.rs`), read from the
//! kernel's own account of each process (`THP_enabled` in
//! `/proc/PID/status`, Linux 5.0 and later).

#![cfg(not(feature = "loom"))]

mod common;

use common::process::Watched;
use common::skip::require;
use common::wait_for;
use std::fs;
use std::process::{Command, Stdio};

/// The variable as the README documents it to users, written out here
/// rather than taken from `kvs::allocator::ALLOW_THP_VARIABLE`, so that a
/// rename of the constant fails these tests instead of following them.
const ALLOW_THP: &str = "MIMALLOC_ALLOW_THP";

/// `Some(true)` when the kernel may give process `pid` transparent huge
/// pages, `Some(false)` when the process turned them off; `None` when the
/// kernel does not say (or the process is gone).
fn huge_pages_enabled(pid: u32) -> Option<bool> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))?;
    Some(value.trim() == "1")
}

/// Whether the test can tell: the kernel reports `THP_enabled`, and this
/// process (the test harness) has huge pages, so that a child without them
/// turned them off itself rather than inheriting that.
fn huge_pages_here() -> Option<()> {
    huge_pages_enabled(std::process::id())
        .filter(|&enabled| enabled)
        .map(|_| ())
}

/// Why a test cannot tell, when it cannot.
const CANNOT_TELL: &str =
    "the kernel reports no THP_enabled, or this process runs without huge pages already";

/// Whether this build allocates through mimalloc: otherwise (the C
/// library's malloc) a binary keeps what it inherits, whatever the variable
/// says.
const MIMALLOC: bool = !cfg!(feature = "system-allocator");

/// A `kvs` server in a temporary directory, started once its register FIFO
/// exists (so it is past start-up), with `allow_thp` as the variable's
/// value, or without the variable.
fn server(allow_thp: Option<&str>) -> (Watched, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let register = dir.path().join("register");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kvs"));
    command
        .arg(dir.path())
        .args(["1", "1"])
        .arg(&register)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove(ALLOW_THP);
    if let Some(value) = allow_thp {
        command.env(ALLOW_THP, value);
    }
    let child = Watched::spawn(&mut command);
    wait_for(|| register.exists(), "the register FIFO to appear");
    (child, dir)
}

#[test]
fn the_server_turns_huge_pages_off_unless_the_variable_asks_for_them() {
    if require(huge_pages_here(), CANNOT_TELL).is_none() {
        return;
    }
    for (variable, expected) in [(None, !MIMALLOC), (Some("1"), true), (Some("0"), !MIMALLOC)] {
        let (mut child, _dir) = server(variable);
        assert_eq!(
            huge_pages_enabled(child.id()),
            Some(expected),
            "{ALLOW_THP}={variable:?}"
        );
        child.kill();
    }
}

#[test]
fn the_load_generator_runs_without_huge_pages_by_default() {
    if require(huge_pages_here(), CANNOT_TELL).is_none() {
        return;
    }
    let mut child = Watched::spawn(
        Command::new(env!("CARGO_BIN_EXE_kvs-bench"))
            .args([
                "--store",
                "mutex",
                "--keys",
                "1000",
                "--duration-ms",
                "5000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_remove(ALLOW_THP),
    );
    // The setting is made first thing in `main`: wait for it, or for the
    // process to be gone, whichever comes first.
    let pid = child.id();
    let mut seen = None;
    wait_for(
        || {
            seen = huge_pages_enabled(pid);
            seen.is_none() || seen == Some(!MIMALLOC)
        },
        "kvs-bench to make its setting",
    );
    child.kill();
    assert_eq!(seen, Some(!MIMALLOC));
}
