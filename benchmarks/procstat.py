"""CPU seconds of processes read from /proc, shared by the benchmarks."""

from __future__ import annotations

import os
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
