#!/usr/bin/env bash
# Pending waits with 64 (and 16) load threads on 2 cores, the lock-free
# engine, two builds alternated run by run (run i of both with --seed i):
#   preempt.sh A_BIN B_BIN OUT.jsonl RUNS
set -euo pipefail
a=$1 b=$2 out=$3 runs=${4:-5}
: > "$out"
for seed in $(seq 1 "$runs"); do for threads in 16 64; do for side in a b; do
    bin=$a; [[ $side == b ]] && bin=$b
    "$bin" --store lockfree --threads "$threads" --mix 90:10 --keys 100000 \
        --duration-ms 2000 --warmup-ms 2000 --count-switches --seed "$seed" --json |
        sed "s/^{/{\"side\":\"$side\",/" >> "$out"
done; done; done
