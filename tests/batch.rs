//! End-to-end tests of batch mode: the real `kvs` binary on the fixtures the
//! project carries, on bad command lines, and on parallel jobs hammering
//! shared keys (where a torn multi-key command would show).

#![cfg(not(feature = "loom"))]

mod common;

use common::process;
use common::skip::require;
use common::{assert_same_files, dir_with, engines, files_with_ext, run_kvs, run_kvs_args};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs a fixture directory's jobs and compares every expected file.
fn check_fixture(name: &str, threads: usize) {
    check_fixture_with(name, threads, &[]);
}

/// [`check_fixture`] with more command-line options after the engine's.
fn check_fixture_with(name: &str, threads: usize, options: &[&str]) {
    let source = fixture(name);
    let all: Vec<PathBuf> = fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let inputs: Vec<PathBuf> = all
        .iter()
        .filter(|p| !p.extension().is_some_and(|e| e == "out" || e == "bck"))
        .cloned()
        .collect();
    let expected: Vec<PathBuf> = all
        .iter()
        .filter(|p| !inputs.contains(p))
        .cloned()
        .collect();
    for engine in engines() {
        let dir = dir_with(&inputs);
        let threads = threads.to_string();
        let path = dir.path().to_str().unwrap();
        let mut args = vec![path, threads.as_str(), "2", "--store", engine];
        args.extend_from_slice(options);
        let output = run_kvs_args(&args);
        assert!(output.status.success(), "{engine} {name}: {output:?}");
        assert_same_files(&expected, dir.path(), &format!("{engine} {name}"));
        let produced =
            files_with_ext(dir.path(), "out").len() + files_with_ext(dir.path(), "bck").len();
        assert_eq!(
            produced,
            expected.len(),
            "{engine} {name}: unexpected extra output files"
        );
    }
}

#[test]
fn backups_written_at_the_lowest_priorities_are_the_same_files() {
    check_fixture_with("every-command", 1, &["--backup-priority", "low"]);
    check_fixture_with("every-command", 1, &["--backup-priority", "idle"]);
}

#[test]
fn a_lowered_backup_writer_says_nothing_when_it_succeeds() {
    // With warnings shown, a writer that lowered its priority as asked
    // prints nothing; one that could not would warn.
    for priority in ["low", "idle"] {
        let dir = dir_with(&[fixture("every-command/all.job")]);
        let output = process::output(
            Command::new(env!("CARGO_BIN_EXE_kvs"))
                .args([dir.path().to_str().unwrap(), "1", "2"])
                .args(["--backup-priority", priority])
                .env("KVS_LOG", "warn"),
        );
        assert!(output.status.success(), "{priority}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("priority"), "{priority}: {stderr}");
        assert_eq!(files_with_ext(dir.path(), "bck").len(), 3, "{priority}");
    }
}

#[test]
fn every_command_matches_the_spec_byte_for_byte() {
    check_fixture("every-command", 1);
}

#[test]
fn invalid_lines_are_reported_on_stderr_and_skipped() {
    let dir = dir_with(&[fixture("every-command/all.job")]);
    let output = run_kvs(dir.path(), 1, 1, engines()[0]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr
            .matches("Invalid command. See HELP for usage\n")
            .count(),
        3,
        "{stderr}"
    );
}

#[test]
fn parallel_jobs_on_disjoint_keys_and_non_job_files_ignored() {
    check_fixture("parallel-disjoint", 2);
}

#[test]
fn bad_arguments_are_usage_errors_that_write_nothing() {
    let dir = dir_with(&[fixture("every-command/all.job")]);
    let path = dir.path().to_str().unwrap();
    for args in [
        vec![path, "0", "1"],
        vec![path, "1", "0"],
        vec![path, "two", "1"],
        vec![path, "1", "-3"],
        vec![path, "1"],
        vec![],
        vec![path, "1", "1", "--store", "nosuch"],
        vec![path, "1", "1", "--ring-capacity", "0"],
        vec![path, "1", "1", "--ring-capacity", "9223372036854775809"],
        vec![path, "1", "1", "--max-sessions", "100000"],
        vec![path, "1", "1", "--backup-priority", "19"],
        vec![path, "1", "1", "--backup-priority", "high"],
    ] {
        let output = run_kvs_args(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!output.stderr.is_empty(), "{args:?} printed no message");
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("panicked"),
            "{args:?} panicked"
        );
        assert!(
            files_with_ext(dir.path(), "out").is_empty(),
            "{args:?} wrote output"
        );
    }
}

