"""Router keys: which Kafka key(s) an event of a router is written under.

The key is the router's identity shared with the flow side: the BGP
neighbour address by default, or the router's BGP identifier. A hot router can be split into N
shards: its events are then keyed ``"<router>/<shard>"`` for every shard 0..N-1 (each event is
written N times, once per shard), so the flow decoder can spread that router's flows over N keys
and every shard still sees the whole table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

SHARD_SEPARATOR = "/"

#: what names a router: its BGP session address ('peer') or its BGP identifier ('router-id')
RouterKeyMode = Literal["peer", "router-id"]


def shard_keys(router: str, shards: int) -> tuple[bytes, ...]:
    """The Kafka keys of ``router`` split into ``shards`` (one shard: the bare router)."""
    if shards <= 1:
        return (router.encode(),)
    return tuple(f"{router}{SHARD_SEPARATOR}{i}".encode() for i in range(shards))


class RouterKeys:
    """Maps a router to its Kafka keys, with per-router shard counts (cached: hot path)."""

    def __init__(self, default_shards: int = 1, hot: Mapping[str, int] | None = None) -> None:
        if default_shards < 1:
            raise ValueError("shards must be >= 1")
        self.default_shards = default_shards
        self._hot = dict(hot or {})
        self._cache: dict[str, tuple[bytes, ...]] = {}

    def set_shards(self, router: str, shards: int) -> None:
        """Give ``router`` its own shard count (neighbour file ``shards:``)."""
        self._hot[router] = shards
        self._cache.pop(router, None)

    def shards(self, router: str) -> int:
        return self._hot.get(router, self.default_shards)

    def keys(self, router: str) -> tuple[bytes, ...]:
        keys = self._cache.get(router)
        if keys is None:
            keys = self._cache[router] = shard_keys(router, self.shards(router))
        return keys
