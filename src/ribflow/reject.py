"""The one reject path for bad input: count, log (rate-limited), dead-letter, carry on.

Every component hands what it cannot use to :meth:`Rejects.reject` (or :meth:`Rejects.error`
for a :class:`~ribflow.errors.BadInput` / :class:`~ribflow.errors.Bug` it caught) instead of
keeping its own copy of these three steps:

1. ``ribflow_bad_input_total{component, reason}`` goes up by one;
2. one log line per reason is written at most ``burst`` times per ``interval``
   (:class:`~ribflow.logs.RateLimitedLog`; what is held back is counted in the next line);
3. the raw input goes to the component's dead-letter topic (:class:`~ribflow.dlq.DeadLetters`),
   at most ``max_per_second`` times a second when that bound is set (a flood of garbage must not
   flood Kafka), unless the component has no dead-letter topic or the caller says not to.

``reject`` returns what became of the input (:data:`SENT`, :data:`SUPPRESSED` or
:data:`COUNTED`) so a component can keep its own figures (e.g. messages per topic).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, Literal

from ribflow.dlq import DeadLetters
from ribflow.errors import BadInput, Bug
from ribflow.logs import RateLimitedLog
from ribflow.metrics import BAD_INPUT

Outcome = Literal["sent", "suppressed", "counted"]
SENT: Final = "sent"  # written to the dead-letter topic
SUPPRESSED: Final = "suppressed"  # meant for the dead-letter topic, but over its bound or refused
COUNTED: Final = "counted"  # counted and logged only (no dead-letter topic, or not wanted)


class Rejects:
    """Counts, logs and dead-letters the bad input of one component."""

    def __init__(
        self,
        component: str,
        logger: logging.Logger,
        dead_letters: DeadLetters | None = None,
        *,
        max_per_second: int = 0,
        source_topic: str | None = None,
        log: RateLimitedLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.component = component
        self.dead_letters = dead_letters
        self.max_per_second = max_per_second
        self.source_topic = source_topic
        self.log = log or RateLimitedLog(logger)
        self._logger = logger
        self._clock = clock
        self._window = 0
        self._sent_in_window = 0

    def reject(
        self,
        raw: bytes | str | None,
        reason: str,
        detail: str = "",
        *,
        message: str | None = None,
        source_key: bytes | str | None = None,
        source_topic: str | None = None,
        dead_letters: DeadLetters | None = None,
        dead_letter: bool = True,
        log: bool = True,
        count: bool = True,
    ) -> Outcome:
        """Count, log and dead-letter one piece of bad input.

        ``message`` is the log line (default ``"<reason>: <detail>"``); ``dead_letters``
        overrides the component's topic for this input (a component reading two topics);
        ``dead_letter=False`` only counts and logs; ``count=False`` leaves the counting to a
        caller that counts in bulk (:class:`ribflow.metrics.LocalCounts`).
        """
        if count:
            BAD_INPUT.labels(component=self.component, reason=reason).inc()
        if log:
            text = message if message is not None else f"{reason}: {detail}" if detail else reason
            self.log.warning(reason, "%s", text)
        target = dead_letters or self.dead_letters
        if not dead_letter or target is None or raw is None:
            return COUNTED
        if self.max_per_second > 0:
            window = int(self._clock())
            if window != self._window:
                self._window, self._sent_in_window = window, 0
            if self._sent_in_window >= self.max_per_second:
                return SUPPRESSED
            self._sent_in_window += 1
        try:
            target.send(
                raw,
                reason,
                source_topic=source_topic or self.source_topic,
                source_key=source_key,
                detail=detail or None,
            )
        except BufferError:  # the producer's queue is full: the input is counted, not kept
            self.log.warning(
                "dead-letter-queue-full", "%s: producer queue full, a %s input was not "
                "dead-lettered to %s (counted only)", self.component, reason, target.topic,
            )  # fmt: skip
            return SUPPRESSED
        return SENT

    def error(
        self,
        exc: BadInput | Bug,
        raw: bytes | str | None,
        *,
        detail: str | None = None,
        message: str | None = None,
        source_key: bytes | str | None = None,
        source_topic: str | None = None,
        dead_letters: DeadLetters | None = None,
        dead_letter: bool = True,
    ) -> Outcome:
        """:meth:`reject` for a caught error (``detail`` overrides the error's own for the dead
        letter); a :class:`Bug` is logged with its traceback."""
        if isinstance(exc, Bug):
            self.log.log(
                logging.ERROR, exc.reason, "bug in %s (input rejected): %s", self.component,
                exc.detail, exc_info=exc,
            )  # fmt: skip
        return self.reject(
            raw,
            exc.reason,
            exc.detail if detail is None else detail,
            message=message,
            source_key=source_key,
            source_topic=source_topic,
            dead_letters=dead_letters,
            dead_letter=dead_letter,
            log=not isinstance(exc, Bug),
        )
