"""Turn decoded records into ``flows`` messages (schemas/flows.v1.json).

One message holds records of one exporter: by default the records of one export packet
(``max_packets=1``: encoded and handed on at once, no buffering, no timer). With
``max_packets > 1`` the records of up to that many packets of the same exporter and router key
are grouped, and a group waits at most ``max_delay_ms``. The Kafka key is the router key (a
shard key ``<router>/<n>`` when the router is sharded, chosen round-robin per message); the
Kafka timestamp is the export time of the group's first packet.

The batcher returns the messages it completes (:class:`FlowMessage`); the collector produces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import NamedTuple

import orjson

from ribflow.bgp.keys import RouterKeys
from ribflow.flow.types import FlowRecord, json_fragment


class FlowMessage(NamedTuple):
    """One ``flows`` message: Kafka key and value, timestamp (ms), and how many records it holds."""

    key: bytes
    value: bytes
    ts_ms: int
    records: int


def encode_message(router: str, exporter: str, records: list[FlowRecord]) -> bytes:
    """The JSON value of one flows message."""
    return orjson.dumps({"v": 1, "router": router, "exporter": exporter, "records": records})


def encode_parts(router: str, exporter: str, parts: list[bytes]) -> bytes:
    """``encode_message`` of records given as JSON fragments (``DecodeResult.encoded``)."""
    return b"".join((
        b'{"v":1,"router":', orjson.dumps(router), b',"exporter":', orjson.dumps(exporter),
        b',"records":[', b",".join(parts), b"]}",
    ))  # fmt: skip


class KeyChooser:
    """Router -> Kafka key bytes: the router itself, or its shards in turn."""

    def __init__(self, keys: RouterKeys) -> None:
        self._keys = keys
        self._turns: dict[str, count[int]] = {}

    def key(self, router: str) -> bytes:
        keys = self._keys.keys(router)
        if len(keys) == 1:
            return keys[0]
        turn = self._turns.get(router)
        if turn is None:
            turn = self._turns[router] = count()
        return keys[next(turn) % len(keys)]


@dataclass
class _Group:
    encoded: list[bytes] = field(default_factory=list)  # the packets' records, as JSON fragments
    count: int = 0
    packets: int = 0
    ts_ms: int = 0
    since_ms: int = 0


class FlowBatcher:
    """Groups records per (router, exporter) into messages and returns the completed ones."""

    def __init__(self, keys: KeyChooser, max_packets: int = 1, max_delay_ms: int = 50) -> None:
        if max_packets < 1:
            raise ValueError("max_packets must be >= 1")
        self._keys = keys
        self.max_packets = max_packets
        self.max_delay_ms = max_delay_ms
        self._groups: dict[tuple[str, str], _Group] = {}

    def add(
        self, router: str, exporter: str, records: list[FlowRecord], ts_ms: int, now_ms: int,
        encoded: list[bytes] | None = None, encoded_records: int = 0,
    ) -> FlowMessage | None:
        """Records of one export packet (as dicts, and as JSON fragments: ``encoded``, in
        that order); returns the message this completes, if any."""
        count = len(records) + encoded_records
        parts = _parts(records, encoded or [])
        if self.max_packets == 1:
            return FlowMessage(self._keys.key(router), encode_parts(router, exporter, parts), ts_ms,
                               count)  # fmt: skip
        group = self._groups.get((router, exporter))
        if group is None:
            group = self._groups[(router, exporter)] = _Group(ts_ms=ts_ms, since_ms=now_ms)
        group.encoded.extend(parts)
        group.count += count
        group.packets += 1
        if group.packets >= self.max_packets:
            return self._emit(router, exporter, group)
        return None

    def flush_due(self, now_ms: int) -> list[FlowMessage]:
        """The groups that waited ``max_delay_ms``, as messages."""
        if not self._groups:
            return []
        limit = now_ms - self.max_delay_ms
        return [
            self._emit(router, exporter, group)
            for (router, exporter), group in list(self._groups.items())
            if group.since_ms <= limit
        ]

    def flush(self) -> list[FlowMessage]:
        """Every group, as messages (shutdown)."""
        return [self._emit(r, e, group) for (r, e), group in list(self._groups.items())]

    def _emit(self, router: str, exporter: str, group: _Group) -> FlowMessage:
        del self._groups[(router, exporter)]
        value = encode_parts(router, exporter, group.encoded)
        return FlowMessage(self._keys.key(router), value, group.ts_ms, group.count)


def _parts(records: list[FlowRecord], encoded: list[bytes]) -> list[bytes]:
    """Dict records as one JSON fragment, followed by the fragments already encoded (raises
    :class:`~ribflow.errors.Bug` for a record JSON cannot hold: ``json_fragment``)."""
    if not records:
        return encoded
    return [json_fragment(records), *encoded]
