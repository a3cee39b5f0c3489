"""Route attributes: parsed once per distinct set, interned, shared by every route that uses it.

Real tables have far fewer attribute sets than routes (a peer sends hundreds of prefixes with the
same AS path, communities and next hop), so a route in the RIB is only a reference to a
:class:`RouteAttrs`. The interning key is the canonical JSON of the set (sorted keys, next hop
included): it is also what the enricher persists per route, so a RIB restored from its changelog
interns straight from the stored bytes without parsing a set twice.

The derived strings follow pmacct (src/bgp in pmacct 1.7): communities are de-duplicated and
sorted numerically with the well-known names (``no-export``, ...), large communities sorted,
AS_SETs sorted inside ``{a,b}``, consecutive AS_SEQUENCEs merged, the origin AS is the last AS
written and the peer AS the first one (0 when the path starts with a set).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from ribflow.rib.errors import BadEvent
from ribflow.rib.prefix import normalise_address

ORIGIN_CODES: Final = {"igp": "i", "egp": "e", "incomplete": "u"}
_ORIGIN_RANK: Final = {"igp": 0, "egp": 1, "incomplete": 2}
_ORIGIN_NAMES: Final = {name: name for name in ORIGIN_CODES}
_WELL_KNOWN: Final = {
    0x00000000: "internet",
    0xFFFFFF01: "no-export",
    0xFFFFFF02: "no-advertise",
    0xFFFFFF03: "local-AS",
}
_SEGMENT_DELIMS: Final = {
    "as-sequence": ("", " ", ""),
    "as-set": ("{", ",", "}"),
    "confed-sequence": ("(", " ", ")"),
    "confed-set": ("[", ",", "]"),
}
_EXT_PREFIXES: Final = {"target": "RT", "origin": "SoO"}
_U32: Final = 0xFFFFFFFF

Segment = tuple[str, tuple[int, ...]]


def _u32(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= _U32:
        raise BadEvent("bad_attrs", f"{what}: {value!r}")
    return value


def _opt_u32(attrs: Mapping[str, Any], name: str) -> int | None:
    value = attrs.get(name)
    return None if value is None else _u32(value, name)


def normalise_as_path(raw: Any) -> tuple[Segment, ...]:
    """Segments as pmacct keeps them: sets sorted and de-duplicated, sequences merged."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadEvent("bad_attrs", "as_path is not a list")
    out: list[Segment] = []
    for seg in raw:
        if not isinstance(seg, dict) or seg.get("type") not in _SEGMENT_DELIMS:
            raise BadEvent("bad_attrs", f"as_path segment {seg!r}")
        asns_raw = seg.get("asns")
        if not isinstance(asns_raw, list):
            raise BadEvent("bad_attrs", f"as_path segment {seg!r}")
        asns = tuple(_u32(a, "asn") for a in asns_raw)
        kind: str = seg["type"]
        if not asns:
            continue
        if kind in ("as-set", "confed-set"):
            asns = tuple(sorted(set(asns)))
        if out and kind == "as-sequence" and out[-1][0] == "as-sequence":
            out[-1] = (kind, out[-1][1] + asns)
        else:
            out.append((kind, asns))
    return tuple(out)


def as_path_text(segments: Sequence[Segment]) -> str:
    """pmacct's AS path string: ``65010 {65020,65030} (65001 65002)``."""
    parts = []
    for kind, asns in segments:
        start, sep, end = _SEGMENT_DELIMS[kind]
        parts.append(start + sep.join(map(str, asns)) + end)
    return " ".join(parts)


def first_asn(segments: Sequence[Segment]) -> int:
    """The peer AS as pmacct reads it off the path string (0 when the path opens with a set)."""
    if not segments:
        return 0
    kind, asns = segments[0]
    return asns[0] if kind in ("as-sequence", "confed-sequence") else 0


def last_asn(segments: Sequence[Segment]) -> int:
    """The origin AS: the last AS written in the path (0 for an empty path)."""
    return segments[-1][1][-1] if segments else 0


