#!/bin/bash
# Part AV: what an open snapshot alone costs the writers at 1M keys on two
# load threads: kvs-bench --hog hold takes a snapshot, keeps it 800 ms
# (about a backup of 1M keys here) unread while asleep, and again, so the
# store keeps the versions a backup would keep without any thread busy in
# the backup's place. Arms: none, backup (every 10 ms), hold; lock-free
# engine, 50:50, 10 runs each, alternated, run i of each with --seed i.
#
#   results/2026-12-05-av/run.sh > results/2026-12-05-av/hog.jsonl   (from the checkout)
set -euo pipefail
cargo build --release --quiet --bin kvs-bench
for run in $(seq 1 10); do
    for arm in none backup hold; do
        case $arm in
            none) extra=() ;;
            backup) extra=(--backup-every-ms 10) ;;
            hold) extra=(--hog hold) ;;
        esac
        target/release/kvs-bench --store lockfree --threads 2 --keys 1000000 --mix 50:50 \
            --seed "$run" --label "$arm" --json "${extra[@]}"
    done
done
