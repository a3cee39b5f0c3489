"""The replay's progress bar on stderr: records written, rate, ETA (by flows offsets read)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 24


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def render(done: int, total: int, records: int, bgp: int, elapsed: float) -> str:
    """One progress line, e.g. ``replay  42.0% |##########..| 12,345 flows 6,100/s ...``."""
    fraction = 1.0 if total <= 0 else min(1.0, done / total)
    filled = int(fraction * _WIDTH)
    bar = "#" * filled + "." * (_WIDTH - filled)
    rate = records / elapsed if elapsed > 0 else 0.0
    if 0 < fraction < 1 and elapsed > 0:
        eta = _clock(elapsed * (1 - fraction) / fraction)
    else:
        eta = "0:00:00" if fraction >= 1 else "-:--:--"
    return (
        f"replay {fraction * 100:5.1f}% |{bar}| {records:,} flows {rate:,.0f}/s "
        f"| bgp {bgp:,} | {done:,}/{total:,} msgs | ETA {eta}"
    )


class Progress:
    """Redraws in place on a terminal (``always``), or a line every ``every`` s (``auto``
    when not a terminal); ``never`` prints nothing."""

    def __init__(
        self,
        stream: TextIO,
        mode: str,
        total: int,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        tty = bool(getattr(stream, "isatty", lambda: False)())
        self._stream = stream
        self._inplace = mode == "always" or (mode == "auto" and tty)
        self._enabled = mode != "never"
        self._interval = 0.25 if self._inplace else every
        self._clock = clock
        self._start = clock()
        self._next = self._start + (0.0 if self._inplace else every)
        self.total = total
        self._drawn = False

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def update(self, done: int, records: int, bgp: int, force: bool = False) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        line = render(done, self.total, records, bgp, now - self._start)
        if self._inplace:
            self._stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self, done: int, records: int, bgp: int) -> None:
        """Draw the final state and end the line."""
        if not self._enabled:
            return
        self.update(done, records, bgp, force=True)
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
