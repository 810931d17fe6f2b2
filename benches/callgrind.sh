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
# With --ops it counts single store commands instead of job commands:
# `examples/opcount.rs` fills a store with the given number of keys (1k
# and 1M unless --keys says otherwise), then runs --lines READs of 1, 2
# and 3 keys and as many WRITEs of 1, 2 and 3 keys, each kind in its own
# function; a row gives each kind's inclusive cost divided by its count.
# --held keeps a snapshot, taken after the fill, open through them (as a
# backup's is while it writes): what an open snapshot costs each command.
#
# With --notes it counts one notification's path instead, stage by stage:
# `examples/notecount.rs` subscribes one session to every key of a store
# (10k keys unless --keys says otherwise) and commits --lines WRITEs of 1
# to 3 keys through a worker's port, merging, encoding and decoding their
# notes on the same thread; a row gives each stage per write, beside the
# same writes committed with nobody told.
#
# It builds `kvs` and the generator in release mode unless --bin is given.
# Results at each commit that changed them: results/callgrind.txt.
set -euo pipefail

cd "$(dirname "$0")/.."

lines=50000 keys_list="1000 100000" engines="lockfree mutex" bin="" keep="" ops="" notes="" keys_set=""
held=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --lines) lines="${2:?--lines needs a number}"; shift ;;
        --keys) keys_list="${2:?--keys needs a list}"; keys_set=yes; shift ;;
        --engines) engines="${2:?--engines needs a list}"; shift ;;
        --bin) bin="${2:?--bin needs a kvs binary}"; shift ;;
        --keep) keep="${2:?--keep needs a directory}"; shift ;;
        --ops) ops=yes; [[ -n "$keys_set" ]] || keys_list="1000 1000000" ;;
        --notes) notes=yes; [[ -n "$keys_set" ]] || keys_list="10000" ;;
        --held) held=(--held) ;;
        -h|--help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "callgrind.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind > /dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
[[ ${#held[@]} -eq 0 || -n "$ops" ]] || { echo "callgrind.sh: --held goes with --ops" >&2; exit 2; }

if [[ -n "$ops" || -n "$notes" ]]; then
    [[ -z "$bin" ]] || { echo "callgrind.sh: --ops and --notes measure the library through examples/; drop --bin" >&2; exit 2; }
    cargo build --release --quiet --example opcount --example notecount
fi
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

# One row per engine and store size: the inclusive cost of each function
# named in $2 of examples/$1.rs, divided by --lines (the example runs
# --lines operations in each).
count_functions() {
    local example=$1 names=$2
    for keys in $keys_list; do
        for engine in $engines; do
            local profile="$work/$example-$engine-$keys.callgrind" row=""
            valgrind --tool=callgrind --callgrind-out-file="$profile" \
                "target/release/examples/$example" --engine "$engine" --keys "$keys" \
                --ops "$lines" "${held[@]}" > /dev/null 2>&1
            for name in $names; do
                local cost
                cost=$(inclusive "$profile" "^$example::$name\$")
                [[ $cost != 0 ]] || echo "callgrind.sh: $name not found in $profile" >&2
                row+=$(printf ' %8s' "$(per "$cost" "$lines")")
            done
            printf '%-9s %8s%s\n' "$engine" "$keys" "$row"
        done
    done
}

if [[ -n "$ops" ]]; then
    printf '%-9s %8s %8s %8s %8s %8s %8s %8s\n' engine keys read1 read2 read3 write1 write2 write3
    count_functions opcount "read_1_key read_2_keys read_3_keys write_1_key write_2_keys write_3_keys"
    exit 0
fi
if [[ -n "$notes" ]]; then
    printf '%-9s %8s %8s %8s %8s %8s %8s\n' engine keys plain notified merge encode decode
    count_functions notecount "commit_plain commit_notified merge_round encode_notes decode_notes"
    exit 0
fi

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