#[test]
fn any_number_of_threads_runs_the_jobs() {
    // MAX_THREADS far beyond the jobs (and beyond what could be allocated
    // per thread) runs each job once, on no more threads than jobs.
    let dir = dir_with(&[fixture("every-command/all.job")]);
    let output = run_kvs_args(&[dir.path().to_str().unwrap(), "1000000000000", "1"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(files_with_ext(dir.path(), "out").len(), 1);
}

#[test]
fn rings_too_large_for_memory_are_refused_before_serving() {
    let dir = dir_with(&[fixture("every-command/all.job")]);
    let register = dir.path().join("register.fifo");
    let output = run_kvs_args(&[
        dir.path().to_str().unwrap(),
        "1",
        "1",
        register.to_str().unwrap(),
        "--max-sessions",
        "1024",
        "--ring-capacity",
        "1048576",
    ]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("notification rings"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!register.exists(), "the register FIFO was created");
}

#[test]
fn a_missing_jobs_directory_is_a_clear_error() {
    assert_jobs_dir_is_refused("/nonexistent/kvs-jobs");
}

/// `kvs` run on `jobs_dir`, which is no readable directory, fails with a
/// message that says so, not with a panic.
fn assert_jobs_dir_is_refused(jobs_dir: &str) {
    assert_refused_jobs_dir(jobs_dir, &run_kvs_args(&[jobs_dir, "1", "1"]));
}

fn assert_refused_jobs_dir(jobs_dir: &str, output: &std::process::Output) {
    assert!(!output.status.success(), "{jobs_dir}: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the jobs directory"),
        "{jobs_dir}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{jobs_dir}: {stderr}");
}

#[test]
fn help_shows_the_argument_order_and_every_option() {
    let output = run_kvs_args(&["--help"]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    // SPEC §1: threads, then backups, then the optional register FIFO.
    assert!(
        help.contains("<JOBS_DIR> <MAX_THREADS> <MAX_BACKUPS> [REGISTER_FIFO]"),
        "--help shows another argument order:\n{help}"
    );
    let options = ["--store", "--max-sessions", "--ring-capacity"];
    for word in options.iter().copied().chain(engines()) {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}

/// A failing backup (here: its directory is made read-only after the job
/// starts writing is not portable, so the output directory is a file) is
/// reported and the job goes on.
#[test]
fn a_backup_that_cannot_be_written_is_reported_and_the_job_continues() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("b.job"),
        "WRITE [(k,v)]\nBACKUP\nREAD [k]\n",
    )
    .unwrap();
    // The backup's file name is taken by a directory, so the rename fails.
    fs::create_dir(dir.path().join("b-1.bck")).unwrap();
    fs::write(dir.path().join("b-1.bck/keep"), "").unwrap();
    for engine in engines() {
        let output = run_kvs(dir.path(), 1, 1, engine);
        assert!(output.status.success(), "{engine}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Failed to perform backup."),
            "{engine}: {stderr}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("b.out")).unwrap(),
            "[(k,v)]\n"
        );
        // Nothing but the job, its output and the untouched directory: no
        // temporary file of any name, no partial backup.
        assert_eq!(
            names_in(dir.path()),
            ["b-1.bck", "b.job", "b.out"],
            "{engine}"
        );
        assert_eq!(names_in(&dir.path().join("b-1.bck")), ["keep"], "{engine}");
    }
}

/// The names of the entries of `dir`, hidden ones included, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const PAIRS: usize = 4;
const JOBS: usize = 8;
const STEPS: usize = 150;

/// A job that always writes (and deletes) keys `a<i>` and `b<i>` together,
/// with the same value, and reads them back in every way the language allows.
fn hammer_job(job: usize) -> String {
    let mut text = String::new();
    for step in 0..STEPS {
        let i = (job + step) % PAIRS;
        let value = format!("j{job}s{step}");
        match step % 6 {
            0 | 1 | 3 => writeln!(text, "WRITE [(a{i},{value})(b{i},{value})]").unwrap(),
            2 => writeln!(text, "READ [a{i},b{i}]").unwrap(),
            4 => writeln!(text, "{}", if step % 12 == 4 { "SHOW" } else { "BACKUP" }).unwrap(),
            _ => writeln!(text, "DELETE [b{i},a{i}]").unwrap(),
        }
    }
    text
}

/// Checks that in `(k, v)` lines or `(k,v)` pairs, `a<i>` and `b<i>` always
/// agree: both present with one value, or both absent.
fn assert_pairs_agree(what: &str, entries: &[(String, String)]) {
    for i in 0..PAIRS {
        let find = |key: String| {
            entries
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        };
        let (a, b) = (find(format!("a{i}")), find(format!("b{i}")));
        assert_eq!(a, b, "torn pair {i} in {what}: {entries:?}");
    }
}

fn show_entries(block: &str) -> Vec<(String, String)> {
    block
        .lines()
        .map(|line| {
            let inner = line
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .expect(line);
            let (k, v) = inner.split_once(", ").expect(line);
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn parallel_jobs_never_see_a_torn_multi_key_command() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        for job in 0..JOBS {
            fs::write(dir.path().join(format!("h{job}.job")), hammer_job(job)).unwrap();
        }
        let output = run_kvs(dir.path(), 4, 3, engine);
        assert!(output.status.success(), "{engine}: {output:?}");
        let mut checked = 0;
        for out in files_with_ext(dir.path(), "out") {
            // A job never runs two SHOWs without a READ between them, so each
            // run of `(k, v)` lines is exactly one SHOW.
            let mut show = String::new();
            for line in fs::read_to_string(&out).unwrap().lines() {
                if let Some(list) = line.strip_prefix('[') {
                    assert_pairs_agree(&format!("{engine} SHOW"), &show_entries(&show));
                    show.clear();
                    // A READ of a pair: both KVSERROR or both the same value.
                    let values: Vec<&str> = list
                        .trim_end_matches(']')
                        .split(')')
                        .filter(|s| !s.is_empty())
                        .map(|pair| pair.split_once(',').unwrap().1)
                        .collect();
                    assert_eq!(values.len(), 2, "{line}");
                    assert_eq!(values[0], values[1], "{engine}: torn READ {line}");
                    checked += 1;
                } else {
                    show.push_str(line);
                    show.push('\n');
                }
            }
            assert_pairs_agree(&format!("{engine} SHOW"), &show_entries(&show));
        }
        for backup in files_with_ext(dir.path(), "bck") {
            let text = fs::read_to_string(&backup).unwrap();
            assert_pairs_agree(
                &format!("{engine} {}", backup.display()),
                &show_entries(&text),
            );
            checked += 1;
        }
        let expected_backups = JOBS * (STEPS / 12 + usize::from(STEPS % 12 > 10));
        assert_eq!(
            files_with_ext(dir.path(), "bck").len(),
            expected_backups,
            "{engine}"
        );
        assert!(
            checked > JOBS * STEPS / 6,
            "{engine}: only {checked} observations"
        );
    }
}

/// A small tmpfs, unmounted when dropped; `None` where mounting is not
/// permitted (then the test that needs it reports a skip).
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(bytes: usize) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = process::output(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
                .arg(dir.path()),
        );
        mounted.status.success().then_some(TinyDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        process::output(Command::new("umount").arg(self.dir.path()));
    }
}

#[test]
fn a_backup_on_a_full_disk_fails_cleanly_and_the_job_goes_on() {
    // Mounting needs privileges: try once, and skip (never pass) without.
    if require(TinyDisk::mount(4096), "cannot mount a tmpfs here").is_none() {
        return;
    }
    for engine in engines() {
        let disk = TinyDisk::mount(32 * 1024).expect("a tmpfs mounted a moment ago");
        // About 100 KiB of SHOW lines: more than the disk holds.
        let mut write = String::from("WRITE [");
        for i in 0..2000 {
            write.push_str(&format!("(key{i:05},{})", "v".repeat(40)));
        }
        write.push_str("]\n");
        // The first WAIT flushes the output file before the backup starts,
        // so that the file has its page on the small disk: otherwise a job
        // thread that loses the processor for a moment finds the disk
        // already filled by the backup, and its own output fails too.
        let job = format!("{write}WAIT 1\nBACKUP\nWAIT 500\nREAD [key00001,nokey]\n");
        // The job itself is as large as its backup, so it lives elsewhere;
        // the jobs directory on the small disk holds a link to it.
        let elsewhere = tempfile::tempdir().unwrap();
        fs::write(elsewhere.path().join("full.job"), job).unwrap();
        std::os::unix::fs::symlink(
            elsewhere.path().join("full.job"),
            disk.path().join("full.job"),
        )
        .unwrap();
        let output = run_kvs(disk.path(), 1, 1, engine);
        assert!(output.status.success(), "{engine}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Failed to perform backup."),
            "{engine}: {stderr}"
        );
        let out = fs::read_to_string(disk.path().join("full.out")).unwrap();
        let read = format!("[(key00001,{})(nokey,KVSERROR)]\n", "v".repeat(40));
        assert_eq!(out, format!("Waiting...\nWaiting...\n{read}"));
        assert_eq!(
            names_in(disk.path()),
            ["full.job", "full.out"],
            "{engine}: partial or temporary backup left"
        );
    }
}

