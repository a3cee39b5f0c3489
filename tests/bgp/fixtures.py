"""In-process fakes for the bridge's unit tests (the integration tests use the real things)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

from ribflow.bgp.bridge import Bridge
from ribflow.bgp.outbox import Outbox
from ribflow.bgp.parser import EventBuilder
from ribflow.dlq import DeadLetters

TOPIC = "bgp-updates"
DLQ = "bgp-updates-dlq"


@dataclass
class FakeMessage:
    _topic: str
    _key: bytes | None
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value


@dataclass
class FakeProducer:
    """A producer whose broker can be 'down' (nothing acknowledged) and refuse some values."""

    capacity: int = 100_000
    up: bool = True
    refuse: Callable[[str, bytes], bool] = lambda topic, value: False
    queue: list[tuple[str, bytes | None, bytes, int, Any]] = field(default_factory=list)
    delivered: list[tuple[str, bytes | None, bytes, int]] = field(default_factory=list)
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any
    ) -> None:
        with self.lock:
            if len(self.queue) >= self.capacity:
                raise BufferError("Local: Queue full")
            assert value is not None
            self.queue.append((topic, key, value, kw.get("timestamp", 0), kw.get("on_delivery")))
            self.max_in_flight = max(self.max_in_flight, len(self.queue))

    def poll(self, timeout: float = 0) -> int:
        if not self.up:
            time.sleep(min(timeout, 0.01))
            return 0
        with self.lock:
            queue, self.queue = self.queue, []
        for topic, key, value, ts, cb in queue:
            if self.refuse(topic, value):
                if cb is not None:
                    cb(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), FakeMessage(topic, key, value))
            else:
                self.delivered.append((topic, key, value, ts))
        return len(queue)

    def flush(self, timeout: float = 0) -> int:
        deadline = time.monotonic() + timeout
        while self.queue and time.monotonic() < deadline:
            self.poll(0.01)
        self.poll(0)
        return len(self.queue)

    def __len__(self) -> int:
        return len(self.queue)

    def on(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        return [(k, v) for t, k, v, _ in self.delivered if t == topic]


def make_bridge(producer: FakeProducer, infd: int, **kw: Any) -> Bridge:
    tally: Counter[str] = Counter()
    blocked: list[float] = []
    outbox = Outbox(producer, producer.capacity, tally, on_blocked=blocked.append, wait_step=0.01)
    builder = kw.pop("builder", None) or EventBuilder(epoch_ms=1_700_000_000_000)
    bridge = Bridge(builder, outbox, TOPIC, DeadLetters(outbox, DLQ, "bridge"), infd=infd, **kw)
    bridge.blocked = blocked  # type: ignore[attr-defined]
    return bridge


@contextmanager
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    try:
        yield r, w
    finally:
        for fd in (r, w):
            with suppress(OSError):
                os.close(fd)
