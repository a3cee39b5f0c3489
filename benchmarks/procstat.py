"""CPU seconds of processes read from /proc, shared by the benchmarks."""

from __future__ import annotations

import os
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU seconds (utime, stime, cutime, cstime) of every process of a process group."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += sum(int(x) for x in fields[11:15]) / TICK
        except (OSError, ValueError, IndexError):
            continue
    return total


def wait_quiet(
    pgid: int, what: str, quiet_s: float = 3.0, below: float = 0.03, timeout: float = 600.0
) -> float:
    """Wait until the process group used less than ``below`` of a CPU over ``quiet_s`` seconds
    (it has finished what it was doing, e.g. taking in a BGP table its peer already sent);
    returns the CPU seconds it used while waited for."""
    start = last = group_cpu(pgid)
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(quiet_s)
        now = group_cpu(pgid)
        if now - last < below * quiet_s:
            return now - start
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still busy after {timeout:.0f}s ({now - last:.2f} CPU-s)")
        last = now
