#!/bin/bash
# Part AS: an ablation, built for this measurement only: the backup writer
# never gives its buffer of pairs back to the kernel (`no-release.patch`:
# pace::release leaks the buffer), so it sends the load threads' cores no
# TLB-shootdown interrupts. Against the current build without backups
# (label none) and with a backup every 10 ms (backup); the ablation with a
# backup every 10 ms (leak-backup). Lock-free engine, 1M keys, 2 load
# threads, 50:50, 10 runs per arm, alternated, run i of each with --seed i;
# each line adds the TLB shootdowns /proc/interrupts counted during the run.
#
#   results/2026-12-05-as/run.sh > results/2026-12-05-as/hog.jsonl   (from the checkout)
set -euo pipefail
cargo build --release --quiet --bin kvs-bench
ablation=$(mktemp -d)
trap 'git worktree remove --force "$ablation"' EXIT
git worktree add --quiet --force --detach "$ablation" HEAD
git -C "$ablation" apply "$PWD/results/2026-12-05-as/no-release.patch"
(cd "$ablation" && CARGO_TARGET_DIR="$ablation/target" cargo build --release --quiet --bin kvs-bench)
shootdowns() { awk '$1 == "TLB:" { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; print n }' /proc/interrupts; }
for run in $(seq 1 10); do
    for arm in none backup leak-backup; do
        case $arm in
            none) bin=target/release/kvs-bench extra=() ;;
            backup) bin=target/release/kvs-bench extra=(--backup-every-ms 10) ;;
            leak-backup) bin="$ablation/target/release/kvs-bench" extra=(--backup-every-ms 10) ;;
        esac
        before=$(shootdowns)
        line=$("$bin" --store lockfree --threads 2 --keys 1000000 --mix 50:50 \
            --seed "$run" --label "$arm" --json "${extra[@]}")
        after=$(shootdowns)
        echo "${line%\}},\"tlb_shootdowns\":$((after - before))}"
    done
done
