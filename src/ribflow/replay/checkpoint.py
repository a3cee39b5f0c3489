"""RIB checkpoints: the messages of the ``bgp-rib-checkpoints`` topic (no I/O here).

A checkpoint of partition *p* at cut *C* is the RIB of every router of *p* after applying, in
offset order, every ``bgp-updates`` message of *p* before offset ``bgp_offset``, where every
one of those messages has a timestamp ``< C`` (the writer stops at the first message stamped
``>= C``). A replay whose window starts at or after *C* can therefore start from the checkpoint
and read ``bgp-updates`` from ``bgp_offset`` instead of from the beginning of time.

On the wire (schemas/bgp-rib-checkpoints.v1.json), one checkpoint is a contiguous run of
messages in partition *p*, all with Kafka timestamp *C*: ``begin``, one or more ``routes``
messages per router (meta + routes, chunked), ``end`` (which counts the run, so a reader can
find ``begin`` from ``end`` and tell a complete checkpoint from one whose writer died).
Attribute sets are carried as the enricher's canonical JSON text, so loading interns them
straight from the stored bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ribflow.enrich.codec import META_KEY, vrf_route_key
from ribflow.errors import BadInput
from ribflow.rib.apply import RouterState
from ribflow.rib.errors import BadEvent
from ribflow.rib.prefix import format_prefix, parse_prefix

VERSION: Final = 1
BEGIN, ROUTES, END = "begin", "routes", "end"

Item = tuple[bytes, bytes, bytes]  # (router key, state key, value) as Enricher.load_partition takes


class BadCheckpoint(BadInput, ValueError):
    """A checkpoint message that is not what this module writes (reason ``bad-checkpoint``)."""

    def __init__(self, detail: str) -> None:
        super().__init__("bad-checkpoint", detail)


@dataclass(frozen=True, slots=True)
class Header:
    """What identifies one checkpoint of one partition."""

    partition: int
    cut_ms: int
    bgp_offset: int
    from_start: bool  # the chain of checkpoints reaches offset 0 of bgp-updates
    base_cut_ms: int | None = None

    def fields(self) -> dict[str, Any]:
        return {"v": VERSION, "partition": self.partition, "cut_ms": self.cut_ms}


def begin_message(h: Header, bgp_topic: str) -> bytes:
    return orjson.dumps(
        {
            **h.fields(),
            "type": BEGIN,
            "bgp_topic": bgp_topic,
            "bgp_offset": h.bgp_offset,
            "from_start": h.from_start,
            "base_cut_ms": h.base_cut_ms,
        }
    )


def end_message(h: Header, messages: int, routers: int, routes: int) -> bytes:
    """``messages`` counts the whole run, ``begin`` and this ``end`` included."""
    return orjson.dumps(
        {
            **h.fields(),
            "type": END,
            "bgp_offset": h.bgp_offset,
            "messages": messages,
            "routers": routers,
            "routes": routes,
        }
    )


def router_messages(
    h: Header, router: str, state: RouterState, complete: bool, chunk: int
) -> Iterator[bytes]:
    """The ``routes`` messages of one router (at least one, so its metadata is kept)."""
    head = {**h.fields(), "type": ROUTES, "router": router, "complete": complete}
    meta = state.meta.to_json()
    # grouped by attribute set, so each chunk lists few sets (the order does not matter to a
    # load; sorting keeps the checkpoint a function of the RIB alone)
    routes = sorted(
        (r for table in state.tables() for r in table.routes()),
        key=lambda r: (r.attrs.key, r.rd, r.afi, r.network, r.length, r.path_id),
    )
    for start in range(0, max(len(routes), 1), chunk):
        part = routes[start : start + chunk]
        index: dict[bytes, int] = {}
        rows: list[tuple[str, int, int] | tuple[str, int, int, str]] = []
        for r in part:
            i = index.setdefault(r.attrs.key, len(index))
            prefix = format_prefix(r.afi, r.network, r.length)
            rows.append((prefix, r.path_id, i, r.rd) if r.rd else (prefix, r.path_id, i))
        attrs = [key.decode() for key in index]
        yield orjson.dumps({**head, "meta": meta, "attrs": attrs, "routes": rows})


def parse(raw: bytes | None) -> dict[str, Any]:
    """A checkpoint message as a dict; raises :class:`BadCheckpoint`."""
    if raw is None:
        raise BadCheckpoint("tombstone")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadCheckpoint(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        raise BadCheckpoint("not a v1 checkpoint message")
    if obj.get("type") not in (BEGIN, ROUTES, END):
        raise BadCheckpoint(f"type {obj.get('type')!r}")
    for name in ("partition", "cut_ms"):
        if type(obj.get(name)) is not int:
            raise BadCheckpoint(f"{name} missing")
    return obj


def header_of(begin: dict[str, Any]) -> Header:
    if begin.get("type") != BEGIN or type(begin.get("bgp_offset")) is not int:
        raise BadCheckpoint("not a begin message")
    base = begin.get("base_cut_ms")
    return Header(
        partition=begin["partition"],
        cut_ms=begin["cut_ms"],
        bgp_offset=begin["bgp_offset"],
        from_start=bool(begin.get("from_start")),
        base_cut_ms=base if type(base) is int else None,
    )


def items(obj: dict[str, Any]) -> Iterator[Item]:
    """The (router, key, value) items of a ``routes`` message, metadata first."""
    router = obj.get("router")
    attrs, rows = obj.get("attrs"), obj.get("routes")
    if not isinstance(router, str) or not isinstance(attrs, list) or not isinstance(rows, list):
        raise BadCheckpoint("routes message without router/attrs/routes")
    prefix = router.encode()
    yield prefix, META_KEY, orjson.dumps(obj.get("meta") or {"router": router})
    values = [a.encode() for a in attrs]
    for row in rows:
        try:
            text, path_id, i, *rd = row
            (afi, network, length), _ = parse_prefix(text)
            if len(rd) > 1 or (rd and (not isinstance(rd[0], str) or not rd[0])):
                raise ValueError("the fourth item is not a route distinguisher")
            key = vrf_route_key(rd[0] if rd else "", afi, network, length, path_id)
            yield prefix, key, values[i]
        except (BadEvent, ValueError, TypeError, IndexError) as exc:
            raise BadCheckpoint(f"bad route {row!r}: {exc}") from None


def completeness(objs: Iterable[dict[str, Any]]) -> dict[str, bool]:
    """router -> whether its RIB in the checkpoint derives from complete BGP history."""
    return {o["router"]: bool(o.get("complete")) for o in objs if o.get("type") == ROUTES}