/// Writes `jobs` into a fresh directory.
fn dir_with_jobs(jobs: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in jobs {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// `a.job` reads `b` during its WAIT, `b.job` writes `b` at once: `a` sees
/// the write only if the two files run at the same time.
const SEES_THE_OTHER_JOB: [(&str, &str); 2] = [
    ("a.job", "WAIT 2000\nREAD [b]\n"),
    ("b.job", "WRITE [(b,1)]\n"),
];

#[test]
fn job_files_run_in_parallel_with_max_threads_and_the_order_is_threads_then_backups() {
    // Parallelism is the job runner's, whatever the engine.
    let engine = engines()[0];
    // `kvs dir 2 1`: two threads, so both files run at once.
    let dir = dir_with_jobs(&SEES_THE_OTHER_JOB);
    let output = run_kvs(dir.path(), 2, 1, engine);
    assert!(output.status.success(), "{engine}: {output:?}");
    assert_eq!(
        fs::read_to_string(dir.path().join("a.out")).unwrap(),
        "Waiting...\n[(b,1)]\n",
        "{engine}: with two threads the jobs did not overlap"
    );
    // `kvs dir 1 2`: one thread, so `b.job` starts after `a.job` ends.
    let dir = dir_with_jobs(&SEES_THE_OTHER_JOB);
    let output = run_kvs(dir.path(), 1, 2, engine);
    assert!(output.status.success(), "{engine}: {output:?}");
    assert_eq!(
        fs::read_to_string(dir.path().join("a.out")).unwrap(),
        "Waiting...\n[(b,KVSERROR)]\n",
        "{engine}: with one thread the jobs overlapped"
    );
}

#[test]
fn wait_pauses_the_job_for_at_least_the_time_asked() {
    let dir = dir_with_jobs(&[("w.job", "WAIT 400\nWAIT 0\nWAIT 300\n")]);
    let start = std::time::Instant::now();
    let output = run_kvs(dir.path(), 1, 1, engines()[0]);
    let took = start.elapsed();
    assert!(output.status.success(), "{output:?}");
    assert!(
        took >= std::time::Duration::from_millis(700),
        "two WAITs of 700 ms in all ended after {took:?}"
    );
    // WAIT 0 prints nothing.
    assert_eq!(
        fs::read_to_string(dir.path().join("w.out")).unwrap(),
        "Waiting...\nWaiting...\n"
    );
}

#[test]
fn a_jobs_dir_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs");
    fs::write(&file, "SHOW\n").unwrap();
    assert_jobs_dir_is_refused(file.to_str().unwrap());
}

/// SPEC §1: a jobs directory the server may not read is refused with a
/// message, as a file is. Root reads any directory, so as root the server
/// runs as `nobody`.
#[test]
fn an_unreadable_jobs_dir_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    fs::create_dir(&jobs).unwrap();
    fs::write(jobs.join("a.job"), "SHOW\n").unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&jobs, fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kvs"));
    command.arg(&jobs).args(["1", "1"]);
    if common::running_as_root() {
        command.uid(common::NOBODY).gid(common::NOBODY);
    }
    let output = process::output(&mut command);
    fs::set_permissions(&jobs, fs::Permissions::from_mode(0o755)).unwrap();
    assert_refused_jobs_dir(jobs.to_str().unwrap(), &output);
    assert!(
        !jobs.join("a.out").exists(),
        "a job of an unreadable directory ran"
    );
}

