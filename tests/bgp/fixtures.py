"""In-process fakes for the bridge's unit tests (the integration tests use the real things), and
ExaBGP input lines for both."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import orjson

from ribflow.bgp.bridge import Bridge
from ribflow.bgp.outbox import Outbox
from ribflow.bgp.parser import EventBuilder
from ribflow.dlq import DeadLetters
from tests.fixtures.producer import FakeProducer

TOPIC = "bgp-updates"
DLQ = "bgp-updates-dlq"


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


def exabgp_update(time: float, nlri: str, attribute: dict[str, Any]) -> bytes:
    """One line of ExaBGP's JSON: iBGP peer 192.0.2.1 (AS 65001) announces ``nlri`` via
    192.0.2.9 with ``attribute``."""
    msg = {
        "type": "update",
        "time": time,
        "neighbor": {
            "address": {"local": "127.0.0.20", "peer": "192.0.2.1"},
            "asn": {"local": 65001, "peer": 65001},
            "direction": "receive",
            "message": {
                "update": {
                    "attribute": attribute,
                    "announce": {"ipv4 unicast": {"192.0.2.9": [{"nlri": nlri}]}},
                }
            },
        },
    }
    return orjson.dumps(msg) + b"\n"
