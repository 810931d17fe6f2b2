#!/bin/bash
# Part AU: what the slowest thousandth of writes is, at 1M keys on two
# load threads (target 5's undecided configuration on the Intel machine).
#
# 1. gaps.c: a thread that only reads the clock in a loop for 2 s counts
#    the gaps between two readings longer than 5, 10, 20 and 40 us (the
#    machine holding it up: interrupts, the hypervisor); once alone, then
#    two at once (one per core).
# 2. probe.patch (measurement only, not kept): kvs-bench --count-switches
#    also classes each write by whether its thread took a page fault, and
#    prints "probe [ran, faulted, preempted, blocked, slow ran, slow
#    faulted, slow preempted, slow blocked]" on stderr: the writes of each
#    class, then those of each class that took 25 us or more ("ran": not
#    switched out and no page fault). Lock-free engine, 1M keys, 2 load
#    threads, 50:50, without backups and with one every 10 ms, 5 runs
#    each, alternated.
#
#   results/2026-12-05-au/run.sh > results/2026-12-05-au/out.txt   (from the checkout)
set -euo pipefail
here=results/2026-12-05-au
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree"; rm -rf "$work"' EXIT
cc -O2 -o "$work/gaps" "$here/gaps.c"
echo "== gaps, one thread"
"$work/gaps"
echo "== gaps, two threads at once"
"$work/gaps" & "$work/gaps"; wait
git worktree add --quiet --force --detach "$work/tree" HEAD
git -C "$work/tree" apply "$PWD/$here/probe.patch"
(cd "$work/tree" && CARGO_TARGET_DIR="$work/target" cargo build --release --quiet --bin kvs-bench)
echo "== writes by class (arm, p99.9 us, writes, probe)"
for run in 1 2 3 4 5; do
    for arm in none backup; do
        extra=()
        [[ $arm == backup ]] && extra=(--backup-every-ms 10)
        line=$("$work/target/release/kvs-bench" --store lockfree --threads 2 --keys 1000000 \
            --mix 50:50 --seed "$run" --count-switches --json "${extra[@]}" 2> "$work/err")
        p999=$(sed 's/.*"write_p999_us":\([0-9.]*\).*/\1/' <<< "$line")
        writes=$(sed 's/.*"writes":\([0-9]*\).*/\1/' <<< "$line")
        echo "$arm $p999 $writes $(grep '^probe' "$work/err")"
    done
done
