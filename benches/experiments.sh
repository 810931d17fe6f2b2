#!/usr/bin/env bash
# Runs the paper's experiments with kvs-bench and writes one JSON line per
# run to results/<experiment>.jsonl, and every run's full latency histograms
# to results/<experiment>.hlog (HdrHistogram interval log, tagged with the
# JSON's run_id). Each file is rewritten from scratch.
#
#   benches/experiments.sh                  # full run
#   benches/experiments.sh --quick          # tiny version of everything
#   benches/experiments.sh --runs 10        # repetitions per configuration (default 10)
#   benches/experiments.sh --order-seed 42  # the random order of the runs (default: the clock)
#   benches/experiments.sh --only shards    # one experiment (repeatable)
#
# Every configuration runs --runs times with each of its engines; run i of
# every engine gets --seed i, so the report pairs them. All runs of all
# selected experiments are shuffled together in a random order drawn from
# --order-seed (recorded in machine.txt), so slow drifts of the machine
# spread over every configuration and engine alike. Then
# `cargo run --release --example report` turns the files into
# results/tables.md and results/*.svg, with paired ratios and verdicts.
#
# Experiments:
#   jobs        job files, the course's own workload: 2 files of 200k lines
#               (examples/jobgen.rs: 45 % WRITE, 45 % READ, 10 % DELETE of
#               1-3 keys) at 1k and 100k keys; the wall time of `kvs`
#               (lockfree, mutex) at 1 and 2 threads and of the C yardstick
#               (benches/yardstick/, one read(2) per byte, built here with
#               cc -O2) at 2 threads
#   capacity    closed-loop throughput the open-loop rates are fractions of
#               (runs first, not shuffled with the rest; 3 runs)
#   throughput  closed loop: threads (1, 2) x mix (100:0, 90:10, 50:50) x keys
#               (1k, 100k, 1M), engines lockfree, mutex, cow, flurry
#   openloop    --rate at 25, 50, 75, 90 % of each engine's capacity, 90:10,
#               2 threads, 100k and 1M keys, without backups and with one
#               every 100 ms; plus 1M keys at 200k commands/s with a backup
#               every 200 ms
#   latency     closed-loop write latency with and without back-to-back
#               backups, 100k and 1M keys, lockfree, mutex, cow; and with a
#               backup every 10 ms, lockfree and mutex
#   oversub     oversubscription: 16 and 64 load threads on 2 cores (pinned
#               to CPUs 0-1 with taskset on a larger machine), 100k keys,
#               90:10, lockfree and mutex, timed after a warm-up as long as
#               the timed load (--warmup-ms), so that the figures are the
#               steady state's, not the heap's growth to the run's size
#   preempt     oversub's runs with --count-switches: which writes their own
#               thread's preemption (or blocking) delayed, and the p99.9 of
#               the others
#   backupprio  the open-loop fixed-rate check (200k commands/s, 1M keys,
#               2 threads, 90:10) with a backup every 200 ms written by a
#               thread at normal, low and idle priority (--backup-priority),
#               and without backups, lockfree and mutex, with the load
#               threads yielding or sleeping until each command is due
#               (--pause)
#   backup      backups every 100 ms: start and file-writing time by store
#               size (10k, 100k, 1M keys), 1 thread, 90:10
#   backupstart --backup-starts 1000 per run (10,000 per configuration over
#               10 runs, merged from the .hlog), 10k, 100k, 1M keys
#   shards      the mutex engine's shard count (8 to 1024) and lock (std,
#               parking-lot), 2 threads, 100k keys, 90:10 and 50:50
#   forkbackup  fork-based backups of the mutex engine (--backup-fork) against
#               snapshot backups, every 100 ms, 2 threads, 50:50, 100k and 1M keys
#   fork        fork() pause of a process holding the same stores
#   notify      notification throughput and commit-to-delivery latency
#   memory      peak RSS and live versions, 1M keys, with and without backups
#   micro       the criterion micro-benchmarks (cargo bench: store, ring,
#               parser), run last and not shuffled; micro.jsonl holds
#               criterion's median and mean per benchmark
#   nofree      the no-free ablation: the lock-free engine built with
#               `--features ablation-no-free` (pruned versions are leaked,
#               never freed) against the normal build, 1 thread 0:100 and
#               2 threads 50:50 at 100k keys, 2 threads 50:50 at 1k keys;
#               the JSON's label says which build ran
#   allocator   the global allocator: kvs-bench built as shipped (mimalloc,
#               without transparent huge pages, label mimalloc), the same
#               binary with MIMALLOC_ALLOW_THP=1 (mimalloc on transparent
#               huge pages, label mimalloc-thp) and `--features
#               system-allocator` (the C library's malloc, label system),
#               both engines, 2 threads, 90:10 at 1k, 100k and 1M keys and
#               50:50 at 100k keys; and the notification rig's paced runs
#               (8 subscribers, 50k commands/s), where huge pages ended
#               sessions
#   allocjobs   the allocator's arms on job files (experiment jobs' two
#               files at 1k and 100k keys): `kvs` as shipped (label
#               mimalloc), with MIMALLOC_ALLOW_THP=1 (label mimalloc-thp)
#               and built with `--features system-allocator` (label
#               system), both engines, 1 and 2 threads
#   backupcost  what a backup costs the lock-free engine's writers (target
#               5): latency's closed-loop 50:50 load without backups and
#               with one every 10 ms, 100k and 1M keys, 1 and 2 threads,
#               in the normal build (label current), the no-free build
#               (label no-free) and with the backup writer at SCHED_IDLE
#               (label idle)
#   hog         target 5's control: latency's closed-loop 50:50 load, 100k
#               and 1M keys, 1 and 2 threads, both engines, without backups
#               (label none), with one every 10 ms (label backup), and with
#               a thread that never touches the store in the backup's place
#               for the whole load (kvs-bench --hog): spinning (label spin)
#               or sweeping 256 MiB of memory (label stream); and with a
#               thread that only holds snapshots open, 800 ms each, unread
#               and asleep (label hold: what an open snapshot alone costs)
set -euo pipefail

