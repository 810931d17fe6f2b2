#!/usr/bin/env bash
# Describes the machine a measurement ran on, for results/machine.txt:
#
#   benches/machine.sh [BACKUP_DIR] > results/machine.txt
#
# CPU model, cores and threads per core, hypervisor, steal time (since boot
# and over one second now), clock source, transparent huge pages, the file
# system backups are written to (BACKUP_DIR, default: the temporary
# directory kvs-bench writes its backups in), load, kernel, compiler and the
# commit measured. Fields the machine does not expose read "unknown".
set -euo pipefail

cd "$(dirname "$0")/.."
backup_dir=${1:-${TMPDIR:-/tmp}}

field() { lscpu 2>/dev/null | sed -n "s/^$1:[[:space:]]*//p" | head -1; }
or_unknown() { local value; value=$(cat "$@" 2>/dev/null || true); echo "${value:-unknown}"; }

# The steal column of /proc/stat's cpu line, in clock ticks.
steal_ticks() { awk '$1 == "cpu" { print $9; exit }' /proc/stat; }
all_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t; exit }' /proc/stat; }

steal_before=$(steal_ticks); all_before=$(all_ticks)
sleep 1
steal_after=$(steal_ticks); all_after=$(all_ticks)

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
echo "cpu: $(field 'Model name')"
echo "cpus: $(nproc) online; cores per socket: $(field 'Core(s) per socket'); threads per core: $(field 'Thread(s) per core'); sockets: $(field 'Socket(s)')"
echo "hypervisor: $(field 'Hypervisor vendor') ($(systemd-detect-virt 2>/dev/null || echo unknown))"
awk -v s="$steal_after" -v a="$all_after" -v s0="$steal_before" -v a0="$all_before" 'BEGIN {
    printf "steal time: %.2f %% since boot, %.2f %% over the last second\n",
        (a > 0 ? 100 * s / a : 0), (a - a0 > 0 ? 100 * (s - s0) / (a - a0) : 0)
}'
echo "clocksource: $(or_unknown /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "transparent huge pages: enabled $(or_unknown /sys/kernel/mm/transparent_hugepage/enabled), defrag $(or_unknown /sys/kernel/mm/transparent_hugepage/defrag)"
echo "cpu frequency governor: $(or_unknown /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor)"
echo "backup file system: $(stat -f -c %T "$backup_dir" 2>/dev/null || echo unknown) ($backup_dir on $(df -P "$backup_dir" 2>/dev/null | awk 'NR == 2 { print $1 }'))"
echo "memory: $(awk '/MemTotal/ { print $2 " KiB" }' /proc/meminfo)"
echo "kernel: $(uname -r)"
echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
