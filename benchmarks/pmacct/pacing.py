"""Pacing of a send loop at a packet rate (sender.py here and benchmarks/bench_collector.py)."""

from __future__ import annotations

import time


def pace(sent: int, pps: float, t0: float, now: float) -> None:
    """Sleep while ``sent`` packets are ahead of ``pps`` packets/s since ``t0`` (0: no pacing)."""
    if pps:
        ahead = sent / pps - (now - t0)
        if ahead > 0.0005:
            time.sleep(ahead)
