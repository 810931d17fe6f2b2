//! Benchmarks of the job-line parser: one line of each shape, and a whole
//! job file read through `JobReader` from memory.
//!
//! `cargo bench --bench parser`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvs::job::{parse_line, JobReader, Line};
use std::hint::black_box;
use std::time::Duration;

/// One representative line of each kind the parser distinguishes.
const LINES: [(&str, &str); 6] = [
    (
        "write_3",
        "WRITE [(key0001,value0001)(key0002,value0002)(key0003,value0003)]",
    ),
    ("read_3", "READ [key0001,key0002,key0003]"),
    ("delete_1", "DELETE [key0001]"),
    ("show", "SHOW"),
    ("comment", "# a comment line that the parser skips"),
    ("invalid", "WRITE [(key0001, value with spaces)]"),
];

fn single_lines(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_line");
    group.measurement_time(Duration::from_millis(700));
    group.warm_up_time(Duration::from_millis(200));
    for (name, line) in LINES {
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse_line(black_box(line.as_bytes()))));
    }
    group.finish();
}

/// 100,000 lines, three quarters two-key writes and one quarter two-key
/// reads, as in the README's timing of a large job set.
fn job_text() -> Vec<u8> {
    let mut text = String::new();
    for i in 0..100_000u32 {
        let k = i % 1000;
        if i % 4 == 0 {
            text.push_str(&format!("READ [k{k},k{}]\n", k + 1));
        } else {
            text.push_str(&format!("WRITE [(k{k},v{i})(k{},v{i})]\n", k + 1));
        }
    }
    text.into_bytes()
}

fn whole_file(c: &mut Criterion) {
    let text = job_text();
    let mut group = c.benchmark_group("job_reader");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("100k_lines", |b| {
        b.iter(|| {
            let mut reader = JobReader::new(black_box(&text[..]));
            let mut commands = 0usize;
            while let Some(line) = reader.next_line().expect("in-memory reads cannot fail") {
                commands += usize::from(matches!(line, Line::Command(_)));
            }
            commands
        })
    });
    group.finish();
}

criterion_group!(benches, single_lines, whole_file);
criterion_main!(benches);
