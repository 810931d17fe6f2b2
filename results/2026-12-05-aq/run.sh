#!/bin/bash
# Part AQ: target 5's tail at 1M keys on two load threads, split by whether
# each write's own thread was switched out during it (kvs-bench
# --count-switches): without backups (label none), with a backup every
# 10 ms (backup) and with a thread that never touches the store sweeping
# 256 MiB in the backup's place (stream); lock-free engine, 50:50, 10 runs
# per arm, the arms alternated, run i of each arm with --seed i.
#
#   results/2026-12-05-aq/run.sh > results/2026-12-05-aq/hog.jsonl   (from the checkout)
set -euo pipefail
cargo build --release --quiet --bin kvs-bench
for run in $(seq 1 10); do
    for arm in none backup stream; do
        case $arm in
            none) extra=() ;;
            backup) extra=(--backup-every-ms 10) ;;
            stream) extra=(--hog stream) ;;
        esac
        target/release/kvs-bench --store lockfree --threads 2 --keys 1000000 --mix 50:50 \
            --seed "$run" --label "$arm" --count-switches --json "${extra[@]}"
    done
done
