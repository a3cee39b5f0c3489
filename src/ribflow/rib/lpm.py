"""Longest-prefix match over one address family, in plain dicts (no C extension needed).

Layout: one dict per prefix length, mapping ``network >> (bits - length)`` to a value. A lookup
probes lengths from the longest down and stops at the first hit. Probing every present length
costs ~25 probes for an unrouted IPv4 address in a real table, so the address space is cut into
*blocks* (the top 16 bits for IPv4, 32 for IPv6):

* lengths longer than the block: each block keeps the tuple of those lengths that actually occur
  inside it (maintained with counters keyed by block and length; the tuples are shared between
  blocks with the same lengths), so a /24 hit usually costs one or two probes;
* lengths up to the block size: the answer is the same for every address of a block, so it is
  computed once per block and cached; any change to a short prefix bumps a generation number
  that invalidates the cache (short prefixes are few and change rarely).

Memory per entry is the dict slot plus the int key (~80 bytes); values are shared objects.

:func:`new_table` is what the RIB uses: it returns the compiled table of the ``ribflow_lpm``
extension (rust/ribflow-lpm: a multibit trie with popcount-compressed nodes, same API and
results) when that module is installed, else this pure-Python :class:`PrefixTable`.
``RIBFLOW_PURE_LPM=1`` in the environment forces the pure-Python table (for tests and
side-by-side benchmarks). Both offer batch lookups, :meth:`PrefixTable.lookup_many` (ints) and
:meth:`PrefixTable.lookup_packed` (big-endian bytes), so one call serves many addresses.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, Generic, Protocol, TypeVar

V = TypeVar("V")

PURE_ENV = "RIBFLOW_PURE_LPM"


def _load_compiled() -> tuple[ModuleType | None, str]:
    try:
        return importlib.import_module("ribflow_lpm"), ""
    except ImportError as exc:
        return None, str(exc)


#: The compiled extension module, or None (then ``COMPILED_ERROR`` says why).
COMPILED, COMPILED_ERROR = _load_compiled()


class LpmTable(Protocol[V]):
    """What the RIB needs of a prefix table; both implementations provide it."""

    bits: int

    def __len__(self) -> int: ...
    def insert(self, network: int, length: int, value: V) -> V | None: ...
    def remove(self, network: int, length: int) -> V | None: ...
    def clear(self) -> None: ...
    def get(self, network: int, length: int) -> V | None: ...
    def lookup(self, address: int) -> tuple[int, V] | None: ...
    def lookup_many(self, addresses: Iterable[int]) -> list[tuple[int, V] | None]: ...
    def lookup_packed(self, data: bytes) -> list[tuple[int, V] | None]: ...
    def lengths(self) -> list[int]: ...
    def items(self) -> Iterable[tuple[int, int, V]]: ...
    def sorted_items(self) -> list[tuple[int, int, V]]: ...


def pure_forced() -> bool:
    """True when ``RIBFLOW_PURE_LPM`` asks for the pure-Python table."""
    return os.environ.get(PURE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def new_table(bits: int, pure: bool | None = None) -> LpmTable[Any]:
    """A prefix table for ``bits`` (32 or 128): compiled if available, unless ``pure``.

    ``pure`` None means "ask the environment" (:func:`pure_forced`).
    """
    if pure is None:
        pure = pure_forced()
    if COMPILED is None or pure:
        return PrefixTable(bits)
    table: LpmTable[Any] = COMPILED.PrefixTable(bits)
    return table


_Probe = tuple[int, dict[int, V], int]  # (shift, table of that length, length)


class PrefixTable(Generic[V]):
    """Exact and longest-prefix lookups for prefixes of one family (``bits`` = 32 or 128)."""

    __slots__ = (
        "_block_bits",
        "_block_probes",
        "_block_shift",
        "_counts",
        "_gen",
        "_len_counts",
        "_probe_of",
        "_probe_sets",
        "_short_cache",
        "_short_cache_max",
        "_short_probes",
        "_size",
        "_tables",
        "bits",
    )

    def __init__(self, bits: int, block_bits: int | None = None, short_cache_max: int = 1 << 17):
        if bits not in (32, 128):
            raise ValueError("bits must be 32 or 128")
        self.bits = bits
        self._block_bits = block_bits if block_bits is not None else (16 if bits == 32 else 32)
        if not 0 <= self._block_bits <= bits:
            raise ValueError("block_bits out of range")
        self._block_shift = bits - self._block_bits
        self._tables: list[dict[int, V]] = [{} for _ in range(bits + 1)]
        self._len_counts = [0] * (bits + 1)
        # (block << 8 | length) -> entries of that length inside the block (long lengths only)
        self._counts: dict[int, int] = {}
        self._block_probes: dict[int, tuple[_Probe[V], ...]] = {}
        self._probe_of: list[_Probe[V]] = [(bits - n, self._tables[n], n) for n in range(bits + 1)]
        self._probe_sets: dict[tuple[int, ...], tuple[_Probe[V], ...]] = {}
        self._short_probes: tuple[_Probe[V], ...] = ()
        # block -> (generation, result) for lengths <= block_bits
        self._short_cache: dict[int, tuple[int, tuple[int, V] | None]] = {}
        self._short_cache_max = short_cache_max
        self._gen = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    # -- changes -----------------------------------------------------------------------------
    def insert(self, network: int, length: int, value: V) -> V | None:
        """Set the value of ``network/length``; returns the value it replaces, if any."""
        table = self._tables[length]
        key = network >> (self.bits - length)
        old = table.get(key)
        table[key] = value
        if length <= self._block_bits:
            self._gen += 1
        if old is None:
            self._size += 1
            self._len_counts[length] += 1
            if length > self._block_bits:
                block = network >> self._block_shift
                ck = block << 8 | length
                seen = self._counts.get(ck, 0)
                self._counts[ck] = seen + 1
                if not seen:
                    self._set_block_lengths(block, length, add=True)
            elif self._len_counts[length] == 1:
                self._rebuild_short()
        return old

    def remove(self, network: int, length: int) -> V | None:
        """Delete ``network/length``; returns the value it had, or ``None`` if absent."""
        table = self._tables[length]
        old = table.pop(network >> (self.bits - length), None)
        if old is None:
            return None
        self._size -= 1
        self._len_counts[length] -= 1
        if length > self._block_bits:
            block = network >> self._block_shift
            ck = block << 8 | length
            left = self._counts[ck] - 1
            if left:
                self._counts[ck] = left
            else:
                del self._counts[ck]
                self._set_block_lengths(block, length, add=False)
        else:
            self._gen += 1
            if not self._len_counts[length]:
                self._rebuild_short()
        return old

    def clear(self) -> None:
        """Remove every entry."""
        for table in self._tables:
            table.clear()
        self._len_counts = [0] * (self.bits + 1)
        self._counts.clear()
        self._block_probes.clear()
        self._short_probes = ()
        self._short_cache.clear()
        self._gen += 1
        self._size = 0

    def _set_block_lengths(self, block: int, length: int, add: bool) -> None:
        lengths = {p[2] for p in self._block_probes.get(block, ())}
        if add:
            lengths.add(length)
        else:
            lengths.discard(length)
        if not lengths:
            self._block_probes.pop(block, None)
            return
        key = tuple(sorted(lengths, reverse=True))
        probes = self._probe_sets.get(key)
        if probes is None:
            probes = self._probe_sets[key] = tuple(self._probe_of[n] for n in key)
        self._block_probes[block] = probes

    def _rebuild_short(self) -> None:
        counts = self._len_counts
        self._short_probes = tuple(
            self._probe_of[n] for n in range(self._block_bits, -1, -1) if counts[n]
        )

    # -- queries -----------------------------------------------------------------------------
    def get(self, network: int, length: int) -> V | None:
        """Value of exactly ``network/length``, or ``None``."""
        return self._tables[length].get(network >> (self.bits - length))

    def lookup(self, address: int) -> tuple[int, V] | None:
        """``(length, value)`` of the longest prefix containing ``address``, or ``None``."""
        block = address >> self._block_shift
        probes = self._block_probes.get(block)
        if probes is not None:
            for shift, table, length in probes:
                value = table.get(address >> shift)
                if value is not None:
                    return length, value
        cached = self._short_cache.get(block)
        if cached is not None and cached[0] == self._gen:
            return cached[1]
        return self._lookup_short(address, block)

    def _lookup_short(self, address: int, block: int) -> tuple[int, V] | None:
        result: tuple[int, V] | None = None
        for shift, table, length in self._short_probes:
            value = table.get(address >> shift)
            if value is not None:
                result = (length, value)
                break
        cache = self._short_cache
        if len(cache) >= self._short_cache_max:
            cache.clear()
        cache[block] = (self._gen, result)
        return result

    def lookup_many(self, addresses: Iterable[int]) -> list[tuple[int, V] | None]:
        """:meth:`lookup` of every address, as a list (one call for many lookups)."""
        lookup = self.lookup
        return [lookup(a) for a in addresses]

    def lookup_packed(self, data: bytes) -> list[tuple[int, V] | None]:
        """:meth:`lookup` of addresses packed in ``data``: 4 (IPv4) or 16 (IPv6) bytes each,
        big-endian (network order, as ``socket.inet_pton`` gives them)."""
        size = self.bits // 8
        if len(data) % size:
            raise ValueError(f"packed addresses: {len(data)} bytes is not a multiple of {size}")
        lookup, from_bytes = self.lookup, int.from_bytes
        return [lookup(from_bytes(data[i : i + size])) for i in range(0, len(data), size)]

    def lengths(self) -> list[int]:
        """Prefix lengths present, longest first."""
        return [n for n in range(self.bits, -1, -1) if self._len_counts[n]]

    def items(self) -> Iterator[tuple[int, int, V]]:
        """Every ``(network, length, value)``, grouped by length (no particular order inside)."""
        bits = self.bits
        for length in range(bits + 1):
            shift = bits - length
            for key, value in list(self._tables[length].items()):
                yield key << shift, length, value

    def sorted_items(self) -> list[tuple[int, int, V]]:
        """Every entry ordered by network then length (the order pmacct's dumps walk)."""
        entries = list(self.items())
        entries.sort(key=lambda e: (e[0], e[1]))
        return entries
