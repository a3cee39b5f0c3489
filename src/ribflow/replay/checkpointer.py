"""``ribflow replay checkpoint``: write the RIB of every router as of a cut time.

Each partition is done on its own (memory: one partition's RIBs at a time): start from the
latest earlier checkpoint (or the start of the retained ``bgp-updates``), apply the messages
that follow in offset order up to the first one stamped at or after the cut, write the result.
The content is a function of the topic's data only (no wall clock), so writing the same cut
twice gives the same checkpoint; a cut at or before an existing checkpoint is skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ribflow.replay import checkpoint as cp
from ribflow.replay import checkpoint_store as store
from ribflow.replay.errors import CheckpointError
from ribflow.replay.kafkaio import Reader, timestamp_of
from ribflow.replay.ribs import Discard, History, apply_bgp, make_enricher, replay_config
from ribflow.replay.settings import ReplaySettings
from ribflow.replay.window import format_time
from ribflow.topics import check_copartitioned, checkpoint_spec, ensure_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Written:
    """Outcome for one partition."""

    partition: int
    cut_ms: int
    status: str  # "written" | "exists"
    bgp_offset: int = 0
    routers: int = 0
    routes: int = 0
    events: int = 0
    from_start: bool = False
    incomplete_routers: int = 0

    def describe(self) -> str:
        if self.status == "exists":
            return f"partition {self.partition}: a checkpoint at {format_time(self.cut_ms)} exists"
        gap = "" if not self.incomplete_routers else f", {self.incomplete_routers} incomplete"
        return (
            f"partition {self.partition}: cut {format_time(self.cut_ms)}, bgp offset "
            f"{self.bgp_offset}, {self.routers} routers{gap}, {self.routes} routes, "
            f"{self.events} events applied since the previous checkpoint"
        )


def ensure_checkpoint_topic(settings: ReplaySettings, partitions: int) -> None:
    spec = checkpoint_spec(
        settings, settings.checkpoint_topic, partitions, settings.checkpoint_retention_hours
    )
    ensure_topics(settings, [spec])


def write_partition(settings: ReplaySettings, partition: int, cut_ms: int) -> Written:
    """Write the checkpoint of ``partition`` at ``cut_ms`` (see the module docstring)."""
    topic, bgp = settings.checkpoint_topic, settings.bgp_updates_topic
    with Reader(settings) as reader:
        latest = store.find(reader, topic, partition, store.FOREVER_MS)
        if latest is not None and latest.header.cut_ms >= cut_ms:
            if latest.header.cut_ms == cut_ms:
                return Written(partition, cut_ms, "exists")
            raise CheckpointError(
                f"partition {partition}: a later checkpoint exists "
                f"({format_time(latest.header.cut_ms)}); cuts must increase"
            )
        low, high = reader.watermarks(bgp, partition)
        config = replay_config(settings, "-", "-", "checkpoint")
        enricher, discard = make_enricher(config), Discard()
        base_cut: int | None = None
        if latest is not None and latest.header.bgp_offset >= low:
            loaded = store.Loaded({})
            enricher.load_partition(partition, latest, store.load(reader, topic, latest, loaded))
            history = History(latest.header.from_start, loaded.complete)
            start, from_start = latest.header.bgp_offset, latest.header.from_start
            base_cut = latest.header.cut_ms
        else:
            if latest is not None:
                log.warning(
                    "partition %d: bgp-updates before offset %d were deleted; the checkpoint "
                    "at %s cannot be continued, starting over from offset %d",
                    partition, latest.header.bgp_offset, format_time(latest.header.cut_ms), low,
                )  # fmt: skip
            from_start = low == 0
            history = History(from_start)
            start = low
        stop, events = high, 0  # all of [start, high) stamped before the cut, unless...
        for msg in reader.read(bgp, partition, start, high):
            ts = timestamp_of(msg)
            if ts >= cut_ms:
                stop = msg.offset() or 0
                break
            apply_bgp(enricher, history, partition, msg.key(), msg.value(), ts, discard)
            events += 1
    header = cp.Header(partition, cut_ms, stop, from_start, base_cut)
    rows = [(r, s, history.complete(r)) for r, s in sorted(enricher.routers.items())]
    _, n_routers, n_routes = store.write(
        settings, topic, bgp, header, rows, settings.checkpoint_chunk
    )
    incomplete = sum(1 for _, _, c in rows if not c)
    return Written(partition, cut_ms, "written", stop, n_routers, n_routes, events, from_start,
                   incomplete)  # fmt: skip


def write_all(settings: ReplaySettings, partitions: int, cut_ms: int) -> list[Written]:
    ensure_checkpoint_topic(settings, partitions)
    check_copartitioned(settings, [settings.bgp_updates_topic, settings.checkpoint_topic])
    return [write_partition(settings, p, cut_ms) for p in range(partitions)]


def run_every(settings: ReplaySettings, partitions: int, interval_s: int) -> None:
    """Write a checkpoint at every multiple of ``interval_s`` (runs until interrupted)."""
    step = interval_s * 1000
    while True:
        now = int(time.time() * 1000)
        cut = now - now % step
        for written in write_all(settings, partitions, cut):
            log.info("checkpoint %s", written.describe())
        time.sleep(max(1.0, (cut + step - int(time.time() * 1000)) / 1000))
