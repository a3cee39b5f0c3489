"""Repair of UPDATE lines ExaBGP writes as invalid JSON (an attribute it cannot render).

A router legitimately sends what ExaBGP then renders badly; losing the whole UPDATE (every route in
it) for one attribute is not acceptable, so a line that is not JSON gets two chances before it is
dead-lettered:

1. **BGP Prefix-SID (SRv6).** ExaBGP 5.0.15 never formats its SRv6 SID Information sub-TLV: its
   ``SrV6SidInformation.json()`` (exabgp/bgp/message/update/attribute/sr/srv6/sidinformation.py)
   returns the template ``'{ "sid": "%s", "flags": 0, "endpoint_behavior": %d'`` without the
   ``%`` operator, so the line carries a literal ``%d`` (invalid JSON) and ``"%s"`` for the SID.
   Upstream bug in ExaBGP 5.0.15 (the PyPI release this project pins). With ``consolidate`` the
   line also has the UPDATE's raw body: the SIDs, flags and behaviours are read from the
   Prefix-SID attribute (type 40) there and put in, in wire order; without the body they become
   ``null``.
2. **Anything else.** The ``attribute`` object is split into its members; members that do not
   parse are dropped (and named, so the bridge counts them); the routes and the other attributes
   are kept.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Any

import orjson

from ribflow.bgp.wire import attribute_value

PREFIX_SID = 40
_SRV6_SERVICE_TLVS = (5, 6)  # SRv6 L3 / L2 service
_SID_INFORMATION = 1
_BROKEN_SID = re.compile(rb'"sid": "%s", "flags": 0, "endpoint_behavior": %d')
_BODY = re.compile(rb'"body": "(0x[0-9A-Fa-f]*)"')
_ATTRIBUTE = b'"attribute": {'


def srv6_sids(value: bytes) -> list[tuple[str, int, int]]:
    """(SID, flags, endpoint behaviour) of each SRv6 SID Information sub-TLV of a Prefix-SID
    attribute value, in wire order (RFC 9252 section 3). Stops at the first malformed TLV."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i + 3 <= len(value):
        kind, length = value[i], int.from_bytes(value[i + 1 : i + 3], "big")
        tlv = value[i + 3 : i + 3 + length]
        i += 3 + length
        if len(tlv) != length:
            break
        if kind not in _SRV6_SERVICE_TLVS:
            continue
        j = 1  # reserved octet
        while j + 3 <= len(tlv):
            sub, sub_len = tlv[j], int.from_bytes(tlv[j + 1 : j + 3], "big")
            data = tlv[j + 3 : j + 3 + sub_len]
            j += 3 + sub_len
            if sub == _SID_INFORMATION and len(data) >= 21:
                sid = str(ipaddress.IPv6Address(data[1:17]))
                out.append((sid, data[17], int.from_bytes(data[18:20], "big")))
    return out


def repair_prefix_sid(line: bytes) -> bytes | None:
    """The line with ExaBGP's unformatted SRv6 SID Information filled in, or None when the line
    does not have that fault."""
    holes = _BROKEN_SID.findall(line)
    if not holes:
        return None
    sids: list[tuple[str, int, int]] = []
    body = _BODY.search(line)
    if body is not None:
        value = attribute_value(body.group(1).decode(), PREFIX_SID)
        if value is not None:
            sids = srv6_sids(value)
    if len(sids) != len(holes):
        sids = []
    values = iter(sids)

    def fill(_: re.Match[bytes]) -> bytes:
        got = next(values, None)
        if got is None:
            return b'"sid": null, "flags": 0, "endpoint_behavior": null'
        sid, flags, behavior = got
        return f'"sid": "{sid}", "flags": {flags}, "endpoint_behavior": {behavior}'.encode()

    return _BROKEN_SID.sub(fill, line)


def _members(text: bytes, start: int) -> tuple[list[tuple[int, int]], int] | None:
    """Spans of the top-level members of the object whose ``{`` is at ``start``, and the index
    of its closing ``}``; None when it does not close. Strings are skipped; brackets counted."""
    depth = 0
    spans: list[tuple[int, int]] = []
    begin = start + 1
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == 0x22:  # '"'
            i += 1
            while i < n and text[i] != 0x22:
                i += 2 if text[i] == 0x5C else 1  # backslash escapes one byte
        elif c in (0x7B, 0x5B):  # { [
            depth += 1
        elif c in (0x7D, 0x5D):  # } ]
            depth -= 1
            if depth == 0:
                if text[begin:i].strip():
                    spans.append((begin, i))
                return spans, i
        elif c == 0x2C and depth == 1:  # ','
            spans.append((begin, i))
            begin = i + 1
        i += 1
    return None


def drop_bad_attributes(line: bytes) -> tuple[bytes, list[str]] | None:
    """The line without the members of its ``attribute`` object that are not valid JSON, and
    their names (``?`` when even the name is unreadable); None when that does not make the
    line valid JSON."""
    start = line.find(_ATTRIBUTE)
    if start < 0:
        return None
    found = _members(line, start + len(_ATTRIBUTE) - 1)
    if found is None:
        return None
    spans, close = found
    good: list[bytes] = []
    dropped: list[str] = []
    for begin, end in spans:
        member = line[begin:end]
        try:
            orjson.loads(b"{" + member + b"}")
            good.append(member.strip())
        except orjson.JSONDecodeError:
            name = re.match(rb'\s*"([^"]{1,64})"\s*:', member)
            dropped.append(name.group(1).decode("ascii", "replace") if name else "?")
    if not dropped:
        return None
    fixed = line[: start + len(_ATTRIBUTE)] + b" " + b", ".join(good) + b" " + line[close:]
    try:
        orjson.loads(fixed)
    except orjson.JSONDecodeError:
        return None
    return fixed, dropped


def repair_line(line: bytes | str, stats: Counter[str]) -> Any:
    """A line ExaBGP wrote as invalid JSON, repaired and parsed, or None (a bad line). Counts
    ``repaired:prefix-sid`` and ``attr-dropped:<name>`` into ``stats``."""
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "replace")
    fixed = repair_prefix_sid(raw)
    if fixed is not None:
        try:
            msg = orjson.loads(fixed)
            stats["repaired:prefix-sid"] += 1
            return msg
        except orjson.JSONDecodeError:
            raw = fixed  # another fault besides: the attribute split below may still save it
    dropped = drop_bad_attributes(raw)
    if dropped is None:
        return None
    fixed, names = dropped
    for name in names:
        stats[f"attr-dropped:{name}"] += 1
    return orjson.loads(fixed)
