"""The bridge's way to Kafka: a bounded producer queue with back-pressure, never a silent drop.

librdkafka's queue (``queue.buffering.max.messages`` / ``.kbytes``, from BRIDGE_BUFFER_*) is the
budget of events produced but not yet acknowledged by Kafka. ``message.timeout.ms=0`` makes
librdkafka retry a retriable error (broker down, leader moving) for ever instead of giving up, so
an outage fills the queue; when it is full, :meth:`Outbox.produce` waits (serving delivery
reports) until there is room. While it waits the bridge reads nothing from ExaBGP: ExaBGP blocks
writing to the pipe, which is the back-pressure. Only errors Kafka will never recover from reach
the delivery callback; they are counted, dead-lettered and reported to the owner via ``on_fatal``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from ribflow.kafka.producer import Producer
from ribflow.logs import RateLimitedLog

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Outbox:
    """Produces with back-pressure, tracks what is unacknowledged, reports permanent failures."""

    producer: Producer
    capacity: int
    tally: Counter[str]
    on_fatal: Callable[[str, str, bytes | None, bytes | None], None] | None = None
    on_blocked: Callable[[float], None] | None = None
    wait_step: float = 0.1
    on_wait: Callable[[], None] | None = None  # called while waiting (the bridge publishes)
    failed: int = field(default=0, init=False)
    _rlog: RateLimitedLog = field(
        default_factory=lambda: RateLimitedLog(log, interval=10.0, burst=2), init=False, repr=False
    )

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, timestamp: int = 0
    ) -> None:
        """Queue one message; blocks (serving delivery reports) while the budget is spent."""
        try:
            self.producer.produce(topic, value, key, timestamp=timestamp, on_delivery=self._report)
        except BufferError:
            self._wait_and_produce(topic, value, key, timestamp)
        except KafkaException as exc:  # refused synchronously (e.g. message too large)
            self._failure(topic, exc.args[0] if exc.args else None, key, value)
            return
        self.tally["messages"] += 1

    def _wait_and_produce(self, topic: str, value: bytes, key: bytes | None, ts: int) -> None:
        started = last = time.monotonic()
        warned = False
        while True:
            self.producer.poll(self.wait_step)
            now = time.monotonic()
            if self.on_blocked is not None:
                self.on_blocked(now - last)
            last = now
            if not warned and now - started >= 1.0:
                warned = True
                self._rlog.warning(
                    "full",
                    "Kafka has not acknowledged %d events (budget full): not reading ExaBGP",
                    len(self.producer),
                )
            if self.on_wait is not None:
                self.on_wait()
            try:
                self.producer.produce(topic, value, key, timestamp=ts, on_delivery=self._report)
                break
            except BufferError:
                continue
        waited = time.monotonic() - started
        if waited >= 1.0:
            self._rlog.log(logging.INFO, "caught-up", "Kafka caught up after %.1fs", waited)

    def _report(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            return
        self._failure(msg.topic(), err, msg.key(), msg.value())

    def _failure(self, topic: str, err: Any, key: bytes | None, value: bytes | None) -> None:
        name = err.name() if isinstance(err, KafkaError) else type(err).__name__
        self.failed += 1
        self.tally[f"delivery-failed:{name}"] += 1
        log.error("Kafka refused an event for %s (key %r): %s", topic, key, err)
        if self.on_fatal is not None:
            self.on_fatal(topic, str(err), key, value)

    def in_flight(self) -> int:
        return len(self.producer)

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for every acknowledgement; returns how many are missing."""
        return self.producer.flush(timeout)
