//! The crate's structure, checked: which module may use which, how long a
//! file may be, how long a function may be.
//!
//! * **Layers.** [`DIAGRAM`] is the module diagram of the README, one row a
//!   module with the modules it builds on. A module may use what its row
//!   names and, through them, what those rows name (the transitive
//!   closure); nothing else. A use is any `crate::<module>` path in a file
//!   of the module: `use` lines, paths in code, and doc links too (a doc
//!   that links a module couples to it as surely as code does). A
//!   `super::` path that climbs out of the module to the crate root counts
//!   the same. Paths to the crate root's own items ([`ROOT_ITEMS`]) are
//!   open to every module. `app` and `cli` sit at the top, with the
//!   binaries (`src/main.rs`, `src/bin/`, which reach the library as
//!   `kvs::` and are not scanned): anything may be below them, nothing
//!   may use them.
//! * **Files.** No source file over [`MAX_FILE_LINES`] lines, tests aside:
//!   files named `tests.rs` or under a `tests/` directory are not counted,
//!   and neither is a test module that closes a file (an attribute line
//!   `#[cfg(...test...)]` at column 0 followed by `mod tests` at column 0,
//!   with nothing after that module but its body).
//! * **Functions.** No function over [`MAX_FN_LINES`] lines (from its `fn`
//!   line to its closing brace) outside those tests, but for the tables
//!   named in [`TABLES`]. The scan counts braces, skipping comments,
//!   strings, raw strings and character literals. Its limits: a function
//!   written by a macro is not seen; a nested function is measured on its
//!   own and inside the one that holds it; an `fn` line inside a string
//!   that spans lines could be misread (none exists today).
//!
//! [`KNOWN_EXCEPTIONS`] lists what breaks these rules today and is being
//! removed; an entry that no longer matches anything fails the test too,
//! so the list only ever shrinks.

#![cfg(not(feature = "loom"))]

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

/// The module diagram: each top-level module and the modules it builds on
/// directly. `None`: the top, which may use anything.
const DIAGRAM: &[(&str, Option<&[&str]>)] = &[
    ("allocator", Some(&[])),
    ("token", Some(&[])),
    ("sync", Some(&[])),
    ("ring", Some(&["sync"])),
    ("pace", Some(&["token", "sync"])),
    ("store", Some(&["token", "sync", "pace"])),
    ("format", Some(&["token"])),
    ("backup", Some(&["store", "format", "sync"])),
    ("job", Some(&["store", "backup", "format"])),
    ("protocol", Some(&["token"])),
    ("notify", Some(&["ring", "store", "sync"])),
    ("server", Some(&["job", "notify", "protocol", "store"])),
    ("client", Some(&["protocol"])),
    ("bench", Some(&["store", "backup", "notify", "protocol"])),
    ("cli", None),
    ("app", None),
];

/// Items of the crate root (`src/lib.rs`) every module may name.
const ROOT_ITEMS: &[&str] = &["report", "ErrorChain"];

/// The longest a source file may be.
const MAX_FILE_LINES: usize = 500;

/// The longest a function may be.
const MAX_FN_LINES: usize = 60;

/// Functions that are tables (one line an entry, nothing to split), which
/// may be longer than [`MAX_FN_LINES`]: (file, function).
const TABLES: &[(&str, &str)] = &[
    // One line per field of the JSON record a load run prints.
    ("src/bench/mod.rs", "build_report"),
];

/// The rule a check enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A module uses one that is not below it: (file, used module).
    Layers,
    /// A file is over [`MAX_FILE_LINES`]: (file, "").
    LongFile,
    /// A function is over [`MAX_FN_LINES`]: (file, function).
    LongFunction,
}

/// What breaks a rule today and is being removed: nothing. (The last
/// entry, the notification benchmark reaching into `server` for its pipe
/// wire, went when the bench became generic over `notify::writer::Wire`
/// and `kvs-bench`, at the top, named the server's wire.)
const KNOWN_EXCEPTIONS: &[(Rule, &str, &str)] = &[];

#[test]
fn no_module_uses_one_above_it() {
    let found = layer_violations(&source_files());
    assert_no_new_violations(Rule::Layers, found);
}