cd "$(dirname "$0")/.."

quick=0
runs=10
order_seed=$(date +%s)
only=()
out=results
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs) runs="${2:?--runs needs a number}"; shift ;;
        --order-seed) order_seed="${2:?--order-seed needs a number}"; shift ;;
        --only) only+=("${2:?--only needs an experiment name}"); shift ;;
        --out) out="${2:?--out needs a directory}"; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "experiments.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for number in "$runs" "$order_seed"; do
    if ! [[ "$number" =~ ^[0-9]+$ ]] || [[ "$runs" == 0 ]]; then
        echo "experiments.sh: --runs and --order-seed must be non-negative integers (runs > 0)" >&2
        exit 2
    fi
done

if [[ $quick == 1 ]]; then
    runs=2
    duration=200
    warmup=200
    small=1000; medium=10000; large=20000
    starts=50
    job_lines=5000
else
    duration=2000
    warmup=2000
    small=1000; medium=100000; large=1000000
    starts=1000
    job_lines=200000
fi

cargo build --release --quiet --bin kvs-bench
bench=target/release/kvs-bench
# The ablation and system-allocator builds live in target directories of
# their own, so that neither replaces the normal kvs-bench.
nofree_target=target/ablation-no-free
nofree_bench=$nofree_target/release/kvs-bench
system_target=target/system-allocator
system_bench=$system_target/release/kvs-bench
system_kvs=$system_target/release/kvs
mkdir -p "$out"

