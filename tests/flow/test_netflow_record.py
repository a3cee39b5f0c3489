"""The record conventions every NetFlow/IPFIX path shares (key set, clock arithmetic, JSON)."""

from __future__ import annotations

import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ribflow.errors import Bug
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.record import RECORD_KEYS, kafka_time, uptime_to_epoch
from ribflow.flow.types import DecodeResult, json_fragment
from ribflow.schemas import validator
from tests.flow.netflow_support import (
    NOW_MS,
    data_set,
    ipfix_packet,
    ipfix_template_set,
    v5_packet,
    v9_packet,
    v9_template_set,
)

u32 = st.integers(0, 2**32 - 1)


@settings(max_examples=300, deadline=None)
@given(uptime=u32, first=u32, last=u32)
def test_inlined_uptime_arithmetic_matches_the_reference(uptime: int, first: int,
                                                         last: int) -> None:
    d = Dispatcher()
    v5 = d.decode(v5_packet([{"first": first, "last": last}], uptime=uptime), "e", NOW_MS)
    fields = [(8, 4), (12, 4), (22, 4), (21, 4)]
    v9 = d.decode(v9_packet(v9_template_set(256, fields),
                            data_set(256, b"\x01" * 8 + struct.pack("!II", first, last)),
                            uptime=uptime), "e", NOW_MS)
    for rec in (v5.records[0], v9.records[0]):
        assert rec["start_ms"] == uptime_to_epoch(NOW_MS, uptime, first)
        assert rec["end_ms"] == uptime_to_epoch(NOW_MS, uptime, last)
        assert rec["start_ms"] >= 0


def test_uptime_reference_cases() -> None:
    assert uptime_to_epoch(10**12, 100_000, 90_000) == 10**12 - 10_000
    assert uptime_to_epoch(10**12, 3381, 2**32 - 1) == 10**12 - 3382  # before the wrap
    assert uptime_to_epoch(10**12, 1000, 1500) == 10**12 + 500  # exporter clock skew
    assert uptime_to_epoch(10**12, 2_786_708_008, 180_466) == 10**12 - 2_786_527_542


def test_every_record_has_every_key_in_schema_order() -> None:
    d = Dispatcher()
    rev = 29305
    ipfix_fields = [(8, 4), (12, 4), (2, 4), (2, 4, rev)]
    records = [
        *d.decode(v5_packet([{}]), "e", NOW_MS).records,
        *d.decode(v9_packet(v9_template_set(256, [(8, 4)]), data_set(256, b"\x01" * 4)), "e",
                  NOW_MS).records,
        *d.decode(ipfix_packet(ipfix_template_set(256, ipfix_fields),
                               data_set(256, b"\x01" * 8 + struct.pack("!II", 1, 2))), "e",
                  NOW_MS).records,
    ]
    assert len(records) == 4
    schema_keys = list(validator("flows.v1").schema["$defs"]["record"]["properties"])
    # the base keys in order, then the optional ones of richer templates (codegen_extra)
    assert list(RECORD_KEYS) == schema_keys[: len(RECORD_KEYS)]
    for rec in records:
        assert tuple(rec) == RECORD_KEYS


def test_kafka_time_is_the_export_time_bounded_by_the_arrival() -> None:
    recv = NOW_MS
    assert kafka_time(recv - 4000, recv, 300_000) == recv - 4000  # normal: the export time
    assert kafka_time(recv + 4000, recv, 300_000) == recv + 4000
    assert kafka_time(recv - 2 * 86_400_000, recv, 300_000) == recv  # clock 2 days behind
    assert kafka_time(recv + 3_600_000, recv, 300_000) == recv  # ahead: the broker would refuse
    assert kafka_time(None, recv, 300_000) == recv  # sFlow: no export clock
    assert kafka_time(recv - 1, recv, 0) == recv  # 0: always the arrival


def test_dict_records_become_one_json_fragment_or_a_bug() -> None:
    """``json_fragment``: the records as ``orjson`` writes them, without brackets, so that
    fragments join with ``,`` into one array; a value JSON cannot hold is our Bug."""
    recs = [{"src_addr": "192.0.2.1", "bytes": 2**64 - 1}, {"src_addr": "::1", "vlan": None}]
    one, two = json_fragment(recs[:1]), json_fragment(recs[1:])
    assert orjson.loads(b"[" + one + b"," + two + b"]") == recs
    assert json_fragment(recs) == one + b"," + two
    assert json_fragment([]) == b""
    with pytest.raises(Bug, match="record not encodable as JSON"):
        json_fragment([{"start_ms": 2**64}])
    result = DecodeResult()
    result.add_encoded(json_fragment(recs), len(recs), None, native=False)
    assert result.record_count == 2 and result.native_records == 0
