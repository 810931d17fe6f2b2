#!/usr/bin/env bash
# Write throughput with N subscribers on every key against none, both
# engines, interleaved run by run (the pairs share the machine's drift);
# prints the median and min-max of each side and of the per-pair ratio.
#
#   benches/notify-ab.sh [--bin target/release/kvs-bench] [--runs 5] \
#       [--threads 2] [--keys 10000] [--notify 1] [--duration-ms 2000] \
#       [--out FILE.jsonl]
set -euo pipefail

bin=target/release/kvs-bench runs=5 threads=2 keys=10000 notify=1 duration=2000 out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="${2:?}"; shift ;;
        --runs) runs="${2:?}"; shift ;;
        --threads) threads="${2:?}"; shift ;;
        --keys) keys="${2:?}"; shift ;;
        --notify) notify="${2:?}"; shift ;;
        --duration-ms) duration="${2:?}"; shift ;;
        --out) out="${2:?}"; shift ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "notify-ab.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -x "$bin" ]] || { echo "notify-ab.sh: $bin is not an executable" >&2; exit 2; }

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for ((run = 1; run <= runs; run++)); do
    for store in lockfree mutex; do
        for n in 0 "$notify"; do
            "$bin" --store "$store" --threads "$threads" --keys "$keys" --mix 0:100 \
                --notify "$n" --duration-ms "$duration" --seed "$run" --json |
                sed "s/^{/{\"pair\":$run,/" >> "$lines"
        done
    done
done
[[ -n "$out" ]] && cp "$lines" "$out"

python3 - "$lines" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1])]
def spread(values):
    return f"{statistics.median(values):,.3f} ({min(values):,.3f}-{max(values):,.3f})"
print("| engine | subscribers | M writes/s | ratio to 0 (per pair) | pairs |")
print("|---|---:|---:|---:|---:|")
for store in dict.fromkeys(r["store"] for r in runs):
    by = {}
    for r in runs:
        if r["store"] == store:
            by.setdefault(r["notify"], {})[r["pair"]] = r["ops_per_sec"] / 1e6
    base = by[0]
    for n, per_pair in sorted(by.items()):
        ratios = [per_pair[p] / base[p] for p in per_pair if p in base]
        print(f"| {store} | {n} | {spread(list(per_pair.values()))} | {spread(ratios)} | {len(per_pair)} |")
PY
