"""How a router's RIB is laid out in Quix state and in the ``bgp-rib`` table topic.

State is keyed by the message key (the router key); under it:

* ``b"m"`` -> the router's metadata (JSON of :class:`~ribflow.rib.apply.RouterMeta`);
* ``b"j" + counter`` -> a journal record of many paths (:mod:`ribflow.enrich.journal`), the
  layout written now; the per-path keys below are the previous release's, still read on a
  rebuild and replaced by a compacted journal on the router's next message:
* ``b"r" + afi + length + network + path_id`` (11 bytes for IPv4, 23 for IPv6) -> the
  canonical JSON of the route's attribute set (:attr:`RouteAttrs.key`);
* ``b"v" + len(rd) + rd + <the route key above>`` -> the same, for a route in the table of an
  L3VPN route distinguisher (``rd`` in pmacct's text form, ASCII).

Values start with ``{`` (or ``J``), never with the 0x00/0xFF of a Quix TTL stamp, so a raw scan
of the store can always tell them apart. Route keys are fixed-size so a scan can parse them
without a separator.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

import orjson

from ribflow.rib.prefix import AFI_IP, AFI_IP6, format_prefix
from ribflow.rib.table import Route

META_KEY: Final = b"m"
ROUTE_TAG: Final = 0x72  # "r"
VRF_TAG: Final = 0x76  # "v"
_V4 = struct.Struct("!BBBIL")
_V6 = struct.Struct("!BBB16sL")


def route_key(afi: int, network: int, length: int, path_id: int) -> bytes:
    """State key of one path."""
    if afi == AFI_IP:
        return _V4.pack(ROUTE_TAG, AFI_IP, length, network, path_id)
    return _V6.pack(ROUTE_TAG, AFI_IP6, length, network.to_bytes(16, "big"), path_id)


def parse_route_key(key: bytes) -> tuple[int, int, int, int] | None:
    """``(afi, network, length, path_id)`` of a state key, ``None`` if it is not a route key."""
    if len(key) == _V4.size and key[0] == ROUTE_TAG and key[1] == AFI_IP:
        _, afi, length, network, path_id = _V4.unpack(key)
        return afi, network, length, path_id
    if len(key) == _V6.size and key[0] == ROUTE_TAG and key[1] == AFI_IP6:
        _, afi, length, raw, path_id = _V6.unpack(key)
        return afi, int.from_bytes(raw, "big"), length, path_id
    return None


def vrf_route_key(rd: str, afi: int, network: int, length: int, path_id: int) -> bytes:
    """State key of one path of the table of ``rd`` ("": the global table, :func:`route_key`)."""
    if not rd:
        return route_key(afi, network, length, path_id)
    tag = rd.encode("ascii")
    return bytes((VRF_TAG, len(tag))) + tag + route_key(afi, network, length, path_id)


def parse_vrf_route_key(key: bytes) -> tuple[str, tuple[int, int, int, int]] | None:
    """``(rd, (afi, network, length, path_id))`` of a state key of a VRF path, else ``None``."""
    if len(key) < 2 or key[0] != VRF_TAG:
        return None
    end = 2 + key[1]
    parsed = parse_route_key(key[end:])
    if parsed is None:
        return None
    try:
        return key[2:end].decode("ascii"), parsed
    except UnicodeDecodeError:
        return None


def table_key(router: str, route: Route | tuple[int, int, int, int], rd: str = "") -> bytes:
    """``bgp-rib`` key: ``router|prefix|path-id``, and ``|rd`` for a route of an RD's table."""
    if isinstance(route, Route):
        afi, network, length, path_id = route.afi, route.network, route.length, route.path_id
        rd = route.rd
    else:
        afi, network, length, path_id = route
    key = f"{router}|{format_prefix(afi, network, length)}|{path_id}"
    return (f"{key}|{rd}" if rd else key).encode()


def table_value(router: str, peer: str, route: Route, time_ms: int) -> bytes:
    """``bgp-rib`` value of one path (schemas/bgp-rib.v1.json)."""
    paths = [(route.afi, route.network, route.length, route.path_id)]
    records = table_records(orjson.dumps(router), orjson.dumps(peer), router, route.rd,
                            route.attrs.key, paths, time_ms)  # fmt: skip
    return next(records)[1]


def table_records(
    router_json: bytes,
    peer_json: bytes,
    router: str,
    rd: str,
    attrs_key: bytes,
    paths: list[tuple[int, int, int, int]],
    time_ms: int,
) -> Iterator[tuple[bytes, bytes]]:
    """``bgp-rib`` keys and values of paths of one table sharing one attribute set; router
    and peer come JSON-encoded (once per message)."""
    head = b'{"v":1,"router":%b,"peer":%b,"prefix":"' % (router_json, peer_json)
    tail = b',"time_ms":%d,"attrs":%b' % (time_ms, attrs_key)
    tail += b',"rd":"%b"}' % rd.encode() if rd else b"}"
    key_tail = f"|{rd}" if rd else ""
    for afi, network, length, path_id in paths:
        prefix = format_prefix(afi, network, length)
        value = b'%b%b","afi":%d,"path_id":%d%b' % (head, prefix.encode(), afi, path_id, tail)
        yield f"{router}|{prefix}|{path_id}{key_tail}".encode(), value
