"""Prometheus metrics: the counters every app shares and the /metrics endpoint."""

from __future__ import annotations

import logging

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


def serve_metrics(port: int, host: str = "127.0.0.1") -> bool:
    """Serve /metrics on ``host:port`` (once per port); port 0 means not served."""
    if port <= 0 or port in _served:
        return False
    start_http_server(port, addr=host)
    _served.add(port)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True
