"""Prometheus metrics: the counters every app shares and the /metrics endpoint."""

from __future__ import annotations

import logging
from collections import Counter as Tally

from prometheus_client import Counter, start_http_server

log = logging.getLogger(__name__)

BAD_INPUT = Counter(
    "ribflow_bad_input_total",
    "Input that could not be processed, by component and reason",
    ["component", "reason"],
)
DEAD_LETTERS = Counter(
    "ribflow_dead_letters_total",
    "Messages sent to a dead-letter topic, by topic and reason",
    ["topic", "reason"],
)

_served: set[int] = set()


class LocalCounts:
    """Count locally, publish now and then: hot paths add to plain ``Counter`` tallies (a dict
    increment), and :meth:`publish` moves what they hold to their Prometheus counters.

    Each tally belongs to a counter with no label (count under the key ``""``) or one label
    (count under its value)::

        counts = LocalCounts()
        packets = counts.tally(PACKETS)     # PACKETS has one label, "protocol"
        packets["ipfix"] += 1               # per packet: no metric-library call
        counts.publish()                    # once per stats interval
    """

    def __init__(self) -> None:
        self._pairs: list[tuple[Tally[str], Counter]] = []

    def tally(self, counter: Counter) -> Tally[str]:
        """A new tally published into ``counter``."""
        tally: Tally[str] = Tally()
        self._pairs.append((tally, counter))
        return tally

    def publish(self) -> None:
        """Add every tally to its counter and clear it."""
        for tally, counter in self._pairs:
            if not tally:
                continue
            for label, n in tally.items():
                if n:
                    (counter.labels(label) if label else counter).inc(n)
            tally.clear()


def serve_metrics(port: int, host: str = "127.0.0.1") -> bool:
    """Serve /metrics on ``host:port`` (once per port); port 0 means not served."""
    if port <= 0 or port in _served:
        return False
    start_http_server(port, addr=host)
    _served.add(port)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True