wanted() {
    [[ ${#only[@]} == 0 ]] && return 0
    local name
    for name in "${only[@]}"; do [[ "$name" == "$1" ]] && return 0; done
    return 1
}

{
    benches/machine.sh
    echo "mode: $([[ $quick == 1 ]] && echo quick || echo full), runs per configuration: $runs"
    echo "order seed: $order_seed (shuffled with $(awk -W version 2>&1 | head -1))"
    echo "experiments: ${only[*]:-all}"
} > "$out/machine.txt"

# The queue: one line per run, "EXPERIMENT<TAB>ARGS".
queue=$(mktemp)
# The job files of experiment jobs, one directory per key count.
jobs_work=""
trap 'rm -f "$queue"; [[ -z "$jobs_work" ]] || rm -rf "$jobs_work"' EXIT

# add EXPERIMENT "ENGINES" ARGS...: every repetition of one configuration.
add() {
    local experiment=$1 engines=$2; shift 2
    local run store
    for run in $(seq "$runs"); do
        for store in $engines; do
            printf '%s\t--store %s --seed %s %s\n' "$experiment" "$store" "$run" "$*" >> "$queue"
        done
    done
}

# run_line EXPERIMENT ARGS: one run, appended to the experiment's files
# (with the ablation or system-allocator build when ARGS carry its label,
# with mimalloc's transparent huge pages on for label mimalloc-thp;
# on two CPUs for oversub).
run_line() {
    local experiment=$1 args=$2 binary=$bench pin=()
    if [[ $experiment == jobs || $experiment == allocjobs ]]; then
        time_jobs "$experiment" "$args" >> "$out/$experiment.jsonl"
        return
    fi
    [[ " $args " == *" --label no-free "* ]] && binary=$nofree_bench
    [[ " $args " == *" --label system "* ]] && binary=$system_bench
    if [[ " $args " == *" --label mimalloc-thp "* ]]; then local -x MIMALLOC_ALLOW_THP=1; fi
    [[ $experiment == oversub || $experiment == preempt ]] && pin=("${two_cpus[@]}")
    # shellcheck disable=SC2086 # ARGS is a list of words by construction.
    "${pin[@]}" "$binary" --json --hdr-log "$out/$experiment.hlog" $args \
        >> "$out/$experiment.jsonl" < /dev/null
}

# time_jobs EXPERIMENT ARGS: one run of experiment jobs or allocjobs (ARGS
# as `add` writes them: --store S --seed N --threads T --keys K, then
# --label L for allocjobs), timed from the process's start to its exit, as
# a JSON line. The seed only pairs the runs: every run of a key count reads
# the same two job files. The label picks the build and environment as in
# run_line.
time_jobs() {
    local experiment=$1 store seed threads keys label=""
    read -r _ store _ seed _ threads _ keys _ label <<< "$2"
    local dir=$jobs_work/$keys binary=target/release/kvs
    [[ $label == system ]] && binary=$system_kvs
    # Exported for this call's children only, as in run_line: no env(1)
    # exec adds to the timed run.
    if [[ $label == mimalloc-thp ]]; then local -x MIMALLOC_ALLOW_THP=1; fi
    local command=("$binary" "$dir" "$threads" 1 --store "$store")
    [[ $store == yardstick ]] && command=(target/release/yardstick "$dir" "$threads")
    rm -f "$dir"/*.out
    local start=${EPOCHREALTIME/,/.}
    if ! "${command[@]}" > /dev/null 2> "$jobs_work/stderr" < /dev/null; then
        echo "experiments.sh: ${command[*]} failed:" >&2
        cat "$jobs_work/stderr" >&2
        return 1
    fi
    local end=${EPOCHREALTIME/,/.}
    local out_bytes
    out_bytes=$(cat "$dir"/*.out | wc -c)
    awk -v experiment="$experiment" -v store="$store" -v seed="$seed" -v threads="$threads" \
        -v keys="$keys" -v label="$label" -v lines="$job_lines" -v start="$start" -v end="$end" \
        -v out_bytes="$out_bytes" 'BEGIN {
        wall = (end - start) * 1000
        printf "{\"experiment\":\"%s\",\"store\":\"%s\",\"seed\":%d,\"threads\":%d,\"keys\":%d,", experiment, store, seed, threads, keys
        if (label != "") printf "\"label\":\"%s\",", label
        printf "\"files\":2,\"lines_per_file\":%d,\"wall_ms\":%.3f,\"commands_per_sec\":%.1f,\"out_bytes\":%d}\n", lines, wall, 2 * lines / (wall / 1000), out_bytes
    }'
}

# micro_lines: every criterion benchmark of target/criterion as one JSON
# line of micro.jsonl: its id, the median and mean time per iteration in ns,
# and for the store benchmarks (ids OP/Kk/Tt/ENGINE) the operation, keys,
# threads and engine as fields the report can filter on.
micro_lines() {
    local id
    find target/criterion -path '*/new/benchmark.json' | sort | while read -r id; do
        jq -c --slurpfile estimates "$(dirname "$id")/estimates.json" '
            (.full_id | split("/")) as $part
            | {experiment: "micro", bench: .full_id,
               median_ns: $estimates[0].median.point_estimate,
               mean_ns: $estimates[0].mean.point_estimate}
            + (if ($part | length) == 4 and ($part[1] | test("^[0-9]+k$"))
               then {op: $part[0], keys: (($part[1] | rtrimstr("k") | tonumber) * 1000),
                     threads: ($part[2] | rtrimstr("t") | tonumber), store: $part[3]}
               else {} end)' "$id" >> "$out/micro.jsonl"
    done
}

start_files() {
    local experiment
    for experiment in "$@"; do
        : > "$out/$experiment.jsonl"
        : > "$out/$experiment.hlog"
    done
}

# The median closed-loop throughput of ENGINE at KEYS keys (from capacity).
capacity_of() {
    jq -s --arg store "$1" --argjson keys "$2" \
        '[.[] | select(.store == $store and .keys == $keys) | .ops_per_sec] | sort
         | if length == 0 then 0 else .[(length / 2 | floor)] end' "$out/capacity.jsonl"
}

# The two job files of experiments jobs and allocjobs at each key count,
# one directory per key count under $jobs_work.
if wanted jobs || wanted allocjobs; then
    cargo build --release --quiet --bin kvs --example jobgen
    jobs_work=$(mktemp -d)
    for keys in $small $medium; do
        mkdir "$jobs_work/$keys"
        for file in 1 2; do
            target/release/examples/jobgen "$job_lines" "$keys" "$file" > "$jobs_work/$keys/$file.job"
        done
    done
fi

if wanted jobs; then
    cc -O2 -pthread -o target/release/yardstick benches/yardstick/yardstick.c
    start_files jobs
    rm "$out/jobs.hlog" # timed from outside: no histograms
    for keys in $small $medium; do
        for threads in 1 2; do
            add jobs "lockfree mutex" --threads "$threads" --keys "$keys"
        done
        add jobs yardstick --threads 2 --keys "$keys"
    done
fi

if wanted allocjobs; then
    cargo build --release --quiet --bin kvs --features system-allocator \
        --target-dir "$system_target"
    start_files allocjobs
    rm "$out/allocjobs.hlog" # timed from outside: no histograms
    for keys in $small $medium; do
        for threads in 1 2; do
            for build in mimalloc mimalloc-thp system; do
                add allocjobs "lockfree mutex" --threads "$threads" --keys "$keys" --label "$build"
            done
        done
    done
fi

openloop_engines="lockfree mutex"
if wanted openloop; then
    echo "== capacity ($(date +%H:%M:%S))" >&2
    start_files capacity
    saved_runs=$runs; runs=3
    for keys in $medium $large; do
        add capacity "$openloop_engines" --threads 2 --mix 90:10 --keys "$keys" --duration-ms "$duration"
    done
    runs=$saved_runs
    while IFS=$'\t' read -r experiment args; do run_line "$experiment" "$args"; done < "$queue"
    : > "$queue"
fi

if wanted throughput; then
    start_files throughput
    for threads in 1 2; do
        for mix in 100:0 90:10 50:50; do
            for keys in $small $medium $large; do
                add throughput "lockfree mutex cow flurry" --threads "$threads" --mix "$mix" \
                    --keys "$keys" --duration-ms "$duration"
            done
        done
    done
fi

if wanted openloop; then
    start_files openloop
    for keys in $medium $large; do
        for store in $openloop_engines; do
            capacity=$(capacity_of "$store" "$keys")
            for percent in 25 50 75 90; do
                rate=$(( ${capacity%.*} * percent / 100 ))
                for every in 0 100; do
                    add openloop "$store" --threads 2 --mix 90:10 --keys "$keys" --rate "$rate" \
                        --label "load=$percent%" --backup-every-ms "$every" --duration-ms "$duration"
                done
            done
        done
    done
    for every in 0 200; do
        add openloop "$openloop_engines" --threads 2 --mix 90:10 --keys "$large" --rate 200000 \
            --label fixed-rate --backup-every-ms "$every" --duration-ms "$duration"
    done
fi

if wanted backupprio; then
    start_files backupprio
    for pause in yield sleep; do
        for setting in "0 normal" "200 normal" "200 low" "200 idle"; do
            read -r every priority <<< "$setting"
            add backupprio "$openloop_engines" --threads 2 --mix 90:10 --keys "$large" \
                --rate 200000 --pause "$pause" --label fixed-rate --backup-every-ms "$every" \
                --backup-priority "$priority" --duration-ms "$duration"
        done
    done
fi

if wanted latency; then
    start_files latency
    for keys in $medium $large; do
        for threads in 1 2; do
            for every in 0 1; do
                add latency "lockfree mutex cow" --threads "$threads" --mix 50:50 --keys "$keys" \
                    --backup-every-ms "$every" --duration-ms "$duration"
            done
            add latency "lockfree mutex" --threads "$threads" --mix 50:50 --keys "$keys" \
                --backup-every-ms 10 --duration-ms "$duration"
        done
    done
fi

# The command prefix that confines oversub's processes to two CPUs: none
# on a machine of two, taskset on a larger one.
two_cpus=()
if wanted oversub || wanted preempt; then
    if (( $(nproc) > 2 )); then
        command -v taskset > /dev/null ||
            { echo "experiments.sh: oversub needs taskset on a machine of more than 2 CPUs" >&2; exit 2; }
        two_cpus=(taskset -c 0,1)
    fi
fi
for experiment in oversub preempt; do
    wanted "$experiment" || continue
    start_files "$experiment"
    switches=()
    [[ $experiment == preempt ]] && switches=(--count-switches)
    for threads in 16 64; do
        add "$experiment" "lockfree mutex" --threads "$threads" --mix 90:10 --keys "$medium" \
            --duration-ms "$duration" --warmup-ms "$warmup" "${switches[@]}"
    done
done

if wanted backup; then
    start_files backup
    for keys in 10000 $medium $large; do
        add backup "lockfree mutex cow" --threads 1 --mix 90:10 --keys "$keys" \
            --backup-every-ms 100 --duration-ms "$duration"
    done
fi

if wanted backupstart; then
    start_files backupstart
    for keys in 10000 $medium $large; do
        add backupstart "lockfree mutex cow" --threads 1 --mix 90:10 --keys "$keys" \
            --backup-starts "$starts" --duration-ms 1
    done
fi

if wanted shards; then
    start_files shards
    for shards in 8 16 32 64 128 256 512 1024; do
        for lock in std parking-lot; do
            for mix in 90:10 50:50; do
                add shards mutex --shards "$shards" --lock "$lock" --threads 2 --mix "$mix" \
                    --keys "$medium" --duration-ms "$duration"
            done
        done
    done
fi

if wanted forkbackup; then
    start_files forkbackup
    for keys in $medium $large; do
        add forkbackup "lockfree mutex cow" --threads 2 --mix 50:50 --keys "$keys" \
            --backup-every-ms 100 --duration-ms "$duration"
        add forkbackup mutex --threads 2 --mix 50:50 --keys "$keys" \
            --backup-every-ms 100 --backup-fork --duration-ms "$duration"
    done
fi

if wanted fork; then
    start_files fork
    for keys in 10000 $medium $large; do
        add fork "lockfree mutex" --fork-pause --keys "$keys" --fork-runs 7
    done
fi

if wanted notify; then
    start_files notify
    # Unpaced: how many notifications the path carries (rings large enough
    # that the readers are not disconnected); 0 subscribers is the baseline
    # for the write throughput. A run whose session was ended is kept in the
    # file and dropped by the report.
    for subscribers in 0 1 8; do
        add notify "lockfree mutex" --threads 2 --mix 0:100 --keys 10000 \
            --notify "$subscribers" --ring-capacity 65536 --duration-ms "$duration"
    done
    # Open loop at 50k commands/s: delivery latency at a load the readers follow.
    for subscribers in 1 8; do
        add notify "lockfree mutex" --threads 2 --mix 0:100 --keys 10000 \
            --notify "$subscribers" --rate 50000 --duration-ms "$duration"
    done
fi

if wanted memory; then
    start_files memory
    for mix in 90:10 50:50; do
        for every in 0 1; do
            add memory "lockfree mutex" --threads 2 --mix "$mix" --keys "$large" \
                --backup-every-ms "$every" --duration-ms "$duration"
        done
    done
fi

if wanted nofree || wanted backupcost; then
    cargo build --release --quiet --bin kvs-bench --features ablation-no-free \
        --target-dir "$nofree_target"
fi

if wanted nofree; then
    start_files nofree
    for config in "1 $medium 0:100" "2 $medium 50:50" "2 $small 50:50"; do
        read -r threads keys mix <<< "$config"
        for build in current no-free; do
            add nofree lockfree --threads "$threads" --keys "$keys" --mix "$mix" \
                --label "$build" --duration-ms "$duration"
        done
    done
fi

if wanted allocator; then
    cargo build --release --quiet --bin kvs-bench --features system-allocator \
        --target-dir "$system_target"
    start_files allocator
    for config in "$small 90:10" "$medium 90:10" "$medium 50:50" "$large 90:10"; do
        read -r keys mix <<< "$config"
        for build in mimalloc mimalloc-thp system; do
            add allocator "lockfree mutex" --threads 2 --keys "$keys" --mix "$mix" \
                --label "$build" --duration-ms "$duration"
        done
    done
    for build in mimalloc mimalloc-thp system; do
        add allocator "lockfree mutex" --threads 2 --mix 0:100 --keys 10000 --notify 8 \
            --rate 50000 --label "$build" --duration-ms "$duration"
    done
fi

if wanted backupcost; then
    start_files backupcost
    for keys in $medium $large; do
        for threads in 1 2; do
            for every in 0 10; do
                for label in current no-free idle; do
                    priority=normal
                    [[ $label == idle ]] && priority=idle
                    add backupcost lockfree --threads "$threads" --mix 50:50 --keys "$keys" \
                        --backup-every-ms "$every" --backup-priority "$priority" --label "$label" \
                        --duration-ms "$duration"
                done
            done
        done
    done
fi

if wanted hog; then
    start_files hog
    for keys in $medium $large; do
        for threads in 1 2; do
            for arm in "none --backup-every-ms 0" "backup --backup-every-ms 10" \
                "spin --hog spin" "stream --hog stream" "hold --hog hold"; do
                read -r label flags <<< "$arm"
                # shellcheck disable=SC2086 # FLAGS is a list of words.
                add hog "lockfree mutex" --threads "$threads" --mix 50:50 --keys "$keys" \
                    --label "$label" $flags --duration-ms "$duration"
            done
        done
    done
fi

total=$(wc -l < "$queue")
echo "== $total runs in a random order (order seed $order_seed), from $(date +%H:%M:%S)" >&2
done_runs=0
while IFS=$'\t' read -r experiment args; do
    run_line "$experiment" "$args"
    done_runs=$((done_runs + 1))
    if (( done_runs % 50 == 0 )); then
        echo "   $done_runs / $total ($(date +%H:%M:%S))" >&2
    fi
done < <(awk -v seed="$order_seed" 'BEGIN { srand(seed) } { printf "%.12f\t%s\n", rand(), $0 }' "$queue" \
    | sort -n -k1,1 | cut -f2-)

# The micro-benchmarks run last and alone: criterion times each operation
# itself (its own warm-up and sampling), so they are not shuffled with the
# runs above. One JSON line per benchmark, from criterion's estimates.
if wanted micro; then
    echo "== micro ($(date +%H:%M:%S))" >&2
    start_files micro
    rm -rf target/criterion
    bench_args=(--bench store --bench ring --bench parser)
    [[ $quick == 1 ]] && bench_args=(--bench parser)
    cargo bench --quiet "${bench_args[@]}" > "$out/micro.log" 2>&1 \
        || { echo "experiments.sh: cargo bench failed (see $out/micro.log)" >&2; exit 1; }
    micro_lines
fi

echo "== done ($(date +%H:%M:%S)); results in $out/" >&2
