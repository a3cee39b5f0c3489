"""The events the bridge writes to ``bgp-updates`` (schemas/bgp-updates.v1.json), as typed dicts.

Events are plain dicts on purpose: they go straight to ``orjson.dumps`` and a table load produces
hundreds of thousands of them, so no object layer sits in between. These ``TypedDict`` classes
document the shape and let mypy check the code that builds them.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

SCHEMA = "bgp-updates.v1"
VERSION = 1

EventType = Literal["update", "session", "eor", "refresh"]
SessionState = Literal["connected", "up", "down"]

# reasons of the session events the bridge makes up itself (ExaBGP's own reasons pass through)
REASON_BRIDGE_RESTART = "bridge-restart"
REASON_EXABGP_SHUTDOWN = "exabgp-shutdown"


class Nlri(TypedDict):
    prefix: str
    path_id: int
    rd: NotRequired[str]  # L3VPN route distinguisher, pmacct's text form ('0:65001:10')
    labels: NotRequired[list[int]]  # MPLS label stack (mpls-vpn, nlri-mpls)
    raw: NotRequired[dict[str, Any]]


class Announce(TypedDict):
    family: str
    next_hop: str | None
    nlri: list[Nlri]


class Withdraw(TypedDict):
    family: str
    nlri: list[Nlri]


class Segment(TypedDict):
    type: str
    asns: list[int]


class Attrs(TypedDict, total=False):
    origin: str
    as_path: list[Segment]
    med: int
    local_pref: int
    communities: list[str]
    ext_communities: list[str]
    large_communities: list[str]
    originator_id: str
    cluster_list: list[str]
    aggregator: str
    atomic_aggregate: bool
    raw: dict[str, Any]


class Header(TypedDict):
    """Fields every event carries."""

    v: int
    type: EventType
    router: str
    peer: str
    peer_as: int | None
    local: str | None
    local_as: int | None
    router_id: str | None
    time_ms: int
    epoch: int
    seq: int


class UpdateEvent(Header):
    attrs: Attrs
    announce: list[Announce]
    withdraw: list[Withdraw]


class SessionEvent(Header):
    state: SessionState
    reason: str | None


class EorEvent(Header):
    family: str


class RefreshEvent(Header):
    family: str
    subtype: str


Event = UpdateEvent | SessionEvent | EorEvent | RefreshEvent
