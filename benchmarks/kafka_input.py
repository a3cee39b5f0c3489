"""Writing the benchmarks' input topics."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer


def produce_waiting(producer: Producer, topic: str, value: bytes, key: bytes, **kw: Any) -> None:
    """``producer.produce(topic, value, key, **kw)``, polling while its local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, **kw)
            return
        except BufferError:
            producer.poll(0.1)
