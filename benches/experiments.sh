#!/usr/bin/env bash
# Runs the paper's experiments with kvs-bench and writes one JSON line per
# run to results/<experiment>.jsonl (each file is rewritten from scratch).
#
#   benches/experiments.sh            # full run (about 15 minutes on 2 cores)
#   benches/experiments.sh --quick    # tiny version of everything (< 1 minute)
#   benches/experiments.sh --runs 5   # more repetitions per configuration
#   benches/experiments.sh --only notify   # one experiment
#
# Every configuration runs with both engines, alternating lockfree and mutex
# run by run (so slow drifts of the machine hit both alike), --runs times
# each. Then `cargo run --release --example report` turns the files into
# results/tables.md and results/*.svg.
#
# Experiments:
#   throughput  threads (1, 2) x mix (100:0, 90:10, 50:50) x keys (1k, 100k, 1M)
#   latency     write latency with and without back-to-back backups, 100k and 1M keys
#   backup      snapshot start and backup duration by store size (10k, 100k, 1M)
#   fork        fork() pause of a process holding the same stores
#   notify      notification throughput and commit-to-delivery latency, 1 and 8 subscribers
#   memory      peak RSS and live versions, 1M keys, with and without backups
set -euo pipefail

cd "$(dirname "$0")/.."

quick=0
runs=3
only=""
out=results
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs) runs="${2:?--runs needs a number}"; shift ;;
        --only) only="${2:?--only needs an experiment name}"; shift ;;
        --out) out="${2:?--out needs a directory}"; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "experiments.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "experiments.sh: --runs must be a positive integer" >&2
    exit 2
fi

if [[ $quick == 1 ]]; then
    runs=1
    duration=200
    small=1000; medium=10000; large=20000
    backup_duration=300
else
    duration=2000
    small=1000; medium=100000; large=1000000
    backup_duration=2000
fi

cargo build --release --quiet --bin kvs-bench
bench=target/release/kvs-bench
mkdir -p "$out"

# Where and on what the numbers were measured. A single experiment rerun
# (--only) adds a line instead of replacing the full run's description.
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
if [[ -n "$only" && -s "$out/machine.txt" ]]; then
    echo "rerun of $only: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit, runs $runs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
else
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit: $commit"
        echo "mode: $([[ $quick == 1 ]] && echo quick || echo full), runs per configuration: $runs"
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "cores: $(nproc)"
        echo "memory: $(grep MemTotal /proc/meminfo | awk '{print $2 " KiB"}')"
        echo "kernel: $(uname -r)"
        echo "rustc: $(rustc --version)"
        echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    } > "$out/machine.txt"
fi

wanted() { [[ -z "$only" || "$only" == "$1" ]]; }

# run EXPERIMENT ARGS...: every repetition, both engines, appended as JSON lines.
run() {
    local experiment=$1; shift
    local run store
    for run in $(seq "$runs"); do
        for store in lockfree mutex; do
            "$bench" --store "$store" --seed "$run" --json "$@" >> "$out/$experiment.jsonl"
        done
    done
}

start_experiment() {
    echo "== $1 ($(date +%H:%M:%S))" >&2
    : > "$out/$1.jsonl"
}

if wanted throughput; then
    start_experiment throughput
    for threads in 1 2; do
        for mix in 100:0 90:10 50:50; do
            for keys in $small $medium $large; do
                run throughput --threads "$threads" --mix "$mix" --keys "$keys" --duration-ms "$duration"
            done
        done
    done
fi

if wanted latency; then
    start_experiment latency
    for keys in $medium $large; do
        for threads in 1 2; do
            for every in 0 1; do
                run latency --threads "$threads" --mix 50:50 --keys "$keys" \
                    --backup-every-ms "$every" --duration-ms "$duration"
            done
        done
    done
fi

if wanted backup; then
    start_experiment backup
    for keys in 10000 $medium $large; do
        run backup --threads 1 --mix 90:10 --keys "$keys" --backup-every-ms 100 \
            --duration-ms "$backup_duration"
    done
fi

if wanted fork; then
    start_experiment fork
    for keys in 10000 $medium $large; do
        run fork --fork-pause --keys "$keys" --fork-runs 7
    done
fi

if wanted notify; then
    start_experiment notify
    # Unpaced: how many notifications the path carries (rings large enough
    # that the readers are not disconnected); 0 subscribers is the baseline
    # for the write throughput.
    for subscribers in 0 1 8; do
        run notify --threads 2 --mix 0:100 --keys 10000 --notify "$subscribers" \
            --ring-capacity 65536 --duration-ms "$duration"
    done
    # Paced at 50k commands/s: delivery latency at a load the readers follow.
    for subscribers in 1 8; do
        run notify --threads 2 --mix 0:100 --keys 10000 --notify "$subscribers" \
            --rate 50000 --duration-ms "$duration"
    done
fi

if wanted memory; then
    start_experiment memory
    for mix in 90:10 50:50; do
        for every in 0 1; do
            run memory --threads 2 --mix "$mix" --keys "$large" --backup-every-ms "$every" \
                --duration-ms "$duration"
        done
    done
fi

echo "== done ($(date +%H:%M:%S)); results in $out/" >&2
