"""The RIB in Quix state as a per-router journal of packed records (many paths per record).

A router's routes are kept under its message key as journal records ``b"j" + counter``
(8 bytes, big-endian, so RocksDB's order is the order of writing). Each applied bgp-updates
message writes one record with every path it set or deleted; replaying a router's records in
key order rebuilds its tables. One record (one RocksDB write, one changelog message) per
message instead of one per path is what makes a table load and its restore cheap.

The journal is compacted so it stays proportional to the table: when it holds more than twice
the router's paths (plus :data:`SLACK`), the live tables are written as fresh records and every
older record is deleted in the same state transaction; a router left without paths (session
down, a new epoch) just deletes its records.

A record is ``b"J"`` then groups; a group is ``!HHII`` (RD length, attribute-set length, IPv4
count, IPv6 count), the RD (ASCII, "" for the global table), the attribute set's canonical
JSON (:attr:`RouteAttrs.key`; empty: the group's paths are deleted), then the IPv4 entries
``!BIL`` (length, network, path id) and the IPv6 entries ``!B16sL``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ribflow.rib.apply import RouterState
from ribflow.rib.attrs import AttrPool, RouteAttrs
from ribflow.rib.prefix import AFI_IP, AFI_IP6
from ribflow.rib.table import RouterRib

JOURNAL_TAG: Final = 0x6A  # "j"
RECORD_MAGIC: Final = b"J"
SLACK: Final = 4096  # entries a journal may carry beyond twice the live paths
CHUNK: Final = 4096  # paths per record when a journal is compacted
CHUNK_BYTES: Final = 256 << 10  # and bytes (Kafka's default limit on a changelog record: 1 MiB)
_KEY = struct.Struct("!BQ")
_GROUP = struct.Struct("!HHII")
_E4 = struct.Struct("!BIL")
_E6 = struct.Struct("!B16sL")


def journal_key(counter: int) -> bytes:
    return _KEY.pack(JOURNAL_TAG, counter)


def parse_journal_key(key: bytes) -> int | None:
    """The counter of a journal key, ``None`` if ``key`` is not one."""
    if len(key) == _KEY.size and key[0] == JOURNAL_TAG:
        return int(_KEY.unpack(key)[1])
    return None


class RecordWriter:
    """Builds one record: consecutive paths of the same table and attribute set share a group."""

    __slots__ = ("_attrs", "_done", "_groups", "_rd", "_v4", "_v6", "entries")

    def __init__(self) -> None:
        self._groups: list[bytes] = []
        self._rd = ""
        self._attrs: bytes | None = None
        self._v4: list[bytes] = []
        self._v6: list[bytes] = []
        self._done = 0  # bytes of the closed groups
        self.entries = 0

    @property
    def size(self) -> int:
        """Bytes of the record so far (about)."""
        pending = len(self._attrs or b"") + _E4.size * len(self._v4) + _E6.size * len(self._v6)
        return self._done + pending

    def add(self, rd: str, attrs: bytes, afi: int, network: int, length: int, path_id: int) -> None:
        """One path set to ``attrs`` (``b""``: deleted) in the table of ``rd``."""
        if attrs != self._attrs or rd != self._rd:
            self._close()
            self._rd, self._attrs = rd, attrs
        if afi == AFI_IP:
            self._v4.append(_E4.pack(length, network, path_id))
        else:
            self._v6.append(_E6.pack(length, network.to_bytes(16, "big"), path_id))
        self.entries += 1

    def add_many(self, rd: str, attrs: bytes, paths: list[tuple[int, int, int, int]]) -> None:
        """Paths ``(afi, network, length, path_id)`` set to ``attrs`` in the table of ``rd``."""
        if attrs != self._attrs or rd != self._rd:
            self._close()
            self._rd, self._attrs = rd, attrs
        v4, v6, pack4, pack6 = self._v4, self._v6, _E4.pack, _E6.pack
        for afi, network, length, path_id in paths:
            if afi == AFI_IP:
                v4.append(pack4(length, network, path_id))
            else:
                v6.append(pack6(length, network.to_bytes(16, "big"), path_id))
        self.entries += len(paths)

    def _close(self) -> None:
        if self._v4 or self._v6:
            rd = self._rd.encode("ascii")
            attrs = self._attrs or b""
            head = _GROUP.pack(len(rd), len(attrs), len(self._v4), len(self._v6))
            self._groups.append(b"".join((head, rd, attrs, *self._v4, *self._v6)))
            self._done += len(self._groups[-1])
            self._v4, self._v6 = [], []

    def value(self) -> bytes | None:
        """The record (``None`` when nothing was added)."""
        self._close()
        if not self._groups:
            return None
        return RECORD_MAGIC + b"".join(self._groups)


def read_record(
    value: bytes,
) -> Iterator[tuple[str, bytes, int, int, Iterator[tuple[Any, ...]]]]:
    """``(rd, attrs, afi, count, entries)`` of a record; IPv4 entries are ``(length, network,
    pid)``, IPv6 ones ``(length, network bytes, pid)``. Raises ``ValueError`` on a damaged
    record."""
    if value[:1] != RECORD_MAGIC:
        raise ValueError("not a journal record")
    view = memoryview(value)
    pos = 1
    end = len(value)
    while pos < end:
        rd_len, attrs_len, n4, n6 = _GROUP.unpack_from(view, pos)
        pos += _GROUP.size
        rd = bytes(view[pos : pos + rd_len]).decode("ascii")
        pos += rd_len
        attrs = bytes(view[pos : pos + attrs_len])
        pos += attrs_len
        v4_end = pos + n4 * _E4.size
        v6_end = v4_end + n6 * _E6.size
        if v6_end > end:
            raise ValueError("truncated journal record")
        if n4:
            yield rd, attrs, AFI_IP, n4, _E4.iter_unpack(view[pos:v4_end])
        if n6:
            yield rd, attrs, AFI_IP6, n6, _E6.iter_unpack(view[v4_end:v6_end])
        pos = v6_end


def replay(value: bytes, state: RouterState, pool: AttrPool) -> int:
    """Apply one record to a router's tables (a rebuild); returns the paths it holds.
    Raises ``ValueError``/``struct.error`` (damaged record) or ``BadEvent`` (attribute set)."""
    entries = 0
    for rd, attrs_key, afi, count, paths in read_record(value):
        table = state.vrf(rd, pool) if rd else state.rib
        if afi == AFI_IP6:
            paths = ((length, int.from_bytes(net, "big"), pid) for length, net, pid in paths)
        if attrs_key:
            table.load(afi, paths, pool.intern_key(attrs_key))
        else:
            for length, network, pid in paths:
                table.withdraw(afi, network, length, pid)
        entries += count
    return entries


@dataclass(slots=True)
class Journal:
    """What the enricher knows of one router's journal in state."""

    next: int = 0  # counter of the next record
    keys: list[bytes] = field(default_factory=list)  # every record (and legacy key) in state
    entries: int = 0  # paths written in those records
    legacy: bool = False  # per-path keys of the old layout are present: compact at once

    def seen(self, counter: int, entries: int) -> None:
        """A record found in state (on a rebuild)."""
        self.keys.append(journal_key(counter))
        self.next = max(self.next, counter + 1)
        self.entries += entries

    def due(self, live: int, pending: int) -> bool:
        """Whether the journal must be rewritten (or dropped) instead of taking a record of
        ``pending`` paths, for a router of ``live`` paths."""
        if self.legacy or (live == 0 and self.keys):
            return True
        return self.entries + pending > 2 * live + SLACK


def snapshot(tables: list[RouterRib]) -> Iterator[RecordWriter]:
    """The live paths of a router's tables as records of at most :data:`CHUNK` paths (and about
    :data:`CHUNK_BYTES`), each attribute set's paths together."""
    for table in tables:
        by_attrs: dict[RouteAttrs, list[tuple[int, int, int, int]]] = {}
        for route in table.routes():
            by_attrs.setdefault(route.attrs, []).append(
                (route.afi, route.network, route.length, route.path_id)
            )
        writer = RecordWriter()
        for attrs, paths in by_attrs.items():
            for afi, network, length, path_id in paths:
                writer.add(table.rd, attrs.key, afi, network, length, path_id)
                if writer.entries >= CHUNK or writer.size >= CHUNK_BYTES:
                    yield writer
                    writer = RecordWriter()
        if writer.entries:
            yield writer
