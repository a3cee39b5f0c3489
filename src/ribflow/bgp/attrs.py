"""ExaBGP's ``attribute`` object -> the ``attrs`` of a bgp-updates event.

A dispatch table maps each ExaBGP attribute name to a small converter. Attributes without a
converter (AIGP, BGP-LS, prefix-SID, ``attribute-0xNN-0xFF`` for unknown codes, ...) are carried
unchanged under ``raw``; so is any known attribute whose value has an unexpected shape. Nothing
here raises on bad input: the route is kept, the odd attribute travels raw and is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ribflow.bgp.events import Attrs, Segment

ORIGINS = frozenset({"igp", "egp", "incomplete"})
SEGMENT_TYPES = frozenset({"as-sequence", "as-set", "confed-sequence", "confed-set"})
_MAX32 = 0xFFFFFFFF


def _uint(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= _MAX32:
        raise ValueError(f"not a 32-bit unsigned integer: {value!r}")
    return value


def _origin(out: dict[str, Any], value: Any) -> None:
    if value not in ORIGINS:
        raise ValueError(f"unknown origin {value!r}")
    out["origin"] = value


def _as_path(out: dict[str, Any], value: Any) -> None:
    items = list(value.items())
    if len(items) > 1:
        items.sort(key=lambda kv: int(kv[0]))
    segments: list[Segment] = []
    for _, seg in items:
        kind = seg["element"]
        if kind not in SEGMENT_TYPES:
            raise ValueError(f"unknown AS-path segment {kind!r}")
        segments.append({"type": kind, "asns": [_uint(a) for a in seg["value"]]})
    out["as_path"] = segments


def _med(out: dict[str, Any], value: Any) -> None:
    out["med"] = _uint(value)


def _local_pref(out: dict[str, Any], value: Any) -> None:
    out["local_pref"] = _uint(value)


def _communities(out: dict[str, Any], value: Any) -> None:
    out["communities"] = [f"{_uint(a)}:{_uint(b)}" for a, b in value]


def _large(out: dict[str, Any], value: Any) -> None:
    out["large_communities"] = [f"{_uint(a)}:{_uint(b)}:{_uint(c)}" for a, b, c in value]


def _extended(out: dict[str, Any], value: Any) -> None:
    result = []
    for item in value:
        text = item.get("string") if isinstance(item, dict) else None
        if not text:
            # ExaBGP leaves 'string' empty for types it does not know: keep the 8 bytes as hex
            text = f"0x{int(item['value']):016x}" if isinstance(item, dict) else str(item)
        result.append(text)
    out["ext_communities"] = result


def _originator(out: dict[str, Any], value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError("originator-id is not a string")
    out["originator_id"] = value


def _cluster_list(out: dict[str, Any], value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ValueError("cluster-list is not a list of strings")
    out["cluster_list"] = value


def _aggregator(out: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):  # ExaBGP's Aggregator.json() shape
        out["aggregator"] = f"{_uint(value['asn'])}:{value['speaker']}"
        return
    asn, sep, speaker = str(value).strip("() ").partition(":")
    if not sep or not asn.isdigit():
        raise ValueError(f"aggregator {value!r} is not 'asn:address'")
    out["aggregator"] = f"{int(asn)}:{speaker.strip()}"


def _atomic(out: dict[str, Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError("atomic-aggregate is not a boolean")
    out["atomic_aggregate"] = value


Converter = Callable[[dict[str, Any], Any], None]

CONVERTERS: dict[str, Converter] = {
    "origin": _origin,
    "as-path": _as_path,
    "med": _med,
    "local-preference": _local_pref,
    "community": _communities,
    "large-community": _large,
    "extended-community": _extended,
    "originator-id": _originator,
    "cluster-list": _cluster_list,
    "aggregator": _aggregator,
    "atomic-aggregate": _atomic,
}


def normalise_attrs(
    attribute: dict[str, Any], on_bad: Callable[[str], None] | None = None
) -> Attrs:
    """Convert ExaBGP's attribute object; ``on_bad(name)`` is told about each one kept raw
    because its value had an unexpected shape (unknown attributes are raw without a call)."""
    out: dict[str, Any] = {}
    raw: dict[str, Any] | None = None
    for name, value in attribute.items():
        convert = CONVERTERS.get(name)
        if convert is not None:
            try:
                convert(out, value)
                continue
            except (TypeError, ValueError, KeyError, AttributeError):
                if on_bad is not None:
                    on_bad(name)
        if raw is None:
            raw = {}
        raw[name] = value
    if raw is not None:
        out["raw"] = raw
    return out  # type: ignore[return-value]


def apply_wire_types(attrs: Attrs, types: list[str] | None) -> None:
    """Replace the AS-path segment types with those read from the raw UPDATE (see wire.py)."""
    path = attrs.get("as_path")
    if path is None or types is None or len(types) != len(path):
        return
    for seg, kind in zip(path, types, strict=True):
        seg["type"] = kind
