//! Helpers shared by the end-to-end tests: running the real `kvs` binary
//! under a deadline, the skip policy, stop flags, and comparing the files
//! the binary writes.

#![allow(dead_code)]

pub mod process;
pub mod skip;
pub mod stop;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `kvs <dir> <threads> <backups> --store <engine>` to completion.
pub fn run_kvs(dir: &Path, threads: usize, backups: usize, engine: &str) -> Output {
    process::output(
        Command::new(env!("CARGO_BIN_EXE_kvs"))
            .arg(dir)
            .arg(threads.to_string())
            .arg(backups.to_string())
            .args(["--store", engine]),
    )
}

/// Runs `kvs` with exactly `args`.
pub fn run_kvs_args(args: &[&str]) -> Output {
    process::output(Command::new(env!("CARGO_BIN_EXE_kvs")).args(args))
}

/// Polls `done` every 10 ms until it holds; fails the test, naming `what`,
/// after 20 s (far above what any test needs, so only a hang reaches it).
pub fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < give_up,
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether the tests run as root (who owns this process's `/proc` entry).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// The conventional unprivileged user and group, `nobody`, for a server
/// that must not have root's rights (root reads any directory).
pub const NOBODY: u32 = 65534;

/// Everything written into the FIFO at `path` until its writer closes it:
/// opens the read end (which lets a writer blocked in its open go on) and
/// reads until end of file after some data; fails the test after 20 s.
pub fn read_fifo_to_end(path: &Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::{Duration, Instant};
    let mut fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let give_up = Instant::now() + Duration::from_secs(20);
    let (mut text, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        match fifo.read(&mut chunk) {
            // End of file before any data: no writer has opened it yet.
            Ok(0) if !text.is_empty() => return String::from_utf8(text).unwrap(),
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{}: {e}", path.display()),
        }
        assert!(Instant::now() < give_up, "{}: nothing came", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many threads of process `pid` are named `name` (0 once it is gone).
pub fn threads_named(pid: u32, name: &str) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|task| {
                    fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|comm| comm.trim() == name)
                })
                .count()
        })
        .unwrap_or(0)
}

/// The system's C compiler, when there is one on the `PATH`.
pub fn c_compiler() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("cc"))
        .find(|cc| cc.is_file())
}

/// The engines, as `--store` names them.
pub fn engines() -> Vec<&'static str> {
    kvs::store::Engine::ALL.iter().map(|e| e.name()).collect()
}

/// A fresh temporary directory holding copies of `files`.
pub fn dir_with(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for file in files {
        fs::copy(file, dir.path().join(file.file_name().unwrap())).expect("copy fixture");
    }
    dir
}

/// The files of `dir` whose name ends in `.<ext>`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("readable directory")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Asserts that `actual_dir` holds every file of `expected`, byte for byte.
pub fn assert_same_files(expected: &[PathBuf], actual_dir: &Path, context: &str) {
    for want in expected {
        let name = want.file_name().unwrap();
        let got = actual_dir.join(name);
        let want_bytes = fs::read(want).unwrap();
        let got_bytes = fs::read(&got)
            .unwrap_or_else(|e| panic!("{context}: {} was not written: {e}", got.display()));
        assert_eq!(
            String::from_utf8_lossy(&got_bytes),
            String::from_utf8_lossy(&want_bytes),
            "{context}: {} differs",
            name.to_string_lossy()
        );
    }
}
