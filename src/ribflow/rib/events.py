"""bgp-updates messages (schemas/bgp-updates.v1.json) parsed into typed events.

Parsing is hand-written rather than JSON-Schema validated: a table load is a stream of
packed UPDATEs and the schema check would cost more than applying them. Structural problems
raise :class:`BadEvent` (the whole message goes to the dead-letter topic); a bad NLRI inside
an otherwise good UPDATE is skipped and reported in ``errors`` so the good ones still apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ribflow.rib.errors import BadEvent
from ribflow.rib.prefix import afi_of_family, check_rd, parse_prefix, vpn_afi_of_family

# (afi, network, length, path_id)
Nlri = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class EventHeader:
    """Fields every bgp-updates message carries."""

    kind: str
    router: str
    peer: str
    time_ms: int
    epoch: int
    seq: int
    peer_as: int | None = None
    router_id: str | None = None


@dataclass(slots=True)
class UpdateEvent:
    """One UPDATE: shared attributes, announced NLRIs grouped by next hop, withdrawn NLRIs."""

    header: EventHeader
    attrs: dict[str, Any]
    announce: list[tuple[str | None, list[Nlri]]]
    withdraw: list[Nlri]
    # L3VPN routes, by route distinguisher (pmacct's text form): (rd, next hop, NLRIs), (rd, NLRI)
    vpn_announce: list[tuple[str, str | None, list[Nlri]]] = field(default_factory=list)
    vpn_withdraw: list[tuple[str, Nlri]] = field(default_factory=list)
    skipped_families: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    masked: int = 0


@dataclass(frozen=True, slots=True)
class SessionEvent:
    header: EventHeader
    state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EorEvent:
    header: EventHeader
    family: str


@dataclass(frozen=True, slots=True)
class RefreshEvent:
    header: EventHeader
    family: str | None = None


Event = UpdateEvent | SessionEvent | EorEvent | RefreshEvent

_KINDS = ("update", "session", "eor", "refresh")


def _int(obj: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or value < 0:
        raise BadEvent("bad_message", f"{name}: {value!r}")
    return value


def _str(obj: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise BadEvent("bad_message", f"{name}: {value!r}")
    return value


def parse_header(obj: Any) -> EventHeader:
    """The common fields; raises :class:`BadEvent` when the message is not a bgp-updates v1."""
    if not isinstance(obj, dict):
        raise BadEvent("bad_message", "not a JSON object")
    if obj.get("v") != 1:
        raise BadEvent("bad_version", f"v={obj.get('v')!r}")
    kind = obj.get("type")
    if kind not in _KINDS:
        raise BadEvent("bad_message", f"type={kind!r}")
    return EventHeader(
        kind=kind,
        router=_str(obj, "router") or "",
        peer=_str(obj, "peer", required=False) or "",
        time_ms=_int(obj, "time_ms") or 0,
        epoch=_int(obj, "epoch") or 0,
        seq=_int(obj, "seq") or 0,
        peer_as=_int(obj, "peer_as", required=False),
        router_id=_str(obj, "router_id", required=False),
    )


def _nlris(family: str, items: Any, expected_afi: int, event: UpdateEvent) -> list[Nlri]:
    if not isinstance(items, list):
        raise BadEvent("bad_message", f"nlri of {family!r} is not a list")
    out: list[Nlri] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("prefix"), str):
            event.errors.append(f"bad_nlri:{item!r}"[:200])
            continue
        path_id = item.get("path_id", 0)
        if path_id is None:
            path_id = 0
        if type(path_id) is not int or not 0 <= path_id <= 0xFFFFFFFF:
            event.errors.append(f"bad_path_id:{item!r}"[:200])
            continue
        try:
            (afi, network, length), masked = parse_prefix(item["prefix"])
        except BadEvent as exc:
            event.errors.append(f"{exc.reason}:{exc.detail}"[:200])
            continue
        if afi != expected_afi:
            event.errors.append(f"family_mismatch:{item['prefix']}"[:200])
            continue
        if masked:
            event.masked += 1
        out.append((afi, network, length, path_id))
    return out


def _by_rd(family: str, items: Any, afi: int, event: UpdateEvent) -> dict[str, list[Nlri]]:
    """The NLRIs of an L3VPN group by route distinguisher; one without an RD is an error."""
    if not isinstance(items, list):
        raise BadEvent("bad_message", f"nlri of {family!r} is not a list")
    out: dict[str, list[Nlri]] = {}
    for item in items:
        raw = item.get("rd") if isinstance(item, dict) else None
        try:
            rd = check_rd(raw) if isinstance(raw, str) else check_rd("")
        except ValueError:
            event.errors.append(f"bad_rd:{item!r}"[:200])
            continue
        out.setdefault(rd, []).extend(_nlris(family, [item], afi, event))
    return out


def _family(group: Any, kind: str) -> str:
    """The family of one announce or withdraw group."""
    if not isinstance(group, dict) or not isinstance(group.get("family"), str):
        raise BadEvent("bad_message", f"{kind} group {group!r}"[:200])
    family: str = group["family"]
    return family


def _table(family: str, event: UpdateEvent) -> tuple[int, bool] | None:
    """(AFI, L3VPN or not) of a family whose routes are kept; None (the family noted as skipped)
    for any other."""
    afi = afi_of_family(family)
    if afi is not None:
        return afi, False
    vpn = vpn_afi_of_family(family)
    if vpn is None:
        event.skipped_families.append(family)
        return None
    return vpn, True


def _update(header: EventHeader, obj: dict[str, Any]) -> UpdateEvent:
    attrs = obj.get("attrs")
    if attrs is None:
        attrs = {}
    announce, withdraw = obj.get("announce", []), obj.get("withdraw", [])
    if not isinstance(attrs, dict) or not isinstance(announce, list):
        raise BadEvent("bad_message", "attrs/announce malformed")
    if not isinstance(withdraw, list):
        raise BadEvent("bad_message", "withdraw malformed")
    event = UpdateEvent(header=header, attrs=attrs, announce=[], withdraw=[])
    for group in announce:
        family = _family(group, "announce")
        next_hop = group.get("next_hop")
        if next_hop is not None and not isinstance(next_hop, str):
            raise BadEvent("bad_message", f"next_hop {next_hop!r}")
        if (table := _table(family, event)) is None:
            continue
        afi, vpn = table
        if vpn:
            for rd, nlris in _by_rd(family, group.get("nlri"), afi, event).items():
                event.vpn_announce.append((rd, next_hop, nlris))
        else:
            event.announce.append((next_hop, _nlris(family, group.get("nlri"), afi, event)))
    for group in withdraw:
        family = _family(group, "withdraw")
        if (table := _table(family, event)) is None:
            continue
        afi, vpn = table
        if vpn:
            for rd, nlris in _by_rd(family, group.get("nlri"), afi, event).items():
                event.vpn_withdraw.extend((rd, n) for n in nlris)
        else:
            event.withdraw.extend(_nlris(family, group.get("nlri"), afi, event))
    return event


def parse_event(obj: Any) -> Event:
    """A decoded bgp-updates message as an event; raises :class:`BadEvent` if malformed."""
    header = parse_header(obj)
    if header.kind == "update":
        return _update(header, obj)
    if header.kind == "session":
        state = obj.get("state")
        if state not in ("connected", "up", "down"):
            raise BadEvent("bad_message", f"session state {state!r}")
        reason = obj.get("reason")
        return SessionEvent(header, state, reason if isinstance(reason, str) else None)
    if header.kind == "eor":
        family = obj.get("family")
        if not isinstance(family, str):
            raise BadEvent("bad_message", f"eor family {family!r}")
        return EorEvent(header, family)
    family = obj.get("family")
    return RefreshEvent(header, family if isinstance(family, str) else None)
