"""Dead-letter topics: what cannot be processed is kept, with the reason, and counted.

The envelope is the contract of every ``<topic>-dlq`` topic (schemas/dlq.v1.json): the raw bytes
(as text when they are UTF-8, always as base64), why they were rejected, and where they came from.
"""

from __future__ import annotations

import base64
import time

import orjson

from ribflow.kafka.producer import Sink
from ribflow.metrics import DEAD_LETTERS


def dead_letter_envelope(
    raw: bytes | str,
    reason: str,
    component: str,
    *,
    source_topic: str | None = None,
    source_key: bytes | str | None = None,
    detail: str | None = None,
    now_ms: int | None = None,
) -> dict[str, object]:
    """The JSON object written to a dead-letter topic."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    key = source_key.decode("utf-8", "replace") if isinstance(source_key, bytes) else source_key
    return {
        "v": 1,
        "time_ms": int(time.time() * 1000) if now_ms is None else now_ms,
        "component": component,
        "reason": reason,
        "detail": detail,
        "source_topic": source_topic,
        "source_key": key,
        "raw": text,
        "raw_b64": base64.b64encode(data).decode("ascii"),
    }


class DeadLetters:
    """Sends rejected input to one dead-letter topic through any confluent-like producer."""

    def __init__(self, producer: Sink, topic: str, component: str) -> None:
        self._producer = producer
        self.topic = topic
        self.component = component

    def send(
        self,
        raw: bytes | str,
        reason: str,
        *,
        source_topic: str | None = None,
        source_key: bytes | str | None = None,
        detail: str | None = None,
    ) -> None:
        env = dead_letter_envelope(
            raw,
            reason,
            self.component,
            source_topic=source_topic,
            source_key=source_key,
            detail=detail,
        )
        key = source_key.encode() if isinstance(source_key, str) else source_key
        self._producer.produce(self.topic, value=orjson.dumps(env), key=key)
        DEAD_LETTERS.labels(topic=self.topic, reason=reason).inc()
