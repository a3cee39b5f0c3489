"""In-process stand-ins for the replay's unit tests: an output that keeps what is produced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ribflow.enrich.engine import Enricher, EnricherConfig, Topics
from ribflow.enrich.pmacct import FormatOptions
from ribflow.replay.ribs import History, make_enricher
from ribflow.replay.timeline import PointInTime
from ribflow.replay.window import Window

OUT = "out"
DLQ = "out-dlq"


@dataclass
class Produced:
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None


@dataclass
class PinnedList:
    """An enricher ``Output`` recording each message with the partition it is pinned to."""

    partition: int = 0
    messages: list[Produced] = field(default_factory=list)

    def pin(self, partition: int) -> None:
        self.partition = partition

    def produce_many(
        self, topic: str, values: Sequence[bytes | None], key: bytes | None, timestamp: int | None
    ) -> None:
        for value in values:
            self.messages.append(Produced(topic, self.partition, key, value, timestamp))

    def produce_keyed(
        self, topic: str, records: list[tuple[bytes, bytes | None]], timestamp: int | None
    ) -> None:
        for key, value in records:
            self.messages.append(Produced(topic, self.partition, key, value, timestamp))

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(m.value) for m in self.messages if m.topic == OUT and m.value]


def config() -> EnricherConfig:
    topics = Topics(enriched=OUT, rib_dump=OUT, rib_table=None, bgp_dlq=DLQ, flows_dlq=DLQ)
    return EnricherConfig(topics, FormatOptions(writer_id="test/replay"), dump_interval=0)


def timeline(
    window: Window, lateness_ms: int = 2000, max_pending: int = 500_000, complete: bool = True
) -> tuple[PointInTime, PinnedList, Enricher]:
    out = PinnedList()
    enricher = make_enricher(config())
    histories = {p: History(complete) for p in range(4)}
    pit = PointInTime(enricher, window, histories, out, lateness_ms, max_pending)
    return pit, out, enricher
