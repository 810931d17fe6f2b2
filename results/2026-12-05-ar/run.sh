#!/bin/bash
# Part AR: part AQ's backup arm with the backup writer at SCHED_IDLE
# (--backup-priority idle, label backup-idle), against runs without
# backups (none); lock-free engine, 1M keys, 2 load threads, 50:50,
# --count-switches, 10 runs per arm, alternated, run i of each with --seed i.
#
#   results/2026-12-05-ar/run.sh > results/2026-12-05-ar/hog.jsonl   (from the checkout)
set -euo pipefail
cargo build --release --quiet --bin kvs-bench
for run in $(seq 1 10); do
    for arm in none backup-idle; do
        case $arm in
            none) extra=() ;;
            backup-idle) extra=(--backup-every-ms 10 --backup-priority idle) ;;
        esac
        target/release/kvs-bench --store lockfree --threads 2 --keys 1000000 --mix 50:50 \
            --seed "$run" --label "$arm" --count-switches --json "${extra[@]}"
    done
done