#[test]
fn an_existing_out_is_truncated_and_only_regular_job_files_at_the_top_run() {
    let dir = dir_with_jobs(&[("x.job", "WRITE [(k,v)]\nREAD [k]\n")]);
    fs::write(
        dir.path().join("x.out"),
        "stale output, longer than the new\n".repeat(10),
    )
    .unwrap();
    // A directory named like a job, and a job inside a subdirectory.
    for sub in ["d.job", "sub"] {
        fs::create_dir(dir.path().join(sub)).unwrap();
        fs::write(dir.path().join(sub).join("inner.job"), "SHOW\n").unwrap();
    }
    let output = run_kvs(dir.path(), 2, 1, engines()[0]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        fs::read_to_string(dir.path().join("x.out")).unwrap(),
        "[(k,v)]\n"
    );
    assert_eq!(names_in(dir.path()), ["d.job", "sub", "x.job", "x.out"]);
    for sub in ["d.job", "sub"] {
        assert_eq!(names_in(&dir.path().join(sub)), ["inner.job"], "{sub}");
    }
}

#[test]
fn no_reader_ever_sees_a_partial_backup() {
    const KEYS: usize = 20_000;
    let mut job = String::from("WRITE [");
    for i in 0..KEYS {
        job.push_str(&format!("(key{i:05},value{i})"));
    }
    job.push_str("]\n");
    job.push_str(&"BACKUP\n".repeat(4));
    let dir = dir_with_jobs(&[("big.job", &job)]);
    let path = dir.path().to_owned();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Reads every `.bck` the moment it appears, until kvs has exited.
        let watcher = scope.spawn(|| {
            // Relaxed: a stop flag; the scope's join orders the rest.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for backup in files_with_ext(&path, "bck") {
                    // A file renamed away between listing and reading is fine.
                    let Ok(text) = fs::read_to_string(&backup) else {
                        continue;
                    };
                    assert_eq!(text.lines().count(), KEYS, "partial {}", backup.display());
                }
            }
        });
        let stop_watching = common::stop::StopOnDrop(&stop);
        let output = run_kvs(dir.path(), 1, 2, engines()[0]);
        assert!(output.status.success(), "{output:?}");
        drop(stop_watching);
        watcher.join().unwrap();
    });
    assert_eq!(files_with_ext(dir.path(), "bck").len(), 4);
}

