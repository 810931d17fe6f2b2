"""Reads a tracefs text trace of one kvs-bench run (benches/trace-stalls.sh)
and reports, over all its load threads, the stretches longer than a
threshold between two events of one thread, by what the thread was doing;
then the same in detail for the two busiest load threads; then the backup
writers' longest system calls; then, by thread name (the digits at its end
dropped), the user page faults and how long each took (from the fault to
the thread's next event). The process's main thread (the lowest
thread id, which only waits for the load) is not a load thread.

usage: python3 benches/trace_stalls.py TRACE GAP_US
"""
import collections
import re
import sys

SYSCALLS = {0: "read", 1: "write", 9: "mmap", 10: "mprotect", 11: "munmap",
            12: "brk", 24: "sched_yield", 25: "mremap", 28: "madvise",
            75: "fdatasync", 202: "futex", 230: "clock_nanosleep"}
LINE = re.compile(r"^\s*(\S+)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+): (.*)$")
SWITCH = re.compile(r"prev_comm=(.*) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) "
                    r"==> next_comm=(.*) next_pid=(\d+)")


def name(nr):
    return SYSCALLS.get(nr, f"syscall {nr}")


def main(path, gap_us):
    gap = gap_us / 1e6
    events = []
    for line in open(path):
        match = LINE.match(line)
        if match:
            comm, tid, cpu, t, kind, rest = match.groups()
            events.append((float(t), comm, tid, int(cpu), kind, rest))
    load = collections.Counter(tid for _, comm, tid, _, _, _ in events if comm == "kvs-bench")
    if load:
        del load[min(load, key=int)]
    threads = [tid for tid, _ in load.most_common(2)]

    last = {}
    gaps = collections.defaultdict(list)
    running = {}
    spans = []
    in_call = {}
    backup_calls = collections.defaultdict(list)
    faults = collections.defaultdict(list)
    faulted = {}  # thread id -> (thread name, time of its last fault)
    for t, comm, tid, cpu, kind, rest in events:
        if tid in faulted:
            role, since = faulted.pop(tid)
            faults[role].append(t - since)
        if kind == "page_fault_user":
            faulted[tid] = (comm.rstrip("0123456789").rstrip("-"), t)
        if kind == "sched_switch":
            switch = SWITCH.match(rest)
            if cpu in running:
                who, since = running[cpu]
                spans.append((cpu, who, since, t))
            running[cpu] = (f"{switch.group(4)}-{switch.group(5)}", t)
        if comm == "backup" and kind in ("sys_enter", "sys_exit"):
            nr = int(rest.split()[1])
            if kind == "sys_enter":
                in_call[tid] = (nr, t)
            elif tid in in_call and in_call[tid][0] == nr:
                backup_calls[nr].append(t - in_call.pop(tid)[1])
        if tid not in load:
            continue
        if kind == "sys_enter":
            doing = "in " + name(int(rest.split()[1]))
        elif kind == "sys_exit":
            doing = "user code after " + name(int(rest.split()[1]))
        elif kind == "sched_switch":
            doing = "switched out, state " + SWITCH.match(rest).group(3)
        elif kind == "page_fault_user":
            doing = "in a page fault"
        else:
            doing = kind
        if tid in last and t - last[tid][0] > gap:
            gaps[tid].append((last[tid][0], t - last[tid][0], last[tid][1], cpu))
        last[tid] = (t, doing)

    print(f"\nall {len(load)} load threads: stretches over {gap_us:g} us, count and total")
    every = collections.Counter()
    counts = collections.Counter()
    for tid in load:
        for _, length, doing, _ in gaps[tid]:
            every[doing] += length
            counts[doing] += 1
    for doing, length in every.most_common():
        print(f"  {counts[doing]:7}  {length * 1e3:10.2f} ms  {doing}")

    for tid in threads:
        found = gaps[tid]
        print(f"\nload thread {tid}: {len(found)} stretches over {gap_us:g} us")
        total = collections.Counter()
        for _, length, doing, _ in found:
            total[doing] += length
        for doing, length in total.most_common():
            print(f"  {length * 1e3:9.2f} ms  {doing}")
        print("  longest, with what ran on the core meanwhile:")
        for start, length, doing, cpu in sorted(found, key=lambda g: -g[1])[:10]:
            ran = collections.Counter()
            for span_cpu, who, since, until in spans:
                if span_cpu == cpu and until > start and since < start + length:
                    ran[who] += min(until, start + length) - max(since, start)
            others = ", ".join(f"{who} {ms * 1e3:.2f} ms" for who, ms in ran.most_common(3))
            print(f"  {start:.6f} {length * 1e6:7.0f} us  {doing}  [{others}]")
    print("\nbackup writers' system calls: count, the five longest (us)")
    for nr, lengths in sorted(backup_calls.items(), key=lambda kv: -max(kv[1])):
        longest = ", ".join(f"{length * 1e6:.0f}" for length in sorted(lengths)[::-1][:5])
        print(f"  {name(nr):16} {len(lengths):7}  {longest}")

    print("\nuser page faults by thread name: count, over 1 ms, longest and total (ms)")
    for role, lengths in sorted(faults.items(), key=lambda kv: -sum(kv[1])):
        over = sum(length > 1e-3 for length in lengths)
        print(f"  {role:16} {len(lengths):7} {over:6} {max(lengths) * 1e3:9.2f} {sum(lengths) * 1e3:9.1f}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