#[test]
fn no_file_is_over_the_limit() {
    let mut found = BTreeSet::new();
    for (path, text) in source_files() {
        if !is_test_file(&path) && counted_lines(&text) > MAX_FILE_LINES {
            found.insert((path, String::new()));
        }
    }
    assert_no_new_violations(Rule::LongFile, found);
}

#[test]
fn no_function_is_over_the_limit() {
    let mut found = BTreeSet::new();
    for (path, text) in source_files() {
        if is_test_file(&path) {
            continue;
        }
        let counted = counted_text(&text);
        for (name, lines) in function_lengths(counted) {
            let table = TABLES.contains(&(path.as_str(), name.as_str()));
            if lines > MAX_FN_LINES && !table {
                found.insert((path.clone(), name));
            }
        }
    }
    assert_no_new_violations(Rule::LongFunction, found);
}

#[test]
fn every_module_of_the_crate_is_in_the_diagram() {
    let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            assert!(
                DIAGRAM.iter().any(|(module, _)| *module == name),
                "module {name} is not in the diagram"
            );
        }
    }
}

/// Under `--features loom` the crate's atomics are loom's, which panic
/// outside a model, so every test target but the models is compiled out:
/// each top-level file of `tests/` and `proptests/main.rs` carries the gate.
#[test]
fn every_ordinary_test_target_is_gated_off_under_loom() {
    const GATE: &str = "#![cfg(not(feature = \"loom\"))]";
    let mut targets: Vec<PathBuf> = fs::read_dir(root().join("tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    targets.push(root().join("proptests/main.rs"));
    let ungated: Vec<_> = targets
        .iter()
        .filter(|path| !fs::read_to_string(path).unwrap().lines().any(|l| l == GATE))
        .collect();
    assert!(ungated.is_empty(), "not gated off under loom: {ungated:?}");
}

/// Fails on a violation of `rule` not in [`KNOWN_EXCEPTIONS`], and on an
/// exception to `rule` that no longer happens.
fn assert_no_new_violations(rule: Rule, found: BTreeSet<(String, String)>) {
    let known = |file: &str, what: &str| KNOWN_EXCEPTIONS.contains(&(rule, file, what));
    let new: Vec<_> = found
        .iter()
        .filter(|(file, what)| !known(file, what))
        .collect();
    assert!(new.is_empty(), "{rule:?}: {new:?}");
    let stale: Vec<_> = KNOWN_EXCEPTIONS
        .iter()
        .filter(|(of, file, what)| {
            *of == rule && !found.contains(&(file.to_string(), what.to_string()))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "{rule:?}: fixed, so remove from KNOWN_EXCEPTIONS: {stale:?}"
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/` but the binaries, as (path from the
/// crate's root, text).
fn source_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root()).unwrap();
                let name = relative.to_string_lossy().into_owned();
                if name != "src/main.rs" && !name.starts_with("src/bin/") {
                    files.push((name, fs::read_to_string(&path).unwrap()));
                }
            }
        }
    }
    files.sort();
    files
}

fn is_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs") || path.contains("/tests/")
}

// ---------------------------------------------------------------- layers

/// Every (file, used module) that the diagram does not allow.
fn layer_violations(files: &[(String, String)]) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, text) in files {
        let Some(module_path) = module_path(path) else {
            continue;
        };
        let module = &module_path[0];
        for used in used_modules(&module_path, text) {
            if used != *module && !may_use(module, &used) {
                found.insert((path.clone(), used));
            }
        }
    }
    found
}

/// `src/job/exec.rs` → `[job, exec]`; `src/job/mod.rs` → `[job]`; the
/// crate root (`src/lib.rs`) → `None`.
fn module_path(path: &str) -> Option<Vec<String>> {
    let inner = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut parts: Vec<String> = inner.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    (parts != ["lib"]).then_some(parts)
}

/// Whether `module` may use `used`: `used` is in the closure of its row.
fn may_use(module: &str, used: &str) -> bool {
    let Some(own_row) = row(module) else {
        return false;
    };
    let Some(direct) = own_row else {
        return true;
    };
    let mut seen = BTreeSet::new();
    let mut next: Vec<&str> = direct.to_vec();
    while let Some(below) = next.pop() {
        if below == used {
            return true;
        }
        if seen.insert(below) {
            next.extend(row(below).flatten().unwrap_or(&[]));
        }
    }
    false
}

/// The diagram's row for `module` (`None`: not in the diagram).
fn row(module: &str) -> Option<Option<&'static [&'static str]>> {
    DIAGRAM
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, below)| *below)
}

/// The top-level modules (or unknown root items) `text` names through
/// `crate::` paths, and through `super::` paths that climb to the root
/// from a file at `module_path`.
fn used_modules(module_path: &[String], text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (start, _) in text.match_indices("crate::") {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        used.extend(first_segments(&text[start + "crate::".len()..]));
    }
    for (start, _) in text.match_indices("super::") {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut rest = &text[start..];
        let mut depth = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            depth += 1;
            rest = after;
        }
        if depth >= module_path.len() {
            used.extend(
                first_segments(rest)
                    .into_iter()
                    .filter(|s| row(s).is_some()),
            );
        }
    }
    used.retain(|name| !ROOT_ITEMS.contains(&name.as_str()));
    used
}

/// The first segment of the path at the start of `rest`, or of each path
/// of a `{a::b, c}` group.
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let mut segments = Vec::new();
    let mut depth = 0;
    let mut item_start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                segments.push(ident(&group[item_start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                segments.push(ident(&group[item_start..i]));
                item_start = i + 1;
            }
            _ => {}
        }
    }
    segments.retain(|s| !s.is_empty() && s != "self");
    segments
}

// ---------------------------------------------------------------- lengths

/// The part of a file that is not its closing test module.
fn counted_text(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    for (i, pair) in lines.windows(2).enumerate() {
        let attribute = pair[0].starts_with("#[cfg(") && pair[0].contains("test");
        if attribute && pair[1].starts_with("mod tests") && closes_the_file(&lines[i + 1..]) {
            let offset: usize = lines[..i].iter().map(|l| l.len() + 1).sum();
            return &text[..offset.min(text.len())];
        }
    }
    text
}

/// Whether the module opening at `lines[0]` ends on the file's last line
/// that holds anything.
fn closes_the_file(lines: &[&str]) -> bool {
    let body = lines.join("\n");
    match block_end(&body, 0) {
        Some(end) => body[end..].trim().is_empty(),
        None => false,
    }
}

fn counted_lines(text: &str) -> usize {
    counted_text(text).lines().count()
}

/// Each function of `text` (name, lines from its `fn` line to its closing
/// brace).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = fn_name(line) {
            if let Some(end) = block_end(text, offset) {
                let lines = text[offset..end].lines().count();
                found.push((name, lines));
            }
        }
        offset += line.len();
    }
    found
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let code = line.split("//").next()?;
    let mut words = code.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word == "fn" {
            let name: String = words
                .peek()?
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            return (!name.is_empty()).then_some(name);
        }
        let qualifier = ["pub", "const", "async", "unsafe", "extern", "\"C\""].contains(&word)
            || word.starts_with("pub(");
        if !qualifier {
            return None;
        }
    }
    None
}

/// The byte just past the `}` closing the first block that opens at or
/// after `from`; `None` if a `;` comes first (a declaration without a
/// body) or the block never closes. Comments, strings and character
/// literals are skipped.
fn block_end(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i += text[i..].find('\n').unwrap_or(text.len() - i);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += text[i..].find("*/").map_or(text.len() - i, |end| end + 2);
                continue;
            }
            b'"' => i = string_end(text, i),
            b'r' if raw_string_start(text, i) => i = raw_string_end(text, i),
            b'\'' => i = char_end(text, i),
            b';' if depth == 0 => return None,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the closing `"` of the string opening at `start`.
fn string_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i
}

/// Whether a raw string (`r"`, `r#"`, ...) starts at `i` (and not inside a
/// name such as `for`).
fn raw_string_start(text: &str, i: usize) -> bool {
    let before = text[..i].chars().next_back();
    let after = text[i + 1..].trim_start_matches('#');
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && after.starts_with('"')
}

/// The index of the last byte of the raw string starting at `start`.
fn raw_string_end(text: &str, start: usize) -> usize {
    let hashes = text[start + 1..].len() - text[start + 1..].trim_start_matches('#').len();
    let body = start + 2 + hashes;
    let closing = format!("\"{}", "#".repeat(hashes));
    text[body..]
        .find(&closing)
        .map_or(text.len(), |end| body + end + closing.len() - 1)
}

/// The index of the closing `'` of a character literal at `start`, or
/// `start` itself for a lifetime.
fn char_end(text: &str, start: usize) -> usize {
    let rest = &text[start + 1..];
    if let Some(escaped) = rest.strip_prefix('\\') {
        return start + 1 + escaped.find('\'').map_or(0, |end| end + 1);
    }
    match rest.char_indices().nth(1) {
        Some((at, '\'')) => start + 1 + at,
        _ => start,
    }
}

// ------------------------------------------------- the checker, checked

mod checker {
    use super::*;

    fn file(path: &str, text: &str) -> Vec<(String, String)> {
        vec![(path.to_owned(), text.to_owned())]
    }

    #[test]
    fn an_upward_use_is_found_in_use_lines_groups_paths_and_doc_links() {
        for text in [
            "use crate::server::Config;\n",
            "use crate::{token::Token, server};\n",
            "fn f() { crate::server::run(); }\n",
            "//! See [`crate::server`].\n",
        ] {
            let found = layer_violations(&file("src/store/mod.rs", text));
            assert!(
                found.contains(&("src/store/mod.rs".into(), "server".into())),
                "{text}"
            );
        }
    }

    #[test]
    fn a_downward_or_inner_use_is_allowed() {
        let text = "use crate::token::Key;\nuse crate::sync::Arc;\nuse super::index;\n\
                    fn f() { crate::report(format_args!(\"\")); }\n";
        assert!(layer_violations(&file("src/store/lockfree/mod.rs", text)).is_empty());
        // Through the closure: job -> store -> token.
        assert!(layer_violations(&file("src/job/mod.rs", "use crate::token::Key;")).is_empty());
        assert!(layer_violations(&file("src/app.rs", "use crate::server::run;")).is_empty());
    }

    #[test]
    fn a_super_path_that_climbs_to_the_root_counts() {
        let found = layer_violations(&file("src/token.rs", "use super::store::Store;"));
        assert_eq!(found.len(), 1);
        let found = layer_violations(&file("src/job/exec.rs", "use super::super::cli::Args;"));
        assert!(found.contains(&("src/job/exec.rs".into(), "cli".into())));
    }

    #[test]
    fn an_unknown_root_item_is_a_violation() {
        let found = layer_violations(&file("src/token.rs", "fn f() { crate::helper(); }"));
        assert!(found.contains(&("src/token.rs".into(), "helper".into())));
    }

    #[test]
    fn a_closing_test_module_is_not_counted_but_code_after_it_is() {
        let code = "fn f() {}\n".repeat(MAX_FILE_LINES);
        let tests = "#[cfg(test)]\nmod tests {\n    fn g() {}\n}\n";
        assert_eq!(counted_lines(&format!("{code}{tests}")), MAX_FILE_LINES);
        assert_eq!(
            counted_lines(&format!("{code}{tests}fn h() {{}}\n")),
            MAX_FILE_LINES + 5
        );
        assert!(counted_lines(&format!("{code}fn h() {{}}\n")) > MAX_FILE_LINES);
    }

    #[test]
    fn function_lengths_count_braces_outside_strings_and_comments() {
        let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
        let text = format!(
            "pub(crate) fn long() {{\n{body}}}\n\
             fn short() -> char {{\n    let _ = \"}}\"; // }}\n    let _ = r#\"{{\"#;\n    let _ = '\\'';\n    '}}'\n}}\n\
             fn declared();\n\
             fn with_lifetime<'a>(x: &'a str) -> &'a str {{ x }}\n"
        );
        let lengths = function_lengths(&text);
        assert_eq!(
            lengths,
            [
                ("long".into(), MAX_FN_LINES + 2),
                ("short".into(), 6),
                ("with_lifetime".into(), 1),
            ]
        );
    }
}
