"""Wire encoding of bgp-updates events: one compact JSON object per Kafka message (orjson)."""

from __future__ import annotations

from typing import Any

import orjson

from ribflow.bgp.events import Event


def encode_event(event: Event) -> bytes:
    """The Kafka message value of an event."""
    return orjson.dumps(event)


def decode_event(value: bytes | str) -> dict[str, Any]:
    """Parse a bgp-updates message value (for consumers and tests)."""
    obj = orjson.loads(value)
    if not isinstance(obj, dict):
        raise ValueError("a bgp-updates message is a JSON object")
    return obj
