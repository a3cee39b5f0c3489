"""One router's RIB: IPv4 and IPv6 prefix tables whose entries reference interned attributes.

An entry is the :class:`RouteAttrs` itself for the common case (one path, path id 0) and a tuple
of ``(path_id, attrs)`` pairs, best first, under ADD-PATH. Lookups for a flow's destination
(:func:`pick_route`) take, as pmacct does, the longest prefix with a path whose next hop is the
flow's BGP next hop, that path; when no prefix covering the address has one, the longest match's
best path: highest local-pref, then shortest AS path, lowest origin, lowest MED, lowest path id
(pmacct gives no route then).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass

from ribflow.rib.attrs import AttrPool, RouteAttrs
from ribflow.rib.lpm import LpmTable, new_table
from ribflow.rib.prefix import AFI_IP, AFI_IP6, normalise_address

Paths = tuple[tuple[int, RouteAttrs], ...]
Entry = RouteAttrs | Paths


def _sort_paths(paths: list[tuple[int, RouteAttrs]]) -> Paths:
    paths.sort(key=lambda p: (p[1].rank, p[0]))
    return tuple(paths)


@dataclass(frozen=True, slots=True)
class Route:
    """One path of one prefix, as stored and dumped."""

    afi: int
    network: int
    length: int
    path_id: int
    attrs: RouteAttrs
    rd: str = ""  # the route distinguisher of an L3VPN route ("" in the global table)


class RouterRib:
    """The routes one router sent us for one table (the global one, ``rd`` "", or the VRF of
    one route distinguisher), with longest-prefix lookups."""

    __slots__ = ("_pool", "_routes", "next_hops", "rd", "v4", "v6")

    def __init__(self, pool: AttrPool, rd: str = "") -> None:
        self._pool = pool
        self.rd = rd
        self.v4: LpmTable[Entry] = new_table(32)
        self.v6: LpmTable[Entry] = new_table(128)
        self._routes = 0
        # paths per next hop: a flow's next hop that no path has skips pick_route's walk
        self.next_hops: dict[str, int] = {}

    def __len__(self) -> int:
        """Number of paths (a prefix with three ADD-PATH paths counts three)."""
        return self._routes

    @property
    def prefixes(self) -> int:
        return len(self.v4) + len(self.v6)

    def table(self, afi: int) -> LpmTable[Entry]:
        return self.v4 if afi == AFI_IP else self.v6

    def announce(
        self, afi: int, network: int, length: int, path_id: int, attrs: RouteAttrs
    ) -> RouteAttrs | None:
        """Add or replace a path; returns the attributes it replaced (``None`` if new)."""
        table = self.v4 if afi == AFI_IP else self.v6
        current = table.get(network, length)
        pool = self._pool
        pool.acquire(attrs)
        nh = attrs.next_hop
        if nh:
            self.next_hops[nh] = self.next_hops.get(nh, 0) + 1
        old: RouteAttrs | None = None
        if current is None:
            table.insert(network, length, attrs if path_id == 0 else ((path_id, attrs),))
            self._routes += 1
            return None
        if type(current) is RouteAttrs:
            if path_id == 0:
                old = current
                table.insert(network, length, attrs)
            else:
                table.insert(network, length, _sort_paths([(0, current), (path_id, attrs)]))
                self._routes += 1
        else:
            paths = list(current)  # type: ignore[arg-type]
            for i, (pid, existing) in enumerate(paths):
                if pid == path_id:
                    old = existing
                    paths[i] = (path_id, attrs)
                    break
            else:
                paths.append((path_id, attrs))
                self._routes += 1
            table.insert(network, length, _sort_paths(paths))
        if old is not None:
            self._drop_next_hop(old)
            pool.release(old)
        return old

    def load(self, afi: int, paths: Iterable[tuple[int, int, int]], attrs: RouteAttrs) -> int:
        """Bulk :meth:`announce` of ``(length, network, path_id)`` paths with one attribute set
        (a rebuild): a new prefix with path id 0 is inserted directly; returns how many."""
        table = self.v4 if afi == AFI_IP else self.v6
        get, insert, announce = table.get, table.insert, self.announce
        added = 0
        for length, network, path_id in paths:
            if path_id == 0 and get(network, length) is None:
                insert(network, length, attrs)
                added += 1
            else:
                announce(afi, network, length, path_id, attrs)
        if added:
            self._pool.acquire(attrs, added)
            self._routes += added
            if attrs.next_hop:
                self.next_hops[attrs.next_hop] = self.next_hops.get(attrs.next_hop, 0) + added
        return added

    def _drop_next_hop(self, attrs: RouteAttrs) -> None:
        nh = attrs.next_hop
        if nh:
            left = self.next_hops.get(nh, 0) - 1
            if left > 0:
                self.next_hops[nh] = left
            else:
                self.next_hops.pop(nh, None)

    def withdraw(self, afi: int, network: int, length: int, path_id: int) -> RouteAttrs | None:
        """Remove a path; returns its attributes, or ``None`` if it was not there."""
        table = self.v4 if afi == AFI_IP else self.v6
        current = table.get(network, length)
        if current is None:
            return None
        old: RouteAttrs | None = None
        if type(current) is RouteAttrs:
            if path_id != 0:
                return None
            old = current
            table.remove(network, length)
        else:
            paths = [p for p in current if p[0] != path_id]  # type: ignore[union-attr]
            if len(paths) == len(current):  # type: ignore[arg-type]
                return None
            old = next(a for pid, a in current if pid == path_id)  # type: ignore[union-attr]
            if not paths:
                table.remove(network, length)
            elif len(paths) == 1 and paths[0][0] == 0:
                table.insert(network, length, paths[0][1])
            else:
                table.insert(network, length, tuple(paths))
        self._routes -= 1
        self._drop_next_hop(old)
        self._pool.release(old)
        return old

    def get(self, afi: int, network: int, length: int, path_id: int) -> RouteAttrs | None:
        """Attributes of exactly this path, or ``None``."""
        current = self.table(afi).get(network, length)
        if current is None:
            return None
        if type(current) is RouteAttrs:
            return current if path_id == 0 else None
        for pid, attrs in current:  # type: ignore[union-attr]
            if pid == path_id:
                return attrs
        return None

    def clear(self) -> list[Route]:
        """Drop every route (session down); returns what was removed."""
        removed = list(self.routes())
        for route in removed:
            self._pool.release(route.attrs)
        self.v4.clear()
        self.v6.clear()
        self._routes = 0
        self.next_hops.clear()
        return removed

    def routes(self, ordered: bool = False) -> Iterator[Route]:
        """Every path; ``ordered`` walks v4 then v6 by network then length (dump order)."""
        for afi, table in ((AFI_IP, self.v4), (AFI_IP6, self.v6)):
            entries = table.sorted_items() if ordered else table.items()
            for network, length, entry in entries:
                if type(entry) is RouteAttrs:
                    yield Route(afi, network, length, 0, entry, self.rd)
                else:
                    paths = sorted(entry, key=lambda p: p[0])  # type: ignore[arg-type]
                    for pid, attrs in paths:
                        yield Route(afi, network, length, pid, attrs, self.rd)

    def lookup(
        self, afi: int, address: int, next_hop: str | None = None
    ) -> tuple[int, RouteAttrs] | None:
        """``(length, attrs)`` of the longest match; ADD-PATH picks by next hop, else best."""
        found = (self.v4 if afi == AFI_IP else self.v6).lookup(address)
        if found is None:
            return None
        length, entry = found
        if type(entry) is RouteAttrs:
            return length, entry
        bits = 32 if afi == AFI_IP else 128
        table = self.v4 if afi == AFI_IP else self.v6
        paths: Paths = entry  # type: ignore[assignment]
        return pick_route(table, bits, address, length, paths, next_hop, self.next_hops)


_UNSPECIFIED = frozenset({"", "0.0.0.0", "::"})  # exporters that know no BGP next hop send these


def _via(paths: Paths, next_hop: str, canonical: str) -> RouteAttrs | None:
    for _, attrs in paths:
        if attrs.next_hop == next_hop or attrs.next_hop == canonical:
            return attrs
    return None


def _canonical(next_hop: str) -> str:
    try:
        return normalise_address(next_hop)
    except (OSError, ValueError):
        return next_hop


def pick_path(paths: Paths, next_hop: str | None) -> RouteAttrs:
    """The ADD-PATH path of one prefix a flow uses: the one via the flow's BGP next hop, else
    the best."""
    if next_hop:
        found = _via(paths, next_hop, next_hop)
        if found is None:
            canonical = _canonical(next_hop)
            found = _via(paths, canonical, canonical)
        if found is not None:
            return found
    return paths[0][1]


def pick_route(
    table: LpmTable[Entry],
    bits: int,
    address: int,
    length: int,
    paths: Paths,
    next_hop: str | None,
    known: Container[str],
) -> tuple[int, RouteAttrs]:
    """``(length, attrs)`` for a flow's destination whose longest match (``length``) has the
    ADD-PATH ``paths``: the path via the flow's BGP next hop; if that prefix has none, the
    longest shorter prefix covering ``address`` that has one (pmacct's walk: the next hop the
    router exported says which route it forwarded by); else the longest match's best path.
    ``known``: the next hops any path of the table has (a next hop outside it is nobody's)."""
    if not next_hop or next_hop in _UNSPECIFIED:
        return length, paths[0][1]
    for _, attrs in paths:  # the common case first: the record spells it as the RIB does
        if attrs.next_hop == next_hop:
            return length, attrs
    canonical = _canonical(next_hop)
    if canonical != next_hop:
        found = _via(paths, canonical, canonical)
        if found is not None:
            return length, found
    if next_hop not in known and canonical not in known:
        return length, paths[0][1]
    get = table.get
    for shorter in table.lengths():  # longest first
        if shorter >= length:
            continue
        shift = bits - shorter
        entry = get((address >> shift) << shift, shorter)
        if entry is None:
            continue
        if type(entry) is RouteAttrs:
            if entry.next_hop == next_hop or entry.next_hop == canonical:
                return shorter, entry
        else:
            found = _via(entry, next_hop, canonical)  # type: ignore[arg-type]
            if found is not None:
                return shorter, found
    return length, paths[0][1]
