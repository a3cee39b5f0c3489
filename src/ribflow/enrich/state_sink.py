"""Where the enricher's RIB changes go: the durable copy in Quix state and the bgp-rib table.

:class:`StateSink` receives the changes :func:`ribflow.rib.apply.apply_event` makes to one
router's RIB and mirrors each into the message's state (the copy the RIB is rebuilt from) and,
when configured, the compacted bgp-rib table topic.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from ribflow.enrich.codec import META_KEY, table_key, table_record, vrf_route_key
from ribflow.rib.apply import RouterState
from ribflow.rib.table import Route


class Output(Protocol):
    """Where the enricher writes (a Kafka producer)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        timestamp: int | None = None,
    ) -> None: ...


class StateLike(Protocol):
    """The part of Quix's ``State`` the enricher writes through."""

    def set_bytes(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class StateSink:
    """Mirrors every RIB change into Quix state (durable copy) and the bgp-rib table topic."""

    __slots__ = ("_json", "_out", "_router", "_state", "_table", "_time_ms")

    def __init__(
        self, state: StateLike, out: Output, table: str | None, router: str, time_ms: int
    ) -> None:
        self._state, self._out, self._table = state, out, table
        self._router, self._time_ms = router, time_ms
        self._json: tuple[bytes, bytes] | None = None  # router and peer, encoded once

    def route_set(self, router: RouterState, route: Route) -> None:
        key = vrf_route_key(route.rd, route.afi, route.network, route.length, route.path_id)
        self._state.set_bytes(key, route.attrs.key)
        if self._table:
            if self._json is None:
                self._json = (orjson.dumps(self._router), orjson.dumps(router.meta.peer))
            table_key, value = table_record(*self._json, self._router, route, self._time_ms)
            self._out.produce(
                self._table, value=value, key=table_key, timestamp=self._time_ms or None
            )

    def route_deleted(
        self, router: RouterState, afi: int, network: int, length: int, path_id: int, rd: str = ""
    ) -> None:
        self._state.delete(vrf_route_key(rd, afi, network, length, path_id))
        if self._table:
            self._out.produce(
                self._table,
                value=None,
                key=table_key(self._router, (afi, network, length, path_id), rd),
                timestamp=self._time_ms or None,
            )

    def meta_changed(self, router: RouterState) -> None:
        self._state.set_bytes(META_KEY, orjson.dumps(router.meta.to_json()))