/// Starts `kvs <dir> <threads> <backups>` in batch mode under the test
/// deadline, its stderr kept for [`process::Watched::wait_with_output`].
fn start_batch(dir: &Path, threads: &str, backups: &str) -> process::Watched {
    process::Watched::spawn(
        Command::new(env!("CARGO_BIN_EXE_kvs"))
            .arg(dir)
            .args([threads, backups])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
    )
}

/// Waits until the job output `out` in `dir` is exactly `Waiting...`: the
/// job has reached its first `WAIT` with nothing printed before it.
fn wait_for_waiting(dir: &Path, out: &str) -> PathBuf {
    let out = dir.join(out);
    common::wait_for(
        || fs::read_to_string(&out).is_ok_and(|text| text == "Waiting...\n"),
        "the job to reach its WAIT",
    );
    out
}

#[test]
fn sigint_and_sigterm_stop_batch_jobs_at_a_command_boundary() {
    use nix::sys::signal::Signal;
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let dir = dir_with_jobs(&[
            ("a.job", "WRITE [(a,1)]\nBACKUP\nWAIT 60000\nREAD [a]\n"),
            ("b.job", "HELP\n"),
        ]);
        let mut kvs = start_batch(dir.path(), "1", "1");
        let out = wait_for_waiting(dir.path(), "a.out");
        kvs.signal(signal);
        let output = kvs.wait_with_output();
        assert!(output.status.success(), "{signal:?}: {output:?}");
        // Stopped inside the WAIT with its output flushed, its backup
        // finished, and no new job file started.
        assert_eq!(
            fs::read_to_string(&out).unwrap(),
            "Waiting...\n",
            "{signal:?}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("a-1.bck")).unwrap(),
            "(a, 1)\n",
            "{signal:?}"
        );
        assert!(!dir.path().join("b.out").exists(), "{signal:?}: b.job ran");
    }
}

