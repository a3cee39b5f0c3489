"""Logging set-up and a rate-limited logger for bad input (one line per kind, not per packet)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once for an app (stderr, one line per record)."""
    logging.basicConfig(level=level.upper(), format=_FORMAT, force=True)


class RateLimitedLog:
    """Logs at most ``burst`` messages per key every ``interval`` seconds.

    What is held back is counted and reported with the next message of that key that gets
    through ("... (37 similar suppressed)"), so nothing disappears silently.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        burst: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        # key -> [window start, emitted in window, suppressed since last emit]
        self._state: dict[str, list[float]] = {}

    def log(
        self, level: int, key: str, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> bool:
        """Log ``msg`` unless ``key`` is over its budget; returns whether it was logged."""
        now = self._clock()
        with self._lock:
            st = self._state.setdefault(key, [now, 0, 0])
            if now - st[0] >= self._interval:
                st[0], st[1] = now, 0
            if st[1] >= self._burst:
                st[2] += 1
                return False
            st[1] += 1
            suppressed = int(st[2])
            st[2] = 0
        if suppressed:
            msg = f"{msg} ({suppressed} similar suppressed)"
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def error(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)
