"""The replay window: ``--from``/``--to`` times parsed into a half-open range of epoch ms.

Accepted forms (all UTC): ISO-8601 (``2024-05-01T12:00:00Z``, ``2024-05-01 12:00``, a date,
offsets such as ``+02:00`` are converted to UTC, a time without offset is taken as UTC),
``now``, and offsets from now (``-90m``, ``now-1h30m``, ``-2d``). The window is
``[from, to)`` on the flows' own timestamps (their Kafka timestamps: the export
time, or the arrival time when the exporter's clock is off; ``ribflow.flow.record.kafka_time``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ribflow.replay.errors import WindowError

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_RELATIVE = re.compile(r"^(?:now)?\s*-\s*((?:\d+(?:ms|s|m|h|d|w))+)$")


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_duration(text: str) -> int:
    """Milliseconds of ``1h30m``-style text; raises :class:`WindowError`."""
    text = text.strip().lower()
    pos, total = 0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise WindowError(f"not a duration: {text!r} (e.g. 90s, 15m, 1h30m, 2d)")
    return total


def parse_time(text: str, now: int | None = None) -> int:
    """Epoch ms of one ``--from``/``--to`` value; raises :class:`WindowError`."""
    raw = text.strip()
    lowered = raw.lower()
    current = now_ms() if now is None else now
    if lowered == "now":
        return current
    relative = _RELATIVE.match(lowered)
    if relative:
        return current - parse_duration(relative.group(1))
    try:
        parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise WindowError(
            f"not a time: {text!r} (ISO-8601 UTC such as 2024-05-01T12:00:00Z, 'now', or -1h)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def format_time(ms: int) -> str:
    """ISO-8601 UTC text of an epoch-ms time (milliseconds shown only when not zero)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = dt.strftime("%Y%m%dT%H%M%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


@dataclass(frozen=True, slots=True)
class Window:
    """``[start_ms, end_ms)`` on the flows' timestamps."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.start_ms < 0:
            raise WindowError("--from is before 1970")
        if self.end_ms <= self.start_ms:
            raise WindowError(
                f"empty window: --to {format_time(self.end_ms)} is not after "
                f"--from {format_time(self.start_ms)}"
            )

    def __contains__(self, ts: int) -> bool:
        return self.start_ms <= ts < self.end_ms

    @property
    def label(self) -> str:
        """Topic-name-safe text of the window, e.g. ``20240501T120000Z-20240501T130000Z``."""
        return f"{_compact(self.start_ms)}-{_compact(self.end_ms)}"

    def describe(self) -> str:
        return f"[{format_time(self.start_ms)}, {format_time(self.end_ms)})"


def parse_window(start: str, end: str, now: int | None = None) -> Window:
    """The window of ``--from start --to end`` (both resolved against the same ``now``)."""
    current = now_ms() if now is None else now
    return Window(parse_time(start, current), parse_time(end, current))
