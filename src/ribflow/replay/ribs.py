"""The enricher engine as the replay and the checkpointer use it: in memory, no Quix state.

A replay is a batch job (re-run it rather than resume it), so the RIBs live only in memory:
bgp-updates messages go through :meth:`Enricher.on_bgp` with a state object that keeps
nothing, and a checkpoint loads through :meth:`Enricher.load_partition` exactly as a store
scan would. :class:`History` tracks which routers' RIBs are known to derive from complete BGP
history (from the start of the topic, a complete checkpoint, or a session reset since).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson

from ribflow.enrich.engine import Enricher, EnricherConfig, Topics
from ribflow.enrich.pipeline import config_of
from ribflow.enrich.settings import EnricherSettings
from ribflow.enrich.state_sink import Output
from ribflow.replay.settings import ReplaySettings


class NoState:
    """A ``StateLike`` that keeps nothing (the replay's RIBs are rebuilt on every run)."""

    __slots__ = ()

    def set_bytes(self, key: bytes, value: bytes) -> None:
        pass

    def delete(self, key: bytes) -> None:
        pass


NO_STATE = NoState()


class Discard:
    """An ``Output`` that drops everything (the checkpointer writes no flows, no DLQ)."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped = 0

    def produce_many(self, topic: str, values: Sequence[object], *run: object) -> None:
        """Count a run's messages and drop them."""
        self.dropped += len(values)

    def produce_keyed(self, topic: str, records: Sequence[object], *run: object) -> None:
        """Count a run's messages and drop them."""
        self.dropped += len(records)


def replay_config(
    settings: ReplaySettings, output: str, dlq: str, writer_id: str
) -> EnricherConfig:
    """The live enricher's formatting, writing to ``output``; no dumps, no bgp-rib table.

    The formatting is the enricher's own :func:`~ribflow.enrich.pipeline.config_of`, given
    these settings' values as an ``EnricherSettings`` (constructed, not read again: the
    formatting groups are the same fields), so the two cannot drift apart.
    """
    live = config_of(EnricherSettings.model_construct(**dict(settings)))
    return EnricherConfig(
        topics=Topics(
            enriched=output,
            rib_dump=output,  # never written: dumps are off
            rib_table=None,
            bgp_dlq=dlq,
            flows_dlq=dlq,
            bgp_in=settings.bgp_updates_topic,
            flows_in=settings.flows_topic,
        ),
        formatting=dataclasses.replace(live.formatting, writer_id=writer_id),
        batch=live.batch,
        dump_interval=0,
    )


def make_enricher(config: EnricherConfig) -> Enricher:
    return Enricher(config, clock=lambda: 0.0)


def resets_rib(raw: Any, epoch_before: int, epoch_after: int) -> bool:
    """Whether applying this bgp-updates message replaced the router's whole RIB.

    A session up/down flushes the RIB (the router then re-sends its table), and so does a new
    bridge epoch; after either, the RIB no longer depends on older history.
    """
    if epoch_before >= 0 and epoch_after != epoch_before:
        return True
    if not isinstance(raw, bytes | bytearray) or b"session" not in raw:
        return False
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(obj, dict) or obj.get("type") != "session":
        return False
    return obj.get("state") in ("up", "down")


class History:
    """Per router: is its RIB known to derive from complete BGP history?"""

    __slots__ = ("_complete", "default")

    def __init__(self, default: bool, known: dict[str, bool] | None = None) -> None:
        self.default = default  # routers first seen later: complete iff history is complete
        self._complete: dict[str, bool] = dict(known or {})

    def complete(self, router: str) -> bool:
        return self._complete.get(router, self.default)

    def mark(self, router: str, complete: bool = True) -> None:
        self._complete[router] = complete

    def known(self) -> dict[str, bool]:
        return dict(self._complete)


def apply_bgp(
    enricher: Enricher,
    history: History,
    partition: int,
    key: Any,
    raw: Any,
    ts: int | None,
    out: Output,
) -> str | None:
    """Apply one bgp-updates message, its messages (dead letters) produced through ``out``;
    returns its router (``None`` if the key is unusable)."""
    router = key.decode("utf-8", "replace") if isinstance(key, bytes) else None
    state = enricher.routers.get(router) if router else None
    before = state.meta.epoch if state is not None else -1
    enricher.on_bgp(partition, key, raw, NO_STATE, ts).send(out)
    if not router:
        return None
    after_state = enricher.routers.get(router)
    if after_state is None:
        return router
    if not history.complete(router) and resets_rib(raw, before, after_state.meta.epoch):
        history.mark(router)
    return router