def path_hops(segments: Sequence[Segment]) -> int:
    """Path length for best-path selection (a set counts one, confederation segments zero)."""
    hops = 0
    for kind, asns in segments:
        if kind == "as-sequence":
            hops += len(asns)
        elif kind == "as-set":
            hops += 1
    return hops


def _listed(raw: Any, name: str) -> list[Any]:
    """The items of the list attribute ``name`` (none when it is absent or empty)."""
    if not raw:
        return []
    if not isinstance(raw, list):
        raise BadEvent("bad_attrs", f"{name} is not a list")
    return raw


def parse_communities(raw: Any) -> tuple[int, ...]:
    """Standard communities (``'asn:value'``) as sorted, unique 32-bit values."""
    values = set()
    for item in _listed(raw, "communities"):
        high, sep, low = str(item).partition(":")
        try:
            hi, lo = int(high), int(low)
        except ValueError:
            raise BadEvent("bad_attrs", f"community {item!r}") from None
        if not sep or not (0 <= hi <= 0xFFFF and 0 <= lo <= 0xFFFF):
            raise BadEvent("bad_attrs", f"community {item!r}")
        values.add(hi << 16 | lo)
    return tuple(sorted(values))


def parse_large_communities(raw: Any) -> tuple[tuple[int, int, int], ...]:
    """Large communities (``'a:b:c'``) sorted and unique."""
    values = set()
    for item in _listed(raw, "large_communities"):
        parts = str(item).split(":")
        try:
            a, b, c = (int(p) for p in parts)
        except ValueError:
            raise BadEvent("bad_attrs", f"large community {item!r}") from None
        if not all(0 <= x <= _U32 for x in (a, b, c)):
            raise BadEvent("bad_attrs", f"large community {item!r}")
        values.add((a, b, c))
    return tuple(sorted(values))


def community_text(value: int) -> str:
    """pmacct's text of one standard community."""
    name = _WELL_KNOWN.get(value)
    return name if name is not None else f"{value >> 16}:{value & 0xFFFF}"


def ext_community_text(text: str) -> str:
    """ExaBGP's rendering of an extended community in pmacct's display form (RT:, SoO:)."""
    kind, sep, rest = text.partition(":")
    prefix = _EXT_PREFIXES.get(kind)
    return f"{prefix}:{rest}" if sep and prefix else text


def canonical_key(attrs: Mapping[str, Any], next_hop: str | None) -> bytes:
    """The interning key of an attribute set: canonical JSON with the next hop inside."""
    body = dict(attrs)
    body["next_hop"] = next_hop
    try:
        # orjson's result keeps its 4 KiB working buffer: copy it to an exact-size object,
        # since this key lives as long as the set does
        return bytes(memoryview(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)))
    except TypeError as exc:
        raise BadEvent("bad_attrs", str(exc)) from exc


def _intern(text: str) -> str:
    return sys.intern(text) if text else ""


