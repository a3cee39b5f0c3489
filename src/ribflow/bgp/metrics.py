"""Prometheus metrics of the bridge.

The hot loop counts in plain ints (the builder's ``stats`` and the bridge's own counters);
:meth:`BridgeMetrics.publish` copies the increments into Prometheus a few times a second, so a
table load does not pay a locked counter update per line.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge

from ribflow.metrics import BAD_INPUT

COMPONENT = "bridge"

LINES = Counter("ribflow_bridge_lines_total", "ExaBGP lines read")
EVENTS = Counter("ribflow_bridge_events_total", "Events produced (before shard fan-out)", ["type"])
MESSAGES = Counter("ribflow_bridge_messages_total", "Kafka messages produced (after fan-out)")
NLRI = Counter("ribflow_bridge_nlri_total", "Prefixes in update events", ["action"])
IGNORED = Counter(
    "ribflow_bridge_ignored_total", "ExaBGP messages with nothing to produce", ["kind"]
)
ERRORS = Counter(
    "ribflow_bridge_errors_total", "Lines or events that failed, by reason", ["reason"]
)
ATTR_RAW = Counter(
    "ribflow_bridge_attr_raw_total", "Known attributes kept raw (unexpected shape)", ["name"]
)
REPAIRED = Counter(
    "ribflow_bridge_repaired_total",
    "UPDATE lines ExaBGP wrote as invalid JSON that were repaired, by fault",
    ["fault"],
)
ATTR_DROPPED = Counter(
    "ribflow_bridge_attr_dropped_total",
    "Attributes ExaBGP could not render (invalid JSON), dropped from their UPDATE",
    ["name"],
)
RD_GUESSED = Counter(
    "ribflow_bridge_rd_type_guessed_total",
    "Route distinguishers ExaBGP wrote ambiguously (type 0 or 2) taken as type 0 without the "
    "raw UPDATE to tell",
)
DELIVERY_FAILED = Counter(
    "ribflow_bridge_delivery_failed_total", "Events Kafka refused for good", ["error"]
)
BUFFER_MESSAGES = Gauge(
    "ribflow_bridge_buffer_messages", "Events produced but not yet acknowledged by Kafka"
)
BUFFER_FILL = Gauge(
    "ribflow_bridge_buffer_fill_ratio", "Unacknowledged events / BRIDGE_BUFFER_MESSAGES"
)
BLOCKED_SECONDS = Counter(
    "ribflow_bridge_backpressure_seconds_total", "Time spent not reading ExaBGP (buffer full)"
)
SESSIONS = Gauge("ribflow_bridge_sessions", "BGP sessions by last state", ["state"])
NEIGHBOR_UP = Gauge(
    "ribflow_bridge_neighbor_up",
    "1 while the session with a configured neighbour is established, else 0 (a neighbour that "
    "never comes up, e.g. refused for a wrong TCP-MD5 password, stays 0)",
    ["neighbor"],
)
NEIGHBOR_DOWN_SECONDS = Gauge(
    "ribflow_bridge_neighbor_down_seconds",
    "Seconds since the session with a configured neighbour was last seen established (since "
    "the bridge started when it has not been up since); 0 while it is up",
    ["neighbor"],
)

#: tally kind ('kind' or 'kind:label') -> the counter it adds to (labelled with the label)
_PLAIN = {"lines": LINES, "messages": MESSAGES, "rd-type-guessed": RD_GUESSED}
_LABELLED = {
    "event": EVENTS,
    "nlri": NLRI,
    "ignored": IGNORED,
    "attr-raw": ATTR_RAW,
    "repaired": REPAIRED,
    "attr-dropped": ATTR_DROPPED,
    "error": ERRORS,
    "delivery-failed": DELIVERY_FAILED,
}
#: kinds that are bad input too (ribflow_bad_input_total)
_BAD_INPUT = {"attr-raw", "attr-dropped", "error"}


class BridgeMetrics:
    """Publishes the bridge's and the builder's local tallies as Prometheus metrics."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: Tally[str] = Tally()
        self._clock = clock
        self._last_up: dict[str, float] = {}  # configured neighbour -> when last seen up

    def configured(self, neighbors: Iterable[str]) -> None:
        """The configured neighbours (one label each: the set is the operator's, bounded)."""
        now = self._clock()
        for address in neighbors:
            self._last_up.setdefault(address, now)  # "down since the bridge started"
            NEIGHBOR_UP.labels(neighbor=address).set(0)
            NEIGHBOR_DOWN_SECONDS.labels(neighbor=address).set(0)

    def neighbors(self, state_of: Callable[[str], str | None]) -> None:
        """Update the per-neighbour gauges from each configured neighbour's session state."""
        now = self._clock()
        for address, last_up in self._last_up.items():
            up = state_of(address) == "up"
            if up:
                self._last_up[address] = last_up = now
            NEIGHBOR_UP.labels(neighbor=address).set(1 if up else 0)
            NEIGHBOR_DOWN_SECONDS.labels(neighbor=address).set(round(now - last_up, 3))

    def publish(self, tallies: Tally[str]) -> None:
        """Add what changed in ``tallies`` since the last call (keys 'kind:label' or 'kind')."""
        for key, value in tallies.items():
            delta = value - self._seen[key]
            if delta <= 0:
                continue
            self._seen[key] = value
            kind, _, label = key.partition(":")
            if kind in _PLAIN:
                _PLAIN[kind].inc(delta)
            elif kind in _LABELLED:
                _LABELLED[kind].labels(label).inc(delta)
            if kind in _BAD_INPUT:  # errors by their reason, the others by their kind
                reason = label if kind == "error" else kind
                BAD_INPUT.labels(component=COMPONENT, reason=reason).inc(delta)

    @staticmethod
    def buffer(in_flight: int, capacity: int) -> None:
        BUFFER_MESSAGES.set(in_flight)
        BUFFER_FILL.set(in_flight / capacity if capacity else 0.0)

    @staticmethod
    def blocked(seconds: float) -> None:
        BLOCKED_SECONDS.inc(seconds)

    @staticmethod
    def sessions(counts: dict[str, int]) -> None:
        for state, n in counts.items():
            SESSIONS.labels(state=state).set(n)
