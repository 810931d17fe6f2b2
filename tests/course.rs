//! The course's public part-1 tests, run through the real binary with every
//! engine: each job alone in a fresh directory, its `.out` and `.bck` files
//! compared byte for byte with the course's expected files.
//!
//! The tests live in `../shared/course-tests` beside the project's root;
//! where that is absent (a user's clone) these tests report a skip (a
//! failure in CI, see `common::skip`).

#![cfg(not(feature = "loom"))]

mod common;

use common::skip::require;
use common::{assert_same_files, dir_with, engines, files_with_ext, run_kvs};
use std::path::{Path, PathBuf};

fn course_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/course-tests");
    root.is_dir().then_some(root)
}

/// Every `(job, expected files)` of the course's part-1 suites.
fn course_cases(root: &Path) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut cases = Vec::new();
    for suite in ["part1", "part1-backup"] {
        let expected_dir = root.join(suite).join("expected");
        for job in files_with_ext(&root.join(suite).join("jobs"), "job") {
            let stem = job.file_stem().unwrap().to_string_lossy().into_owned();
            let expected: Vec<PathBuf> = std::fs::read_dir(&expected_dir)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| {
                    let name = path.file_name().unwrap().to_string_lossy();
                    name == format!("{stem}.out") || name.starts_with(&format!("{stem}-"))
                })
                .collect();
            cases.push((job, expected));
        }
    }
    cases
}

#[test]
fn course_part1_tests_match_byte_for_byte() {
    let Some(root) = require(course_root(), "../shared/course-tests is not present") else {
        return;
    };
    let cases = course_cases(&root);
    assert!(
        cases.len() >= 6,
        "expected the course's part-1 jobs, found {}",
        cases.len()
    );
    for engine in engines() {
        for (job, expected) in &cases {
            assert!(
                !expected.is_empty(),
                "{} has no expected output",
                job.display()
            );
            let dir = dir_with(std::slice::from_ref(job));
            let output = run_kvs(dir.path(), 1, 1, engine);
            assert!(
                output.status.success(),
                "{engine} {}: {output:?}",
                job.display()
            );
            assert_same_files(expected, dir.path(), &format!("{engine} {}", job.display()));
        }
    }
}
