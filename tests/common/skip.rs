//! The skip policy, in one place.
//!
//! A test whose prerequisite is missing here (the course's tests beside the
//! project, a C compiler, permission to mount a tmpfs) does not silently
//! pass: it prints `test <name> ... skipped: <reason>` past the harness's
//! output capture, where a reader of the run (and `.ci/run`'s count) sees
//! it. In CI (the environment variable `CI` is set) every prerequisite is
//! installed, so a skip there is a failure.

use std::io::Write;

/// `prerequisite`, or — when it is `None` — a reported skip: the caller
/// returns at once. Panics instead when running in CI.
pub fn require<T>(prerequisite: Option<T>, missing: &str) -> Option<T> {
    if prerequisite.is_none() {
        skip(missing);
    }
    prerequisite
}

/// Reports that the calling test cannot run because of `reason`.
pub fn skip(reason: &str) {
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} cannot run in CI: {reason}"
    );
    // Written to the real stderr, not through `eprintln!`, which the test
    // harness captures and hides for a passing test.
    let _ = writeln!(std::io::stderr(), "test {test} ... skipped: {reason}");
}
