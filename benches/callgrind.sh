#!/usr/bin/env bash
# Instructions per job command, counted by callgrind (deterministic, unlike
# wall time on a shared machine): one job file of the course's mixed
# workload (45 % WRITE, 45 % READ, 10 % DELETE of 1 to 3 keys, from
# `examples/jobgen.rs`, fixed seed) run by `kvs` with one worker thread,
# for each engine and key count. Prints one row per run: every instruction
# the process executed divided by the commands, and the per-command
# inclusive cost of each stage:
#
#   parse    JobReader::next_into (reading the file and parsing a line)
#   execute  JobExecutor::execute without its output (the store call and
#            the command's bookkeeping)
#   output   the job's output formatting (write_pair_list, write_show_lines)
#   other    the rest: process start and exit, dropping parsed commands,
#            the job loop
#
#   benches/callgrind.sh                      # 50,000 lines, 1k and 100k keys
#   benches/callgrind.sh --lines 20000 --keys "1000" --engines mutex
#   benches/callgrind.sh --bin OTHER/kvs      # another build, same job files
#   benches/callgrind.sh --keep DIR           # keep job files and profiles
#
# It builds `kvs` and the generator in release mode unless --bin is given.
# Results at each commit that changed them: results/callgrind.txt.
set -euo pipefail

cd "$(dirname "$0")/.."

lines=50000 keys_list="1000 100000" engines="lockfree mutex" bin="" keep=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --lines) lines="${2:?--lines needs a number}"; shift ;;
        --keys) keys_list="${2:?--keys needs a list}"; shift ;;
        --engines) engines="${2:?--engines needs a list}"; shift ;;
        --bin) bin="${2:?--bin needs a kvs binary}"; shift ;;
        --keep) keep="${2:?--keep needs a directory}"; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "callgrind.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind > /dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }

if [[ -z "$bin" ]]; then
    cargo build --release --quiet --bin kvs --example jobgen
    bin=target/release/kvs
else
    cargo build --release --quiet --example jobgen
fi
jobgen=target/release/examples/jobgen

if [[ -n "$keep" ]]; then
    work=$keep
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

# Inclusive cost of the function whose name matches $2 in profile $1.
# callgrind_annotate lists a function once per source file its code came
# from (inlined library code included); the largest of those rows is the
# whole function's inclusive cost. Several matching functions are summed.
inclusive() {
    (cd / && callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$1" 2> /dev/null) |
        awk -v pattern="$2" '
            /^ *[0-9,]+ +\([ 0-9.]+%\) +[^=]/ {
                name = $0
                sub(/ \[[^]]*\]$/, "", name)
                sub(/^[^:]*:/, "", name)
                if (name ~ pattern) {
                    cost = $1
                    gsub(/,/, "", cost)
                    if (cost + 0 > best[name]) best[name] = cost + 0
                }
            }
            END { for (name in best) sum += best[name]; printf "%.0f\n", sum }'
}

per() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.0f", n / d }'; }

printf '%-9s %7s %8s %8s %8s %8s %8s\n' engine keys total parse execute output other
for keys in $keys_list; do
    dir="$work/keys-$keys"
    mkdir -p "$dir"
    "$jobgen" "$lines" "$keys" 1 > "$dir/mixed.job"
    commands=$(grep -c . "$dir/mixed.job")
    for engine in $engines; do
        profile="$work/$engine-$keys.callgrind"
        rm -f "$dir/mixed.out"
        valgrind --tool=callgrind --callgrind-out-file="$profile" \
            "$bin" "$dir" 1 1 --store "$engine" > /dev/null 2>&1
        total=$(awk '/^(summary|totals):/ { print $2; exit }' "$profile")
        parse=$(inclusive "$profile" '::JobReader<R>::next_(line|into)$')
        execute=$(inclusive "$profile" '::JobExecutor<[^>]*>::execute$')
        output=$(inclusive "$profile" '::(write_pair_list|write_show_lines)$')
        if [[ $execute == 0 || $parse == 0 ]]; then
            echo "callgrind.sh: a stage's function was inlined away; see $profile" >&2
        fi
        printf '%-9s %7s %8s %8s %8s %8s %8s\n' "$engine" "$keys" \
            "$(per "$total" "$commands")" "$(per "$parse" "$commands")" \
            "$(per $((execute - output)) "$commands")" "$(per "$output" "$commands")" \
            "$(per $((total - parse - execute)) "$commands")"
    done
done
