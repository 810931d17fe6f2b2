"""What a first touch of fresh memory costs a thread, with and without
transparent huge pages: maps MIB of anonymous memory, asks for huge pages
(MADV_HUGEPAGE) or refuses them (MADV_NOHUGEPAGE), writes one byte in each
4 KiB page and times every write; then reports, per arm, how many writes
took over 0.1 ms and over 1 ms, the longest, and the total. With huge pages
the first write into each 2 MiB takes the whole fault (the kernel clears
2 MiB); without, each 4 KiB page faults on its own. The arms alternate
ROUNDS times. Needs a kernel whose transparent huge pages are `always` or
`madvise` (/sys/kernel/mm/transparent_hugepage/enabled).

usage: python3 benches/thp_probe.py [MIB (512)] [ROUNDS (3)]
"""
import mmap
import sys
import time

PAGE = 4096
HUGE = 2 << 20


def touch_all(mib, huge):
    size = mib << 20
    # One huge page more than needed, so that MIB of it can be aligned.
    area = mmap.mmap(-1, size + HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    area.madvise(mmap.MADV_HUGEPAGE if huge else mmap.MADV_NOHUGEPAGE)
    writes = []
    for offset in range(0, size, PAGE):
        start = time.perf_counter()
        area[offset] = 1
        writes.append(time.perf_counter() - start)
    area.close()
    return writes


def main(mib, rounds):
    print(f"{'arm':10} {'writes':>8} {'>0.1 ms':>8} {'>1 ms':>6} {'longest ms':>11} {'total ms':>9}")
    for _ in range(rounds):
        for huge in (True, False):
            writes = touch_all(mib, huge)
            slow = sum(w > 1e-4 for w in writes)
            stalls = sum(w > 1e-3 for w in writes)
            print(f"{'huge' if huge else '4 KiB':10} {len(writes):8} {slow:8} {stalls:6} "
                  f"{max(writes) * 1e3:11.2f} {sum(writes) * 1e3:9.1f}")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    main(*(arguments + [512, 3][len(arguments):]))
