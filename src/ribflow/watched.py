"""A configuration file followed without a restart (the agent map, the exporter allowlist).

:class:`WatchedFile` holds what its owner's loader made of a file. :meth:`WatchedFile.due` says
when to look again (at most every ``reload_interval`` seconds); :meth:`WatchedFile.check` then
compares the file's modification time, size and inode with those of the loaded version and, when
they changed, loads it again. A file that became unreadable, or that the loader refuses
(:class:`~ribflow.errors.ConfigError`), is not taken: the previous value stays in force, and the
problem is logged (rate-limited) and counted once per version as bad input (the owner's component
and reason). The loader runs in the caller's thread; owners swap in the new value themselves.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from ribflow.errors import ConfigError
from ribflow.reject import Rejects

__all__ = ["FileStamp", "WatchedFile", "file_stamp"]

log = logging.getLogger(__name__)

T = TypeVar("T")
FileStamp = tuple[int, int, int]  # (mtime ns, size, inode): "has the file changed?"
GONE: FileStamp = (-1, -1, -1)  # the stamp of a file that cannot be stat()ed


def file_stamp(path: Path) -> FileStamp:
    """What tells one version of a file from the next (raises ``OSError`` if it is gone)."""
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


class WatchedFile(Generic[T]):
    """``value`` is ``load(path)`` of the newest version of ``path`` that loaded cleanly.

    ``stamp`` is the stamp of the file taken before ``value`` was read (a change while reading
    is then seen at the next check). ``reload_interval`` 0: never looked at again.
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        value: T,
        stamp: FileStamp | None,
        *,
        what: str,
        component: str,
        reason: str,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if reload_interval < 0:
            raise ValueError("reload_interval must be >= 0")
        self.path, self.value, self.stamp = path, value, stamp
        self.version = 0  # +1 per reload taken
        self._load, self._what = load, what
        self._component, self._reason = component, reason
        self._interval, self._clock = reload_interval, clock
        self._next_check = clock() + reload_interval if reload_interval > 0 else float("inf")
        self._refused: FileStamp | None = None  # a broken version already reported
        self._rejects = Rejects(component, log)

    @classmethod
    def open(
        cls,
        path: str | Path,
        load: Callable[[Path], T],
        *,
        what: str,
        component: str,
        reason: str,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> WatchedFile[T]:
        """Load ``path`` now (errors propagate: a broken file at start is the caller's call)."""
        p = Path(path)
        try:
            stamp = file_stamp(p)
        except OSError as exc:
            raise ConfigError(f"cannot read {what} {p}: {exc}") from None
        return cls(
            p, load, load(p), stamp, what=what, component=component, reason=reason,
            reload_interval=reload_interval, clock=clock,
        )  # fmt: skip

    def due(self) -> bool:
        """Whether the next :meth:`check` is due (cheap: one clock read)."""
        return self._clock() >= self._next_check

    def current(self) -> T:
        """The value, after a :meth:`check` when one is due."""
        if self._clock() >= self._next_check:
            self.check()
        return self.value

    def check(self) -> bool:
        """Load the file again if it changed; returns whether a new value is in force."""
        if self._interval > 0:
            self._next_check = self._clock() + self._interval
        try:
            stamp = file_stamp(self.path)
        except OSError as exc:
            stamp = GONE
            detail = f"{self._what} {self.path} is unreadable ({exc})"
        if stamp == self.stamp or stamp == self._refused:
            return False  # unchanged, or the same broken version (reported already)
        if stamp != GONE:
            try:
                fresh = self._load(self.path)
            except (ConfigError, OSError, UnicodeDecodeError) as exc:
                detail = str(exc)
            else:
                self.value, self.stamp, self._refused = fresh, stamp, None
                self.version += 1
                return True
        self._refused = stamp
        self._rejects.reject(
            None, self._reason, detail, message=f"{detail}; keeping the loaded {self._what}"
        )
        return False
