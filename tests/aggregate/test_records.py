"""flows-enriched records -> rows: keys, defaults, sampling, time, batches and bad input."""

from __future__ import annotations

import json

import orjson
import pytest

from ribflow.aggregate import BadRecord, RowBuilder, TimeBins, parse_aggregate
from ribflow.aggregate.records import parse_time_ms, split_message

BINS = TimeBins.from_pmacct(60, None, 0)


def builder(spec: str, **kw: object) -> RowBuilder:
    return RowBuilder(parse_aggregate(spec), BINS, **kw)  # type: ignore[arg-type]


def test_key_values_follow_pmacct_order_and_defaults() -> None:
    rec = {"ip_dst": "10.0.0.2", "ip_src": "10.0.0.1", "ip_proto": "tcp", "packets": 3, "bytes": 9}
    row = builder("dst_host, src_host, proto, tag, tcpflags, as_path, peer_dst_ip").row(rec, 5000)
    key, ts, flows, packets, bytes_ = row
    # tag, as_path, peer_ip_dst, ip_src, ip_dst, tcp_flags, ip_proto (pmacct's order)
    assert json.loads(key) == [0, "", "", "10.0.0.1", "10.0.0.2", "0", "tcp"]
    assert (ts, flows, packets, bytes_) == (5000, 1, 3, 9)


def test_values_are_normalised_to_pmacct_types() -> None:
    rec = {"tcp_flags": 27, "ip_proto": 17, "as_src": "64512", "comms": ["65001:1", "65001:2"],
           "packets": "4", "bytes": 100.0}  # fmt: skip
    key, *_rest = builder("tcpflags, proto, src_as, std_comm").row(rec, 0)
    assert json.loads(key) == [64512, ["65001:1", "65001:2"], "27", "udp"]
    assert _rest == [0, 1, 4, 100]


def test_sampling_rate_scales_packets_and_bytes() -> None:
    rec = {"ip_src": "1.1.1.1", "packets": 2, "bytes": 120, "sampling_rate": 100}
    _, _, flows, packets, bytes_ = builder("src_host").row(rec, 0)
    assert (flows, packets, bytes_) == (1, 200, 12000)
    key, *_ = builder("src_host, sampling_rate").row(rec, 0)
    assert json.loads(key) == ["1.1.1.1", 1]  # reported as renormalised, like pmacct
    raw = builder("sampling_rate", renormalize=False).row(rec, 0)
    assert json.loads(raw[0]) == [100] and raw[3:] == [2, 120]
    assert builder("src_host").row({**rec, "sampling_rate": 1}, 0)[3:] == [2, 120]


def test_flows_counter_taken_from_the_record() -> None:
    assert builder("none").row({"packets": 5, "bytes": 5, "flows": 3}, 0)[2] == 3


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("2024-05-01 10:00:00", 1714557600000),
        ("2024-05-01 10:00:00.250000", 1714557600250),
        ("2024-05-01T12:00:00+02:00", 1714557600000),
        ("1714557600", 1714557600000),
        ("1714557600.5", 1714557600500),
        (1714557600, 1714557600000),
        (1714557600123, 1714557600123),
        (19.9996, 19999),
        ("2024-05-01 10:00:09.999999", 1714557609999),
    ],
)
def test_time_formats(value: object, ms: int) -> None:
    assert parse_time_ms(value) == ms


def test_time_source_and_kafka_fallback() -> None:
    rec = {"timestamp_start": "2024-05-01 10:00:00", "timestamp_arrival": "2024-05-01 10:00:07",
           "packets": 1, "bytes": 1}  # fmt: skip
    assert builder("none", time_source="start").row(rec, 1)[1] == 1714557600000
    assert builder("none", time_source="arrival").row(rec, 1)[1] == 1714557607000
    assert builder("none", time_source="kafka").row(rec, 1)[1] == 1
    assert builder("none", time_source="end").row(rec, 42)[1] == 42  # no timestamp_end


def test_split_message_object_array_ndjson() -> None:
    one = {"packets": 1, "bytes": 2}
    assert list(split_message(orjson.dumps(one))) == [one]
    assert list(split_message(orjson.dumps([one, one]))) == [one, one]
    mixed = list(
        split_message(b'{"packets":1,"bytes":2}\nnot json\n[1]\n\n{"packets":3,"bytes":4}')
    )
    assert mixed[0] == one and mixed[3] == {"packets": 3, "bytes": 4}
    assert isinstance(mixed[1], BadRecord) and mixed[1].reason == "bad_json"
    assert isinstance(mixed[2], BadRecord) and mixed[2].reason == "not_object"
    assert mixed[1].raw == b"not json"


def test_rows_pre_aggregate_a_batch_and_report_bad_parts() -> None:
    lines = [
        {"ip_src": "a", "packets": 1, "bytes": 10, "timestamp_arrival": 1000},
        {"ip_src": "a", "packets": 2, "bytes": 20, "timestamp_arrival": 1010},
        {"ip_src": "a", "packets": 4, "bytes": 40, "timestamp_arrival": 1080},  # next window
        {"ip_src": "b", "packets": 8, "bytes": 80, "timestamp_arrival": 1000},
        {"ip_src": "c", "bytes": 1},  # no packets
        {"ip_src": "c", "packets": -1, "bytes": 1},
        {"ip_src": 7, "packets": 1, "bytes": 1},  # an address must be text
    ]
    payload = b"\n".join(orjson.dumps(x) for x in lines) + b"\n{oops"
    bad: list[tuple[str, bytes]] = []
    rows = builder("src_host").rows(payload, 0, lambda e, raw: bad.append((e.reason, raw)))
    assert sorted(r[1:] for r in rows) == [
        [1_000_000, 1, 8, 80],
        [1_010_000, 2, 3, 30],  # the latest time of the merged rows
        [1_080_000, 1, 4, 40],
    ]
    assert [r for r, _ in bad] == ["missing_counter", "bad_counter", "bad_value", "bad_json"]
    assert bad[-1][1] == b"{oops"
    assert json.loads(bad[0][1]) == lines[4]


@pytest.mark.parametrize("value", ["yesterday", float("inf"), "nan", -5, [1]])
def test_bad_time_is_a_bad_record(value: object) -> None:
    with pytest.raises(BadRecord) as err:
        builder("none").row({"packets": 1, "bytes": 1, "timestamp_arrival": value}, 0)
    assert err.value.reason == "bad_time"
