"""The fast key (keys.FastKey) equals the reference, value-by-value normalisation
(RowBuilder._values), on every kind of value, normal or not."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ribflow.aggregate import REGISTRY, RowBuilder, TimeBins, parse_aggregate
from ribflow.aggregate.keys import FastKey
from ribflow.aggregate.settings import SEED_AGGREGATE

BINS = TimeBins.from_pmacct(60, None, 0)
EVERY = ", ".join(p.name for p in REGISTRY)

#: values a record can carry, normal and not, by the primitive's kind
VALUES: dict[str, list[Any]] = {
    "int": [0, 7, 65535, -1, "12", "007", 3.0, True, None, "x"],
    "str": ["", "10.0.0.1", 5, None],
    "path": ["", "3356_174", ["65001:1", "65001:2"], [1, 2], None],
    "flags": ["0", "27", "02", 27, "-1", "", "²", None, "x"],
    "proto": ["tcp", "udp", "", "6", 17, "255", None],
    "time": ["2024-05-01 10:00:00", "", 1714557600, 1714557600.5, None],
}


def reference(builder: RowBuilder, record: dict[str, Any], scaled: bool) -> Any:
    try:
        return builder._values(record, scaled)
    except Exception as exc:  # the fast path must then hand over (None), never guess
        return type(exc)


@pytest.mark.parametrize("spec", [SEED_AGGREGATE, EVERY, "src_host, proto, tcpflags"])
def test_fast_key_equals_the_reference_or_hands_over(spec: str) -> None:
    prims = parse_aggregate(spec)
    builder = RowBuilder(prims, BINS)
    fast = FastKey(prims)
    rng = random.Random(spec)
    taken = 0
    for i in range(3000):
        record: dict[str, Any] = {}
        for p in prims:
            choices = VALUES[p.kind]
            # half of the records hold only normal values (the first of each list's normal ones)
            value = rng.choice(choices[:2] if i % 2 else choices)
            if value is not None or rng.random() < 0.5:
                record[p.source_keys[0]] = value
        for scaled in (False, True):
            got = fast.key(record, scaled)
            want = reference(builder, record, scaled)
            if got is not None:
                taken += 1
                assert list(got) == want, record
                assert [type(v) for v in got] == [type(v) for v in want], record
    assert taken > 1000  # the fast path is the common one


def test_entry_and_row_share_the_key() -> None:
    prims = parse_aggregate("src_host, as_path, std_comm")
    builder = RowBuilder(prims, BINS)
    rec = {"ip_src": "10.0.0.1", "as_path": [3356, 174], "comms": "65001:1", "packets": 2,
           "bytes": 100, "timestamp_arrival": "2024-05-01 10:00:00"}  # fmt: skip
    key, ts, flows, packets, bytes_ = builder.entry(rec, 0)
    assert key == '["65001:1",[3356,174],"10.0.0.1"]'  # the JSON array, in pmacct's order
    assert builder.row(rec, 0) == [key, ts, flows, packets, bytes_]
