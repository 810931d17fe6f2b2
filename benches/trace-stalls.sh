#!/usr/bin/env bash
# Where a load thread's time goes when it is not running its commands:
# runs one kvs-bench command under the kernel's scheduler and system-call
# tracepoints (tracefs, kept in the kernel's buffer until the run ends, so
# tracing adds no thread of its own), then reports, for each of the two
# busiest load threads, every stretch longer than --gap-us between two of
# its events, by what it was doing (switched out while runnable, in a
# system call, in user code after one, in a page fault), which threads ran
# on its core meanwhile, the longest system calls of the backup writers,
# and, by thread name, the user page faults and how long each thread went
# from one to its next event. Needs root and tracefs (/sys/kernel/tracing)
# and python3.
#
#   benches/trace-stalls.sh [--gap-us 500] [--keep DIR] -- KVS-BENCH-ARGS...
#   benches/trace-stalls.sh -- --store lockfree --threads 2 --mix 90:10 \
#       --keys 1000000 --rate 200000 --pause yield --backup-every-ms 200 \
#       --duration-ms 3000
set -euo pipefail
cd "$(dirname "$0")/.."

gap_us=500 keep=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --gap-us) gap_us="${2:?--gap-us needs a number}"; shift ;;
        --keep) keep="${2:?--keep needs a directory}"; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "trace-stalls.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
tracing=/sys/kernel/tracing
[[ -w $tracing/trace ]] || { echo "trace-stalls.sh: needs root and $tracing" >&2; exit 2; }
cargo build --release --quiet --bin kvs-bench

if [[ -n "$keep" ]]; then work=$keep; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi

events="sched:sched_switch sched:sched_wakeup sched:sched_waking raw_syscalls:sys_enter
    raw_syscalls:sys_exit exceptions:page_fault_user mmap_lock:mmap_lock_start_locking
    mmap_lock:mmap_lock_acquire_returned mmap_lock:mmap_lock_released"
reset() {
    echo 0 > $tracing/tracing_on
    echo > $tracing/set_event
    echo > $tracing/set_event_pid
    echo 0 > $tracing/options/event-fork
}
reset
echo > $tracing/trace
old_size=$(cat $tracing/buffer_size_kb)
echo 400000 > $tracing/buffer_size_kb
echo mono > $tracing/trace_clock
echo 1 > $tracing/options/event-fork
for event in $events; do echo "$event" >> $tracing/set_event; done
# The shell puts itself in the traced set and becomes kvs-bench, whose
# threads inherit it (event-fork).
sh -c "echo \$\$ > $tracing/set_event_pid; echo 1 > $tracing/tracing_on; exec target/release/kvs-bench $*" \
    > "$work/bench.txt" 2> "$work/bench.err" || { reset; cat "$work/bench.err" >&2; exit 1; }
reset
cat $tracing/trace > "$work/trace.txt"
echo > $tracing/trace
echo "$old_size" > $tracing/buffer_size_kb

cat "$work/bench.txt"
python3 benches/trace_stalls.py "$work/trace.txt" "$gap_us"
