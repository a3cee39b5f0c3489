"""NetFlow v5: fields, header sampling, clock handling, lying counts."""

from __future__ import annotations

import pytest

from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.netflow5 import NetflowV5Decoder
from tests.flow.netflow_support import NOW_MS, record_errors, v5_packet

EXP = "198.51.100.7"


def test_fields() -> None:
    pkt = v5_packet(
        [
            {
                "src": b"\xc0\x00\x02\x01",
                "dst": b"\xc6\x33\x64\x02",
                "sport": 5353,
                "dport": 53,
                "proto": 17,
                "packets": 3,
                "bytes": 180,
                "in": 7,
                "out": 9,
                "src_as": 64500,
                "dst_as": 65001,
                "src_mask": 24,
                "dst_mask": 16,
                "tos": 0x28,
                "flags": 0,
            }
        ],
        uptime=100_000,
        nsecs=250_000_000,
    )
    recs = NetflowV5Decoder().decode(pkt, EXP, NOW_MS + 5).records
    assert len(recs) == 1
    r = recs[0]
    assert record_errors(r) == []
    assert r == {
        "exporter": EXP,
        "version": 5,
        "domain": None,
        "time_received_ms": NOW_MS + 5,
        "time_export_ms": NOW_MS + 250,
        "start_ms": NOW_MS + 250 - 10_000,
        "end_ms": NOW_MS + 250 - 5000,
        "src_addr": "192.0.2.1",
        "dst_addr": "198.51.100.2",
        "src_port": 5353,
        "dst_port": 53,
        "proto": 17,
        "tos": 0x28,
        "tcp_flags": 0,
        "in_if": 7,
        "out_if": 9,
        "vlan": None,
        "next_hop": "0.0.0.0",
        "bgp_next_hop": None,
        "src_as": 64500,
        "dst_as": 65001,
        "src_mask": 24,
        "dst_mask": 16,
        "packets": 3,
        "bytes": 180,
        "sampling_rate": 1,
        "direction": None,
        "flow_type": None,
    }


@pytest.mark.parametrize(
    ("field", "rate"), [(0, 1), (0x4000 | 100, 100), (0x8000 | 1000, 1000), (512, 512)]
)
def test_header_sampling(field: int, rate: int) -> None:
    pkt = v5_packet([{}, {}], sampling=field)
    assert [r["sampling_rate"] for r in NetflowV5Decoder().decode(pkt, EXP, NOW_MS).records] == [
        rate,
        rate,
    ]


def test_lying_count_decodes_what_is_there() -> None:
    pkt = v5_packet([{}, {}, {}], count=200)
    result = NetflowV5Decoder().decode(pkt, EXP, NOW_MS)
    assert len(result.records) == 3 and result.errors == ["bad-count"]
    # a count below the records present: only the counted ones
    assert len(NetflowV5Decoder().decode(v5_packet([{}, {}], count=1), EXP, NOW_MS).records) == 1


def test_uptime_wrap_and_missing_clock() -> None:
    pkt = v5_packet([{"first": 2**32 - 1, "last": 1000}], uptime=3381)
    r = NetflowV5Decoder().decode(pkt, EXP, NOW_MS).records[0]
    assert (r["start_ms"], r["end_ms"]) == (NOW_MS - 3382, NOW_MS - 2381)
    r = NetflowV5Decoder().decode(v5_packet([{}], secs=0), EXP, NOW_MS).records[0]
    assert r["start_ms"] == NOW_MS - 10_000  # anchored at arrival, not 1970


def test_truncated_header() -> None:
    with pytest.raises(FlowDecodeError) as exc:
        Dispatcher().decode(v5_packet([])[:20], EXP, NOW_MS)
    assert exc.value.reason == "truncated"
