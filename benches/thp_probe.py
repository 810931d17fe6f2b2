"""What a first touch of memory costs a thread, with and without
transparent huge pages: maps MIB of anonymous memory (aligned to 2 MiB),
asks for huge pages (MADV_HUGEPAGE) or refuses them (MADV_NOHUGEPAGE),
writes one byte in each 4 KiB page and times every write; then reports,
per arm, how many writes took over 0.1 ms and over 1 ms, the longest, and
the total. With huge pages the first write into each 2 MiB takes the
whole fault (the kernel clears 2 MiB); without, each 4 KiB page faults on
its own. Each round runs both arms, huge pages first in odd rounds and
last in even ones, after PAUSE seconds of rest (time for a virtual
machine's free page reporting to hand freed memory back to its host), so
that each arm meets memory the process has not used in some round. Needs
a kernel whose transparent huge pages are `always` or `madvise`
(/sys/kernel/mm/transparent_hugepage/enabled).

usage: python3 benches/thp_probe.py [MIB (512)] [ROUNDS (4)] [PAUSE (5)]
"""
import ctypes
import mmap
import sys
import time

PAGE = 4096
HUGE = 2 << 20


def touch_all(mib, huge):
    size = mib << 20
    # One huge page more than needed, so that MIB of it start on a 2 MiB
    # boundary, where the kernel can map huge pages.
    area = mmap.mmap(-1, size + HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    anchor = ctypes.c_char.from_buffer(area)
    start = -ctypes.addressof(anchor) % HUGE
    del anchor  # the map cannot close while a buffer of it is exported
    area.madvise(mmap.MADV_HUGEPAGE if huge else mmap.MADV_NOHUGEPAGE)
    writes = []
    for offset in range(start, start + size, PAGE):
        began = time.perf_counter()
        area[offset] = 1
        writes.append(time.perf_counter() - began)
    area.close()
    return writes


def main(mib, rounds, pause):
    print(f"{'round':5} {'arm':6} {'writes':>8} {'>0.1 ms':>8} {'>1 ms':>6} "
          f"{'longest ms':>11} {'total ms':>9}")
    for round_number in range(1, rounds + 1):
        time.sleep(pause)
        arms = (True, False) if round_number % 2 else (False, True)
        for huge in arms:
            writes = touch_all(mib, huge)
            slow = sum(w > 1e-4 for w in writes)
            stalls = sum(w > 1e-3 for w in writes)
            print(f"{round_number:5} {'huge' if huge else '4 KiB':6} {len(writes):8} {slow:8} "
                  f"{stalls:6} {max(writes) * 1e3:11.2f} {sum(writes) * 1e3:9.1f}")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:4]]
    main(*(arguments + [512, 4, 5][len(arguments):]))
