"""What the bridge remembers about each BGP peer during one epoch (one bridge process).

The router's own BGP identifier only appears in the OPEN it sends (ExaBGP's ``neighbor.router-id``
is ExaBGP's id), so the peer -> router-id map is filled from OPEN messages; a neighbour file may
give it in advance. The last known session state decides which synthetic session events the
bridge adds (an ``up`` for a session that was established before the bridge started, a ``down``
for each live session when ExaBGP shuts down) and which sessions need a route refresh (those
established before this epoch: their table was sent to an earlier bridge).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(slots=True)
class Peer:
    """One neighbour as seen by this bridge process."""

    address: str
    local: str | None = None
    local_as: int | None = None
    peer_as: int | None = None
    router_id: str | None = None
    asn4: bool = True
    state: str | None = None  # None: nothing seen in this epoch yet
    last_notification: str | None = None
    seen_up: bool = False  # ExaBGP reported the session up in this epoch: its whole table follows
    assumed_up: bool = False  # the bridge said 'up' (bridge-restart) for a session older than it
    refreshed: bool = False  # a route refresh was asked for in this epoch


class PeerTable:
    """Peers by session address."""

    def __init__(self) -> None:
        self._peers: dict[str, Peer] = {}

    def get(self, address: str) -> Peer:
        peer = self._peers.get(address)
        if peer is None:
            peer = self._peers[address] = Peer(address)
        return peer

    def known(self, address: str) -> bool:
        return address in self._peers

    def __iter__(self) -> Iterator[Peer]:
        return iter(list(self._peers.values()))

    def __len__(self) -> int:
        return len(self._peers)

    def count(self, state: str) -> int:
        return sum(1 for p in self._peers.values() if p.state == state)
