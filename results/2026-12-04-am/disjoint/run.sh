#!/bin/bash
# Two job files of 200,000 lines at 1k keys (examples/jobgen.rs seeds 1
# and 2), once as generated (shared: both files use k0..k999) and once
# with the second file's keys renamed j0..j999 (disjoint: the files share
# no key); `kvs DIR T 1` timed from start to exit, both engines, 1 and 2
# threads, alternated, 10 rounds. Prints: variant engine threads wall_ms.
#
#   results/2026-12-04-am/disjoint/run.sh > out.txt   (from the checkout)
set -euo pipefail
cargo build --release --quiet --bin kvs --example jobgen
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/shared" "$dir/disjoint"
target/release/examples/jobgen 200000 1000 1 > "$dir/shared/1.job"
target/release/examples/jobgen 200000 1000 2 > "$dir/shared/2.job"
cp "$dir/shared/1.job" "$dir/disjoint/1.job"
sed 's/\bk\([0-9]\)/j\1/g' "$dir/shared/2.job" > "$dir/disjoint/2.job"
for round in $(seq 1 10); do
    for variant in shared disjoint; do
        for store in lockfree mutex; do
            for threads in 1 2; do
                rm -f "$dir/$variant"/*.out
                began=$(date +%s%N)
                target/release/kvs "$dir/$variant" "$threads" 1 --store "$store" > /dev/null
                ended=$(date +%s%N)
                echo "$variant $store $threads $(( (ended - began) / 1000000 ))"
            done
        done
    done
done
