#!/usr/bin/env bash
# Paired by seed: the lock-free engine as shipped (mimalloc) against the
# mutex engine built with --features system-allocator (malloc), 1M keys,
# 2 threads, 2 s, both memory mixes without and with back-to-back backups.
#
#   cargo build --release --bin kvs-bench
#   cargo build --release --bin kvs-bench --features system-allocator --target-dir target/system
#   results/2026-12-04-z/vsmalloc.sh target/release/kvs-bench \
#       target/system/release/kvs-bench vsmalloc.jsonl
set -euo pipefail
shipped=${1:?the kvs-bench as shipped}
system=${2:?the kvs-bench built with --features system-allocator}
out=${3:?the output file}
: > "$out"
for every in 0 1; do for mix in 90:10 50:50; do for seed in $(seq 1 10); do
    common=(--threads 2 --keys 1000000 --mix "$mix" --seed "$seed" --duration-ms 2000
        --backup-every-ms "$every" --json)
    "$shipped" --store lockfree --label mimalloc "${common[@]}" >> "$out"
    "$system" --store mutex --label system "${common[@]}" >> "$out"
done; done; done
