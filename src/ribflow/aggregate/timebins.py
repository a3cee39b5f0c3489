"""Time bins: pmacct's refresh time and history turned into tumbling windows and stamps.

pmacct flushes its cache every ``kafka_refresh_time`` seconds and, with ``kafka_history``,
stamps every record with the start of its time bin (``stamp_inserted``) and the time it was
written (``stamp_updated``). When the refresh time is shorter than the bin, each flush writes
the part of the bin accumulated since the previous flush, under the same ``stamp_inserted``.

Here the flush interval is the length of a Quix tumbling window on the flows' own time and the
bin is ``stamp_inserted``: window = min(refresh, history), bin = history (or the refresh time
when no history is set). Bins and windows are aligned to the Unix epoch in UTC, which is what
pmacct's ``*_history_roundoff`` gives for minute/hour/day bins on a UTC host.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from ribflow.aggregate.errors import AggregateConfigError

__all__ = ["TimeBins", "format_stamp", "parse_duration"]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-zA-Z]?)\s*$")


def parse_duration(value: str | int) -> int:
    """Seconds in a pmacct time value: ``10`` or ``10s``, ``5m``, ``1h``, ``1d``.

    Weekly and monthly bins (``w``, ``M``) are refused: they are not fixed-length windows
    aligned to the epoch.
    """
    if isinstance(value, bool):
        raise AggregateConfigError(f"bad time value {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value)
        if not match:
            raise AggregateConfigError(
                f"bad time value {value!r}: expected a number with an optional unit s, m, h "
                "or d (e.g. 60, 30s, 5m, 1h)"
            )
        unit = match.group(2)
        if unit not in _UNITS:
            raise AggregateConfigError(
                f"bad time unit {unit!r} in {value!r}: use s, m, h or d (weekly/monthly "
                "bins are not supported)"
            )
        seconds = int(match.group(1)) * _UNITS[unit]
    if seconds <= 0:
        raise AggregateConfigError(f"time value {value!r} must be positive")
    return seconds


@dataclass(frozen=True, slots=True)
class TimeBins:
    """Window (flush) length, bin (stamp_inserted) length and grace period, in ms."""

    window_ms: int
    bin_ms: int
    grace_ms: int

    @classmethod
    def from_pmacct(cls, refresh_time: int, history: str | int | None, grace: int) -> TimeBins:
        """From pmacct-style settings: refresh time (s), history (pmacct time value), grace (s)."""
        refresh_s = parse_duration(refresh_time)
        bin_s = parse_duration(history) if history not in (None, "") else refresh_s
        window_s = min(refresh_s, bin_s)
        if max(refresh_s, bin_s) % window_s:
            raise AggregateConfigError(
                f"refresh time {refresh_s}s and history {bin_s}s must divide one another "
                "(e.g. refresh 60 with history 5m)"
            )
        if grace < 0:
            raise AggregateConfigError(f"grace period {grace}s must not be negative")
        return cls(window_s * 1000, bin_s * 1000, grace * 1000)

    def window_start(self, ts_ms: int) -> int:
        return ts_ms - ts_ms % self.window_ms

    def window_end(self, ts_ms: int) -> int:
        return self.window_start(ts_ms) + self.window_ms

    def bin_start(self, ts_ms: int) -> int:
        """Start of the pmacct time bin (``stamp_inserted``) holding ``ts_ms``."""
        return ts_ms - ts_ms % self.bin_ms

    def is_late(self, ts_ms: int, clock_ms: int) -> bool:
        """True when the window of ``ts_ms`` closed before the partition clock ``clock_ms``."""
        return self.window_end(ts_ms) + self.grace_ms <= clock_ms


@lru_cache(maxsize=4096)
def format_stamp(epoch_s: int, since_epoch: bool = False) -> str:
    """pmacct's stamp text: ``YYYY-MM-DD HH:MM:SS`` in UTC, or the epoch seconds as text."""
    if since_epoch:
        return str(epoch_s)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))
