"""flows-enriched records -> aggregation rows: the key, the flow's time and its counters.

A flows-enriched message holds one JSON object, or several (NDJSON lines or a JSON array) when
the enricher batches. Every record becomes an entry ``(key, ts_ms, flows, packets, bytes)``
(:meth:`RowBuilder.entry`, what the aggregator adds up; :meth:`RowBuilder.row` is the same as a
list):

- ``key`` is the JSON text of the chosen primitives' values, in pmacct's output order; a value
  the record lacks takes pmacct's default (0, "", …) the way nfacctd prints an unset primitive
  (keys.py takes the values without a per-value call when they are already normal);
- ``ts_ms`` is the flow time the window is chosen by (TIME_SOURCE: arrival like
  ``nfacctd_time_new: true``, or the flow's start/end/export time), falling back to the Kafka
  message timestamp when the record lacks that field or has pmacct's zero time there;
- ``flows`` is the record's ``flows`` when present, else 1; ``packets`` and ``bytes`` are
  multiplied by ``sampling_rate`` when it is above 1 and renormalisation is on (pmacct's
  ``*_renormalize``: a record carrying sampling_rate N holds raw sampled counters, and after
  scaling pmacct reports sampling_rate 1).

Rows of one message with the same key and window are summed before they leave the message (a
free pre-aggregation when the enricher batches). Records that break the contract raise
:class:`BadRecord` with a metric reason; the rest of the message is still used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal

import orjson

from ribflow.aggregate.errors import BadRecord
from ribflow.aggregate.keys import FastKey, Key
from ribflow.aggregate.primitives import Kind, Primitive
from ribflow.aggregate.timebins import TimeBins
from ribflow.protocols import PROTO_TEXT

__all__ = [
    "TIME_SOURCES",
    "Entry",
    "Row",
    "RowBuilder",
    "TimeSource",
    "parse_time_ms",
    "split_message",
]

TimeSource = Literal["arrival", "start", "end", "export", "kafka"]
TIME_SOURCES: dict[str, str | None] = {
    "arrival": "timestamp_arrival",
    "start": "timestamp_start",
    "end": "timestamp_end",
    "export": "timestamp_export",
    "kafka": None,
}

#: [key, ts_ms, flows, packets, bytes] (RowBuilder.row)
Row = list[Any]
#: (key, ts_ms, flows, packets, bytes): what the aggregator adds up
Entry = tuple[Key, int, int, int, int]



def split_message(value: bytes | str) -> Iterator[dict[str, Any] | BadRecord]:
    """The records of one message: a JSON object, a JSON array of objects or NDJSON lines.

    Yields each record, or a :class:`BadRecord` for a part that is not a JSON object, so one
    broken line does not take the good lines of its batch with it.
    """
    data = value.encode() if isinstance(value, str) else value
    text = data.strip()
    if not text:
        yield BadRecord("empty", "empty message", data)
        return
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
        if b"\n" not in text:
            yield BadRecord("bad_json", text[:200].decode("utf-8", "replace"), data)
            return
    if parsed is not None:
        items = parsed if isinstance(parsed, list) else [parsed]
        for item in items:
            if isinstance(item, dict):
                yield item
            else:
                yield BadRecord("not_object", repr(item)[:200], orjson.dumps(item))
        return
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield BadRecord("bad_json", line[:200].decode("utf-8", "replace"), line)
            continue
        if isinstance(item, dict):
            yield item
        else:
            yield BadRecord("not_object", repr(item)[:200], line)


#: How flows-enriched writes a time the flow does not carry (pmacct's zero time): the Kafka
#: message timestamp is used instead.
_NO_TIME = frozenset(
    [None, "", "0", 0, "0000-00-00 00:00:00", "0000-00-00 00:00:00.000000"]
)  # fmt: skip
_TIME_CACHE: dict[str, int] = {}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_MS_THRESHOLD = Decimal(10**11)


def parse_time_ms(value: Any) -> int:
    """Epoch ms (truncated, like pmacct truncates to the second) of a flows-enriched timestamp.

    Accepts pmacct's text ("2024-05-01 10:00:00" with optional ".ffffff", read as UTC when it
    has no offset; ISO 8601 with "T" and an offset too), epoch seconds as a number or text
    (``timestamps_since_epoch``), and epoch milliseconds (numbers above 1e11). Fractions are
    read as written (decimal), so 9.9996 s stays in second 9.
    """
    if isinstance(value, bool):
        raise BadRecord("bad_time", repr(value))
    if isinstance(value, int):
        return value if value > 1e11 else value * 1000
    if isinstance(value, float):
        try:
            return _epoch_ms(Decimal(repr(value)))
        except ValueError:
            raise BadRecord("bad_time", repr(value)) from None
    if not isinstance(value, str):
        raise BadRecord("bad_time", repr(value)[:100])
    cached = _TIME_CACHE.get(value)
    if cached is not None:
        return cached
    try:
        ms = _epoch_ms(Decimal(value))
    except (InvalidOperation, ValueError):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadRecord("bad_time", value[:100]) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = (parsed - _EPOCH) // _ONE_MS
    if len(_TIME_CACHE) > 100_000:
        _TIME_CACHE.clear()
    _TIME_CACHE[value] = ms
    return ms


def _epoch_ms(number: Decimal) -> int:
    if not number.is_finite():
        raise ValueError(number)
    return (
        int(number)
        if number > _MS_THRESHOLD
        else int((number * 1000).to_integral_value(ROUND_FLOOR))
    )


def _as_int(value: Any) -> int:
    if type(value) is int:  # the common case first (bool is not int here)
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(value)


def _norm_int(value: Any) -> Any:
    if type(value) is int and value >= 0:
        return value
    number = _as_int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _norm_str(value: Any) -> Any:
    if type(value) is str:
        return value
    raise ValueError(value)


def _norm_path(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return value
    raise ValueError(value)


def _norm_flags(value: Any) -> Any:
    return str(_as_int(value))


def _norm_proto(value: Any) -> Any:
    if isinstance(value, str) and not value.isdigit():
        return value
    number = _as_int(value)
    return PROTO_TEXT[number] if 0 <= number <= 255 else str(number)


def _norm_time(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    raise ValueError(value)


#: Kinds whose values of this exact type are already normal (int: when not negative).
_FAST_TYPES: dict[Kind, Any] = {"int": int, "str": str, "path": str, "time": str}

_NORMALISERS: dict[Kind, Callable[[Any], Any]] = {
    "int": _norm_int,
    "str": _norm_str,
    "path": _norm_path,
    "flags": _norm_flags,
    "proto": _norm_proto,
    "time": _norm_time,
}


def _counter(record: dict[str, Any], name: str, default: int | None = None) -> int:
    value = record.get(name)
    if type(value) is int and value >= 0:
        return value
    if value is None:
        if default is None:
            raise BadRecord("missing_counter", f"record has no {name!r}")
        return default
    try:
        number = _as_int(value)
    except ValueError:
        raise BadRecord("bad_counter", f"{name}={value!r}") from None
    if number < 0:
        raise BadRecord("bad_counter", f"{name}={value!r}")
    return number


class RowBuilder:
    """Turns flows-enriched records into aggregation rows for one aggregate list."""

    def __init__(
        self,
        primitives: tuple[Primitive, ...],
        bins: TimeBins,
        time_source: TimeSource = "arrival",
        renormalize: bool = True,
    ) -> None:
        self.primitives = primitives
        self.bins = bins
        self.time_key = TIME_SOURCES[time_source]
        self.renormalize = renormalize
        # (first source key, other source keys, default, normaliser, type whose values are
        # already normal: taken without a call, is sampling_rate)
        self._fields = [
            (p.source_keys[0], p.source_keys[1:], p.default, _NORMALISERS[p.kind],
             _FAST_TYPES.get(p.kind), p.name == "sampling_rate")
            for p in primitives
        ]  # fmt: skip
        self._fast = FastKey(primitives)

    def entry(self, record: dict[str, Any], kafka_ts_ms: int) -> Entry:
        """``(key, ts_ms, flows, packets, bytes)`` of one record, the key the JSON array of
        the primitives' values in pmacct's order (text); raises :class:`BadRecord`."""
        packets = record.get("packets")
        if type(packets) is not int or packets < 0:
            packets = _counter(record, "packets")
        bytes_ = record.get("bytes")
        if type(bytes_) is not int or bytes_ < 0:
            bytes_ = _counter(record, "bytes")
        flows = record.get("flows", 1)
        if type(flows) is not int or flows < 0:
            flows = _counter(record, "flows", 1)
        scaled = False
        rate = record.get("sampling_rate")
        if self.renormalize and rate is not None:
            try:
                rate_n = _as_int(rate)
            except ValueError:
                raise BadRecord("bad_sampling_rate", repr(rate)[:100]) from None
            if rate_n > 1:
                packets *= rate_n
                bytes_ *= rate_n
                scaled = True
        values = self._fast.key(record, scaled)
        key = orjson.dumps(self._values(record, scaled) if values is None else values).decode()
        ts_ms = kafka_ts_ms
        if self.time_key is not None:
            stamp = record.get(self.time_key)
            if stamp is not None and not (isinstance(stamp, str | int) and stamp in _NO_TIME):
                ts_ms = parse_time_ms(stamp)
        if ts_ms < 0:
            raise BadRecord("bad_time", f"{self.time_key}={ts_ms}")
        return key, ts_ms, flows, packets, bytes_

    def row(self, record: dict[str, Any], kafka_ts_ms: int) -> Row:
        """The row of one record; raises :class:`BadRecord` when it breaks the contract."""
        key, ts_ms, flows, packets, bytes_ = self.entry(record, kafka_ts_ms)
        return [key, ts_ms, flows, packets, bytes_]

    def _values(self, record: dict[str, Any], scaled: bool) -> list[Any]:
        """The key's values in pmacct's order: absent -> default, else normalised."""
        values: list[Any] = []
        append = values.append
        get = record.get
        for key, more_keys, default, normalise, fast_type, is_rate in self._fields:
            raw: Any = get(key)
            if raw is None and more_keys:
                for k in more_keys:
                    raw = get(k)
                    if raw is not None:
                        break
            if raw is None:
                append(default)
            elif is_rate and scaled:
                append(1)
            elif type(raw) is fast_type and (fast_type is str or raw >= 0):
                append(raw)  # already normal (what the normaliser would return)
            else:
                try:
                    append(normalise(raw))
                except ValueError:
                    raise BadRecord("bad_value", f"{key}={raw!r}"[:200]) from None
        return values

    def rows(
        self,
        value: bytes | str,
        kafka_ts_ms: int,
        on_bad: Callable[[BadRecord, bytes], None],
    ) -> list[Row]:
        """The rows of one message, summed by (key, window); bad parts go to ``on_bad``."""
        try:  # the common message first: one JSON object (what split_message would yield)
            single = orjson.loads(value)
        except orjson.JSONDecodeError:
            single = None
        if type(single) is dict:
            try:
                return [self.row(single, kafka_ts_ms)]
            except BadRecord as exc:
                on_bad(exc, orjson.dumps(single))
                return []
        merged: dict[tuple[str, int], Row] = {}
        for item in split_message(value):
            if isinstance(item, BadRecord):
                on_bad(item, item.raw if item.raw is not None else item.detail.encode())
                continue
            try:
                row = self.row(item, kafka_ts_ms)
            except BadRecord as exc:
                on_bad(exc, orjson.dumps(item))
                continue
            slot = (row[0], self.bins.window_start(row[1]))
            have = merged.get(slot)
            if have is None:
                merged[slot] = row
            else:
                have[1] = max(have[1], row[1])
                have[2] += row[2]
                have[3] += row[3]
                have[4] += row[4]
        return list(merged.values())