/// SPEC §6: a signal stops the jobs but lets a running backup finish. The
/// backup's temporary file is made a FIFO, so its writer blocks in the
/// middle of the backup until the test reads it: the server must still be
/// running well after SIGTERM, and end once the backup has been written.
#[test]
fn sigterm_waits_for_a_backup_still_being_written() {
    use nix::sys::signal::Signal;
    use std::time::Duration;
    let dir = dir_with_jobs(&[("a.job", "WRITE [(a,1)]\nBACKUP\nWAIT 60000\n")]);
    let held = dir.path().join(".a-1.bck.tmp");
    nix::unistd::mkfifo(&held, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut kvs = start_batch(dir.path(), "1", "1");
    wait_for_waiting(dir.path(), "a.out");
    kvs.signal(Signal::SIGTERM);
    assert!(
        !kvs.ends_within(Duration::from_millis(500)),
        "the server ended while its backup was still being written"
    );
    // Now let the backup through: the writer sends its lines and ends.
    let backup = common::read_fifo_to_end(&held);
    assert_eq!(backup, "(a, 1)\n");
    let output = kvs.wait_with_output();
    // A FIFO cannot be synced, so the backup reports its failure; the
    // point is that the server waited for it.
    assert!(output.status.success(), "{output:?}");
}

/// SPEC §3, end to end: the command line's `MAX_BACKUPS` bounds the
/// backups in flight. Each backup's temporary file is a FIFO, so its writer
/// blocks until the test reads it: with `MAX_BACKUPS` 2, two writers block
/// and the job's third `BACKUP` waits for a permit (no third writer
/// starts), and it goes on once the first backup is let through.
#[test]
fn max_backups_from_the_command_line_bounds_the_backups_in_flight() {
    use std::time::Duration;
    let dir = dir_with_jobs(&[("a.job", "WRITE [(a,1)]\nBACKUP\nBACKUP\nBACKUP\nREAD [a]\n")]);
    let held: Vec<PathBuf> = (1..=3)
        .map(|n| dir.path().join(format!(".a-{n}.bck.tmp")))
        .collect();
    for fifo in &held {
        nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    let mut kvs = start_batch(dir.path(), "1", "2");
    common::wait_for(
        || common::threads_named(kvs.id(), "backup") >= 2,
        "two backups to start",
    );
    // A window in which the third backup must not start.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(common::threads_named(kvs.id(), "backup"), 2);
    for fifo in &held {
        assert_eq!(common::read_fifo_to_end(fifo), "(a, 1)\n");
    }
    let output = kvs.wait_with_output();
    assert!(output.status.success(), "{output:?}");
    let out = fs::read_to_string(dir.path().join("a.out")).unwrap();
    assert_eq!(out, "[(a,1)]\n");
}

#[test]
fn a_job_whose_output_cannot_be_created_fails_the_run_and_the_others_still_run() {
    let dir = dir_with_jobs(&[("a.job", "WRITE [(k,v)]\nREAD [k]\n"), ("b.job", "HELP\n")]);
    fs::create_dir(dir.path().join("a.out")).unwrap();
    let output = run_kvs(dir.path(), 1, 1, engines()[0]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a.job"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        fs::read_to_string(dir.path().join("b.out")).unwrap(),
        kvs::format::HELP_TEXT
    );
}
