#!/usr/bin/env bash
# Compares two builds of kvs-bench on the same configurations, alternating
# them run by run so that the machine's drift hits both alike, and prints
# the median (and min-max) of each build's throughput, write p99.9 and
# peak RSS.
#
#   benches/ab.sh --a OLD_BIN --b NEW_BIN [--runs 5] [--store lockfree] \
#       [--duration-ms 2000] [--backup-every-ms 0] [--notify 0] \
#       [--out FILE.jsonl] "THREADS KEYS MIX" ...
#
# Run i of both builds gets --seed i, so that the report's `ratio` and
# `verdict` queries pair them (filters side=b/side=a) in a file kept with
# --out.
#
# --notify N subscribes N sessions to every key (with rings of 65,536
# notes, as experiments.sh's notify runs, so no session is ended).
#
# Each quoted argument is one configuration, e.g. "2 100000 50:50". To
# build an older commit's kvs-bench beside this checkout:
#
#   git worktree add ../kvs-old COMMIT
#   (cd ../kvs-old && cargo build --release --bin kvs-bench)
#   benches/ab.sh --a ../kvs-old/target/release/kvs-bench \
#       --b target/release/kvs-bench "2 1000 50:50" "2 100000 50:50"
set -euo pipefail

a="" b="" runs=5 store=lockfree duration=2000 backup_every=0 notify=0 out=""
configs=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --a) a="${2:?--a needs a binary}"; shift ;;
        --b) b="${2:?--b needs a binary}"; shift ;;
        --runs) runs="${2:?--runs needs a number}"; shift ;;
        --store) store="${2:?--store needs lockfree or mutex}"; shift ;;
        --duration-ms) duration="${2:?--duration-ms needs a number}"; shift ;;
        --backup-every-ms) backup_every="${2:?--backup-every-ms needs a number}"; shift ;;
        --notify) notify="${2:?--notify needs a number}"; shift ;;
        --out) out="${2:?--out needs a file}"; shift ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "ab.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
        *) configs+=("$1") ;;
    esac
    shift
done
if [[ -z "$a" || -z "$b" || ${#configs[@]} -eq 0 ]]; then
    echo "ab.sh: need --a, --b and at least one configuration (try --help)" >&2
    exit 2
fi
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "ab.sh: --runs must be a positive integer" >&2
    exit 2
fi
for bin in "$a" "$b"; do
    [[ -x "$bin" ]] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }
done

notify_args=()
[[ $notify == 0 ]] || notify_args=(--notify "$notify" --ring-capacity 65536)

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

for config in "${configs[@]}"; do
    read -r threads keys mix <<< "$config"
    for ((run = 1; run <= runs; run++)); do
        for side in a b; do
            bin=$a
            [[ $side == b ]] && bin=$b
            "$bin" --store "$store" --threads "$threads" --keys "$keys" --mix "$mix" \
                --seed "$run" --duration-ms "$duration" --backup-every-ms "$backup_every" \
                "${notify_args[@]}" --json |
                sed "s/^{/{\"side\":\"$side\",\"config\":\"$config\",/" >> "$lines"
        done
    done
done
[[ -n "$out" ]] && cp "$lines" "$out"

python3 - "$lines" <<'EOF'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1])]
def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"
print("| configuration | build | ops/s | write p99.9 us | peak RSS MiB | runs |")
print("|---|---|---:|---:|---:|---:|")
for config in dict.fromkeys(r["config"] for r in runs):
    for side in "ab":
        mine = [r for r in runs if r["config"] == config and r["side"] == side]
        print(f"| {config} | {side} | {spread([r['ops_per_sec'] for r in mine])} "
              f"| {spread([r['write_p999_us'] for r in mine])} "
              f"| {spread([r['peak_rss_kib'] / 1024 for r in mine])} | {len(mine)} |")
EOF