class RouteAttrs:
    """One interned attribute set (with its next hop) and the strings pmacct derives from it."""

    # Memory matters (one object per distinct set, hundreds of thousands in a full table):
    # only the derived strings are kept, not the parsed tuples, and repeated strings are
    # interned so sets sharing an AS path share its text.
    __slots__ = (
        "as_path_str",
        "comms_str",
        "ecomms_str",
        "first_as",
        "fmt_cache",
        "hops",
        "key",
        "last_as",
        "lcomms_str",
        "local_pref",
        "med",
        "next_hop",
        "origin",
        "refs",
    )

    def __init__(self, key: bytes, attrs: Mapping[str, Any], next_hop: str | None) -> None:
        self.key = key
        try:
            # interned: thousands of sets share a handful of next hops
            self.next_hop = _intern(normalise_address(next_hop)) if next_hop else ""
        except (OSError, ValueError):
            raise BadEvent("bad_attrs", f"next hop {next_hop!r}") from None
        origin = attrs.get("origin")
        if origin is not None:
            if origin not in ORIGIN_CODES:
                raise BadEvent("bad_attrs", f"origin {origin!r}")
            origin = _ORIGIN_NAMES[origin]  # the shared constant, not the parser's copy
        self.origin: str | None = origin
        as_path = normalise_as_path(attrs.get("as_path"))
        self.med = _opt_u32(attrs, "med")
        self.local_pref = _opt_u32(attrs, "local_pref")
        communities = parse_communities(attrs.get("communities"))
        large = parse_large_communities(attrs.get("large_communities"))
        ext = _listed(attrs.get("ext_communities"), "ext_communities")
        self.as_path_str = _intern(as_path_text(as_path))
        self.comms_str = _intern(" ".join(community_text(c) for c in communities))
        self.lcomms_str = _intern(" ".join(f"{a}:{b}:{c}" for a, b, c in large))
        self.ecomms_str = _intern(" ".join(ext_community_text(str(e)) for e in ext))
        self.first_as = first_asn(as_path)
        self.last_as = last_asn(as_path)
        self.hops = path_hops(as_path)
        self.fmt_cache: Any = None
        self.refs = 0

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """ADD-PATH best path order: highest local-pref (100 when absent), shortest path,
        lowest origin, lowest MED (0 when absent); the path id breaks remaining ties."""
        return (
            -(100 if self.local_pref is None else self.local_pref),
            self.hops,
            _ORIGIN_RANK.get(self.origin or "incomplete", 2),
            self.med or 0,
        )

    @property
    def origin_code(self) -> str:
        """pmacct's one-letter origin: i, e, u (u also when absent)."""
        return ORIGIN_CODES.get(self.origin or "incomplete", "u")

    def to_json(self) -> dict[str, Any]:
        """The attribute set in the bgp-updates ``attrs`` form (plus ``next_hop``)."""
        out: dict[str, Any] = orjson.loads(self.key)
        return out

    def __repr__(self) -> str:
        return f"RouteAttrs(nh={self.next_hop}, path={self.as_path_str!r}, refs={self.refs})"


class AttrPool:
    """Interns attribute sets by canonical key, with reference counts so unused sets go away."""

    __slots__ = ("_sets",)

    def __init__(self) -> None:
        self._sets: dict[bytes, RouteAttrs] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def intern(self, attrs: Mapping[str, Any], next_hop: str | None) -> RouteAttrs:
        """The shared set for these attributes (not yet referenced: see :meth:`acquire`)."""
        key = canonical_key(attrs, next_hop)
        found = self._sets.get(key)
        if found is None:
            found = RouteAttrs(key, attrs, next_hop)
            self._sets[key] = found
        return found

    def intern_key(self, key: bytes) -> RouteAttrs:
        """The shared set for a canonical key (as persisted); parses it only when new."""
        found = self._sets.get(key)
        if found is None:
            try:
                body = orjson.loads(key)
            except orjson.JSONDecodeError as exc:
                raise BadEvent("bad_attrs", "stored attribute set is not JSON") from exc
            if not isinstance(body, dict):
                raise BadEvent("bad_attrs", "stored attribute set is not an object")
            next_hop = body.pop("next_hop", None)
            found = RouteAttrs(key, body, next_hop)
            self._sets[key] = found
        return found

    def acquire(self, attrs: RouteAttrs, n: int = 1) -> None:
        attrs.refs += n

    def release(self, attrs: RouteAttrs) -> None:
        attrs.refs -= 1
        if attrs.refs <= 0:
            self._sets.pop(attrs.key, None)

    def drop_if_unused(self, attrs: RouteAttrs) -> None:
        """Forget a set that was interned but ended up referenced by no route."""
        if attrs.refs <= 0:
            self._sets.pop(attrs.key, None)

    def sweep(self) -> int:
        """Forget sets that were interned but never referenced; returns how many."""
        unused = [k for k, a in self._sets.items() if a.refs <= 0]
        for k in unused:
            del self._sets[k]
        return len(unused)
