"""The aggregation key of a record, without a Python loop in the common case.

The key is the JSON array (text) of the chosen primitives' values in pmacct's order (records.py
says how a value is normalised and what an absent one defaults to): hashable, the Kafka key of
the output once encoded, and compact in memory: one str of ~300 bytes for the seed's list,
where a tuple of its 20 values holds ~1 KB of Python objects. (Not orjson's bytes as they come:
each keeps orjson's ~4 KB output buffer; ``.decode()`` makes an exact-size copy.)

:class:`FastKey` takes the values in one C call (``map(record.get, keys, defaults)``) and
checks them in two more (their types, and the sign of the integers): when every value is of the
type it is written in once normalised (int not negative, str, a protocol name, a tcp_flags
decimal without leading zeros), the tuple is the values as they are. Otherwise it returns None
and the caller normalises value by value (the reference path, :meth:`RowBuilder._values`);
both give the same values (tests/aggregate/test_keys.py).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from ribflow.aggregate.primitives import Kind, Primitive

__all__ = ["FastKey", "Key"]

#: An aggregation key: the JSON array of the primitives' values (orjson.dumps, decoded).
Key = str

#: The type a value of each kind has when it is already normal.
_NORMAL_TYPE: dict[Kind, type] = {
    "int": int,
    "str": str,
    "path": str,
    "time": str,
    "flags": str,
    "proto": str,
}


class FastKey:
    """The key's values of a record when they need no normalisation; None otherwise."""

    def __init__(self, primitives: tuple[Primitive, ...]) -> None:
        self._keys = tuple(p.source_keys[0] for p in primitives)
        self._defaults = tuple(p.default for p in primitives)
        self._types = tuple(_NORMAL_TYPE[p.kind] for p in primitives)
        self._usable = all(len(p.source_keys) == 1 for p in primitives)
        ints = [i for i, p in enumerate(primitives) if p.kind == "int"]
        self._ints = _getter(ints)
        self._flags = _getter([i for i, p in enumerate(primitives) if p.kind == "flags"])
        self._protos = _getter([i for i, p in enumerate(primitives) if p.kind == "proto"])
        self._has_rate = any(p.name == "sampling_rate" for p in primitives)

    def key(self, record: dict[str, Any], scaled: bool) -> tuple[Any, ...] | None:
        if not self._usable or (scaled and self._has_rate):
            return None  # sampling_rate is written as 1 once the counters are scaled
        values = tuple(map(record.get, self._keys, self._defaults))
        if tuple(map(type, values)) != self._types:
            return None
        if self._ints is not None and min(self._ints(values)) < 0:
            return None
        if self._flags is not None:
            for flags in self._flags(values):
                digits = flags.isascii() and flags.isdigit()
                if not digits or (flags[0] == "0" and len(flags) > 1):
                    return None
        if self._protos is not None:
            for proto in self._protos(values):
                if proto.isdigit():
                    return None
        return values


def _getter(positions: list[int]) -> Any:
    """A function returning the values at ``positions`` as a tuple (None: no position)."""
    if not positions:
        return None
    if len(positions) == 1:
        only = positions[0]
        return lambda values: (values[only],)
    return itemgetter(*positions)
