"""Finding, reading and writing RIB checkpoints in the ``bgp-rib-checkpoints`` topic.

Checkpoints of a partition are written in increasing cut order and every message of one
carries the cut as its Kafka timestamp, so the latest checkpoint at or before a time *S* is
found from the back with a few single-message reads: the message just before the first one
stamped after *S* is the ``end`` of the wanted checkpoint, unless that checkpoint is
incomplete (its writer died), in which case the search steps back to the one before it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from ribflow.kafka.client import KafkaTarget, producer_config
from ribflow.kafka.producer import produce_waiting
from ribflow.replay import checkpoint as cp
from ribflow.replay.errors import ReplayError
from ribflow.replay.kafkaio import Reader, timestamp_of
from ribflow.rib.apply import RouterState

log = logging.getLogger(__name__)
FOREVER_MS = 2**62


@dataclass(frozen=True, slots=True)
class Located:
    """A complete checkpoint: its header and where its run of messages lies."""

    header: cp.Header
    begin_offset: int
    end_offset: int  # offset of the ``end`` message
    routers: int
    routes: int


def _parsed(msg: Any) -> dict[str, Any] | None:
    try:
        return cp.parse(msg.value())
    except cp.BadCheckpoint:
        return None


def find(reader: Reader, topic: str, partition: int, at_ms: int) -> Located | None:
    """The latest complete checkpoint of ``partition`` whose cut is ``<= at_ms``."""
    low, high = reader.watermarks(topic, partition)
    after = reader.offset_for_time(topic, partition, at_ms + 1) if at_ms < FOREVER_MS else None
    pos = high if after is None else after
    while pos - 1 >= low:
        msg = reader.read_one(topic, partition, pos - 1)
        obj = _parsed(msg) if msg is not None else None
        if obj is not None and obj["type"] == cp.END and obj["cut_ms"] <= at_ms:
            found = _verify_end(reader, topic, partition, pos - 1, obj, low)
            if found is not None:
                return found
        # step back before the run this message belongs to
        cut = obj["cut_ms"] if obj is not None else (timestamp_of(msg) if msg else 0)
        start = reader.offset_for_time(topic, partition, cut) if cut > 0 else None
        pos = min(start if start is not None else pos - 1, pos - 1)
    return None


def _verify_end(
    reader: Reader, topic: str, partition: int, end_offset: int, end: dict[str, Any], low: int
) -> Located | None:
    count = end.get("messages")
    if type(count) is not int or count < 2:
        return None
    begin_offset = end_offset - count + 1
    if begin_offset < low:
        log.info("checkpoint %s[%d] cut %d: its start was deleted", topic, partition, end["cut_ms"])
        return None
    msg = reader.read_one(topic, partition, begin_offset)
    begin = _parsed(msg) if msg is not None else None
    if begin is None or begin["type"] != cp.BEGIN or begin["cut_ms"] != end["cut_ms"]:
        return None
    try:
        header = cp.header_of(begin)
    except cp.BadCheckpoint:
        return None
    return Located(header, begin_offset, end_offset, end.get("routers", 0), end.get("routes", 0))


@dataclass
class Loaded:
    """What a checkpoint held besides the routes: per-router completeness of history."""

    complete: dict[str, bool]


def load(reader: Reader, topic: str, found: Located, loaded: Loaded) -> Iterator[cp.Item]:
    """Stream the (router, key, value) items of a checkpoint (for ``Enricher.load_partition``).

    Per-router completeness is filled into ``loaded`` as the routers go by.
    """
    p = found.header.partition
    for msg in reader.read(topic, p, found.begin_offset + 1, found.end_offset):
        obj = _parsed(msg)
        if obj is None or obj["cut_ms"] != found.header.cut_ms:
            raise ReplayError(f"checkpoint {topic}[{p}] at offset {msg.offset()} is not readable")
        if obj["type"] != cp.ROUTES:
            continue
        loaded.complete[obj["router"]] = bool(obj.get("complete"))
        yield from cp.items(obj)


class _Delivery:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(str(err))


def write(
    broker: KafkaTarget,
    topic: str,
    bgp_topic: str,
    header: cp.Header,
    routers: Iterable[tuple[str, RouterState, bool]],
    chunk: int,
) -> tuple[int, int, int]:
    """Write one checkpoint, contiguous (idempotent producer): (messages, routers, routes)."""
    producer = Producer(producer_config(broker, "state"))
    report = _Delivery()
    p, ts = header.partition, header.cut_ms

    def send(key: bytes, value: bytes) -> None:
        produce_waiting(producer, topic, value, key, partition=p, timestamp=ts, on_delivery=report)

    key = str(p).encode()
    send(key, cp.begin_message(header, bgp_topic))
    messages, n_routers, n_routes = 1, 0, 0
    for router, state, complete in routers:
        for value in cp.router_messages(header, router, state, complete, chunk):
            send(router.encode(), value)
            messages += 1
        n_routers += 1
        n_routes += state.paths()
    messages += 1
    send(key, cp.end_message(header, messages, n_routers, n_routes))
    left = producer.flush(60)
    if left or report.failed:
        raise ReplayError(
            f"checkpoint {topic}[{p}] not fully written ({left} undelivered, "
            f"errors: {report.failed[:3]})"
        )
    return messages, n_routers, n_routes
