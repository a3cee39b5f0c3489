"""The producer interface ribflow's own (non-Quix) producers are written against, and the one
way to hand a message to a producer whose local queue may be full."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Sink(Protocol):
    """Where a message is written: a producer, or the ``Messages`` a service returns for its
    app to produce (dead letters are written through this)."""

    def produce(self, topic: str, value: bytes, key: bytes | None = ...) -> None: ...


class Producer(Sink, Protocol):
    """The part of ``confluent_kafka.Producer`` the bridge and the collector use.

    Unit tests pass in-process fakes that implement just this.
    """

    def produce(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., **kw: Any
    ) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...

    def __len__(self) -> int: ...


def produce_waiting(
    producer: Any,
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    *,
    partition: int = -1,
    timestamp: int = 0,
    on_delivery: Callable[[Any, Any], None] | None = None,
    wait_s: float = 0.1,
    waits: int = 0,
) -> None:
    """confluent's ``produce``; while librdkafka's queue is full, serve delivery reports for up
    to ``wait_s`` and try again: after at most ``waits`` waits (then BufferError), or until it
    fits (``waits`` 0: the caller's back-pressure is to wait). ``partition`` -1 is any
    partition, ``timestamp`` 0 is now (librdkafka's defaults)."""
    waited = 0
    while True:
        try:
            # positional (topic, value, key, partition, on_delivery, callback, timestamp)
            producer.produce(topic, value, key, partition, on_delivery, None, timestamp)
            return
        except BufferError:
            if waits and waited >= waits:
                raise BufferError(f"producer queue stayed full after {waits} waits") from None
            producer.poll(wait_s)
            waited += 1
