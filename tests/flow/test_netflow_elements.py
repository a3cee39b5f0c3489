"""NetFlow v9 / IPFIX record contents, one test each, on packets built field by field from the RFCs.

Fields and their encodings (reduced size, zero and variable length, enterprise elements), the
flow times of each clock, biflows, and the sampling rate from options or the record itself.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from ribflow.flow.dispatch import Dispatcher
from tests.flow.netflow_support import (
    EXP,
    IPFIX_FIELDS,
    NOW_MS,
    V9_FIELDS,
    data_set,
    decode,
    ipfix_options_template_set,
    ipfix_packet,
    ipfix_rec,
    ipfix_template_set,
    v9_options_template_set,
    v9_packet,
    v9_rec,
    v9_template_set,
    varlen,
)


# -- NetFlow v9 fields and times ---------------------------------------------------------------
def test_v9_fields_and_uptime_times() -> None:
    d = Dispatcher()
    pkt = v9_packet(
        v9_template_set(256, V9_FIELDS),
        data_set(256, v9_rec() + v9_rec(pkts=7)),
        uptime=100_000,
        secs=NOW_MS // 1000,
    )
    recs = decode(d, pkt).records
    assert len(recs) == 2
    r = recs[0]
    assert (r["src_addr"], r["dst_addr"], r["src_port"], r["dst_port"], r["proto"]) == (
        "10.0.0.1",
        "10.0.0.2",
        1000,
        80,
        6,
    )
    assert (r["bytes"], r["packets"], r["version"], r["domain"]) == (500, 5, 9, 0)
    # first switched 90 s after boot, header uptime 100 s: 10 s before the export time
    assert r["start_ms"] == NOW_MS - 10_000 and r["end_ms"] == NOW_MS - 5_000
    assert r["time_export_ms"] == NOW_MS and r["time_received_ms"] == NOW_MS
    assert r["sampling_rate"] == 1 and r["flow_type"] is None
    assert recs[1]["packets"] == 7


def test_v9_uptime_wrap() -> None:
    d = Dispatcher()
    # the flow started 2 s before the 32-bit uptime wrapped; the header's uptime is 3 s
    pkt = v9_packet(
        v9_template_set(256, V9_FIELDS),
        data_set(256, v9_rec(first=2**32 - 2000, last=1000)),
        uptime=3000,
    )
    r = decode(d, pkt).records[0]
    assert r["start_ms"] == NOW_MS - 5000 and r["end_ms"] == NOW_MS - 2000


def test_v9_exporter_without_clock_uses_arrival_time() -> None:
    d = Dispatcher()
    pkt = v9_packet(v9_template_set(256, V9_FIELDS), data_set(256, v9_rec()), secs=502)
    r = decode(d, pkt).records[0]
    assert r["time_export_ms"] == 502_000
    assert r["start_ms"] == NOW_MS - 10_000


def test_zero_length_fields_are_skipped() -> None:
    d = Dispatcher()
    fields = [(8, 4), (99, 0), (12, 4), (2, 4), (1, 0)]
    r = decode(
        d,
        v9_packet(
            v9_template_set(300, fields),
            data_set(300, b"\x01\x02\x03\x04\x05\x06\x07\x08\0\0\0\x09"),
        ),
    ).records
    assert [(x["src_addr"], x["dst_addr"], x["packets"], x["bytes"]) for x in r] == [
        ("1.2.3.4", "5.6.7.8", 9, 0)
    ]


def test_reduced_size_encoding() -> None:
    d = Dispatcher()
    fields = [(8, 4), (12, 4), (1, 3), (2, 2), (10, 2), (16, 2)]
    body = b"\x01\x02\x03\x04\x05\x06\x07\x08" + b"\x01\x00\x00" + b"\x00\x05" + b"\x00\x07"
    body += b"\xfd\xe8"
    r = decode(d, v9_packet(v9_template_set(300, fields), data_set(300, body))).records[0]
    assert (r["bytes"], r["packets"], r["in_if"], r["src_as"]) == (65536, 5, 7, 65000)


# -- IPFIX times ------------------------------------------------------------------------------
def test_ipfix_absolute_times() -> None:
    d = Dispatcher()
    fields = [(8, 4), (12, 4), (150, 4), (151, 4)]
    body = b"\x01\x01\x01\x01\x02\x02\x02\x02" + struct.pack("!II", 1_700_000_000, 1_700_000_005)
    r = decode(d, ipfix_packet(ipfix_template_set(256, fields), data_set(256, body))).records[0]
    assert (r["start_ms"], r["end_ms"]) == (1_700_000_000_000, 1_700_000_005_000)
    r = decode(
        d, ipfix_packet(ipfix_template_set(257, IPFIX_FIELDS), data_set(257, ipfix_rec()))
    ).records[0]
    assert (r["start_ms"], r["end_ms"]) == (NOW_MS - 9000, NOW_MS - 1000)
    # dateTimeMicroseconds / Nanoseconds are NTP timestamps (RFC 7011 §6.1.9, 6.1.10)
    ntp = ((1_700_000_000 + 2_208_988_800) << 32) | (1 << 31)  # .5 s
    for ies_ in ((154, 155), (156, 157)):
        fields = [(8, 4), (12, 4), (ies_[0], 8), (ies_[1], 8)]
        pkt = ipfix_packet(
            ipfix_template_set(258, fields),
            data_set(258, b"\x01" * 8 + struct.pack("!QQ", ntp, ntp)),
        )
        r = decode(d, pkt).records[0]
        assert r["start_ms"] == 1_700_000_000_500 == r["end_ms"]
    # delta microseconds before the export time
    fields = [(8, 4), (12, 4), (158, 4), (159, 4)]
    pkt = ipfix_packet(
        ipfix_template_set(259, fields),
        data_set(259, b"\x01" * 8 + struct.pack("!II", 4_000_000, 1_000_000)),
    )
    r = decode(d, pkt).records[0]
    assert (r["start_ms"], r["end_ms"]) == (NOW_MS - 4000, NOW_MS - 1000)


def test_ipfix_uptime_times_with_boot_time_inline_and_from_options() -> None:
    d = Dispatcher()
    boot = NOW_MS - 3_600_000
    inline = [(8, 4), (12, 4), (160, 8), (22, 4), (21, 4)]
    body = b"\x01" * 8 + struct.pack("!QII", boot, 1000, 2000)
    r = decode(d, ipfix_packet(ipfix_template_set(256, inline), data_set(256, body))).records[0]
    assert (r["start_ms"], r["end_ms"]) == (boot + 1000, boot + 2000)
    # softflowd style: the boot time comes once in options data, records carry only 21/22
    fields = [(8, 4), (12, 4), (22, 4), (21, 4)]
    no_boot = decode(
        d,
        ipfix_packet(
            ipfix_template_set(257, fields), data_set(257, b"\x01" * 8 + struct.pack("!II", 5, 6))
        ),
    )
    assert no_boot.records[0]["start_ms"] is None
    opts = ipfix_options_template_set(300, [(144, 4)], [(160, 8)])
    decode(d, ipfix_packet(opts, data_set(300, struct.pack("!IQ", 1, boot))))
    r = decode(d, ipfix_packet(data_set(257, b"\x01" * 8 + struct.pack("!II", 5, 6)))).records[0]
    assert (r["start_ms"], r["end_ms"]) == (boot + 5, boot + 6)


# -- variable length, enterprise elements, biflows --------------------------------------------
def test_variable_length_fields() -> None:
    d = Dispatcher()
    fields = [(8, 4), (96, 0xFFFF), (12, 4), (94, 0xFFFF), (2, 4)]
    rec1 = b"\x01\x01\x01\x01" + varlen(b"http") + b"\x02\x02\x02\x02" + varlen(b"") + b"\0\0\0\x05"
    rec2 = b"\x03\x03\x03\x03" + varlen(b"x" * 300) + b"\x04\x04\x04\x04" + varlen(b"y" * 254)
    rec2 += b"\0\0\0\x06"
    pkt = ipfix_packet(ipfix_template_set(256, fields), data_set(256, rec1 + rec2))
    recs = decode(d, pkt).records
    assert [(r["src_addr"], r["dst_addr"], r["packets"]) for r in recs] == [
        ("1.1.1.1", "2.2.2.2", 5),
        ("3.3.3.3", "4.4.4.4", 6),
    ]
    assert d.errors == {}


def test_variable_length_record_cut_short_is_counted() -> None:
    d = Dispatcher()
    fields = [(8, 4), (96, 0xFFFF), (12, 4)]
    rec = b"\x01\x01\x01\x01" + varlen(b"abc") + b"\x02\x02\x02\x02"
    cut = b"\x01\x01\x01\x01" + b"\xff\x01\x00" + b"xx"  # claims 256 bytes
    result = decode(d, ipfix_packet(ipfix_template_set(256, fields), data_set(256, rec + cut)))
    assert len(result.records) == 1 and result.errors == ["truncated-record"]


def test_enterprise_elements_unknown_skipped() -> None:
    d = Dispatcher()
    fields: list[Any] = [(8, 4), (1, 2, 9), (12, 4), (100, 0xFFFF, 6871), (2, 4), (7, 2, 12345)]
    rec = b"\x01\x01\x01\x01" + b"\xff\xff" + b"\x02\x02\x02\x02" + varlen(b"yaf") + b"\0\0\0\x04"
    rec += b"\x00\x50"
    r = decode(d, ipfix_packet(ipfix_template_set(256, fields), data_set(256, rec))).records[0]
    # (pen 9, ie 1) is not octetDeltaCount and (12345, 7) not the source port: both skipped
    assert (r["src_addr"], r["dst_addr"], r["packets"], r["bytes"], r["src_port"]) == (
        "1.1.1.1",
        "2.2.2.2",
        4,
        0,
        None,
    )


def test_biflow_reverse_record() -> None:
    d = Dispatcher()
    rev = 29305
    fields: list[Any] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (10, 4),
        (14, 4),
        (2, 8),
        (1, 8),
        (2, 8, rev),
        (1, 8, rev),
        (6, 1),
        (6, 1, rev),
        (152, 8),
        (153, 8),
        (153, 8, rev),
    ]
    body = (
        b"\x01\x01\x01\x01\x02\x02\x02\x02"
        + struct.pack("!HHBII", 1234, 80, 6, 3, 4)
        + struct.pack("!QQQQ", 10, 1000, 8, 9000)
        + b"\x02\x12"
        + struct.pack("!QQQ", NOW_MS - 5000, NOW_MS - 100, NOW_MS - 200)
    )
    body_oneway = (
        b"\x01\x01\x01\x01\x02\x02\x02\x02"
        + struct.pack("!HHBII", 1, 2, 17, 3, 4)
        + struct.pack("!QQQQ", 1, 60, 0, 0)
        + b"\x00\x00"
        + struct.pack("!QQQ", NOW_MS, NOW_MS, NOW_MS)
    )
    recs = decode(
        d, ipfix_packet(ipfix_template_set(256, fields), data_set(256, body + body_oneway))
    ).records
    assert [r["flow_type"] for r in recs] == ["biflow-forward", "biflow-reverse", "biflow-forward"]
    fwd, back = recs[0], recs[1]
    assert (fwd["src_addr"], fwd["src_port"], fwd["packets"], fwd["bytes"], fwd["tcp_flags"]) == (
        "1.1.1.1",
        1234,
        10,
        1000,
        2,
    )
    assert (back["src_addr"], back["dst_addr"], back["src_port"], back["dst_port"]) == (
        "2.2.2.2",
        "1.1.1.1",
        80,
        1234,
    )
    assert (back["packets"], back["bytes"], back["tcp_flags"], back["in_if"], back["out_if"]) == (
        8,
        9000,
        0x12,
        4,
        3,
    )
    assert (back["start_ms"], back["end_ms"]) == (NOW_MS - 5000, NOW_MS - 200)
    assert back["proto"] == 6


# -- sampling -----------------------------------------------------------------------------------
def test_v9_sampling_per_sampler_id_from_options() -> None:
    d = Dispatcher()
    opts = v9_options_template_set(260, [(1, 4)], [(48, 1), (50, 4)])
    optdata = data_set(260, struct.pack("!IBI", 0, 1, 100) + struct.pack("!IBI", 0, 2, 1000))
    fields = [*V9_FIELDS, (48, 1)]
    pkt = v9_packet(
        opts,
        optdata,
        v9_template_set(261, fields),
        data_set(261, v9_rec() + b"\x01" + v9_rec() + b"\x02" + v9_rec() + b"\x03"),
    )
    assert [r["sampling_rate"] for r in decode(d, pkt).records] == [100, 1000, 1]
    # a rate announced without a sampler id is the default of the exporter's domain
    opts2 = v9_options_template_set(262, [(1, 4)], [(34, 4), (35, 1)])
    decode(d, v9_packet(opts2, data_set(262, struct.pack("!IIB", 0, 64, 2))))
    pkt = v9_packet(
        data_set(261, v9_rec() + b"\x03"), v9_template_set(263, V9_FIELDS), data_set(263, v9_rec())
    )
    assert [r["sampling_rate"] for r in decode(d, pkt).records] == [64, 64]
    # other domains and exporters are not affected
    assert decode(d, v9_packet(data_set(263, v9_rec())), exporter="192.0.2.9").records == []
    other = decode(
        d, v9_packet(v9_template_set(263, V9_FIELDS), data_set(263, v9_rec()), source_id=5)
    ).records
    assert other[0]["sampling_rate"] == 1


def test_v9_scope_fields_are_not_information_elements() -> None:
    d = Dispatcher()
    # scope type 1 is "system" (not octetDeltaCount); its value 34 must not be read as a rate
    opts = v9_options_template_set(260, [(34, 4)], [(40, 4)])
    decode(d, v9_packet(opts, data_set(260, struct.pack("!II", 77, 5))))
    r = decode(d, v9_packet(v9_template_set(256, V9_FIELDS), data_set(256, v9_rec()))).records
    assert r[0]["sampling_rate"] == 1


def test_ipfix_sampling_from_selector_options() -> None:
    d = Dispatcher()
    opts = ipfix_options_template_set(300, [(302, 4)], [(305, 4), (306, 4)])
    decode(d, ipfix_packet(opts, data_set(300, struct.pack("!III", 7, 1, 99))))
    opts = ipfix_options_template_set(301, [(302, 4)], [(309, 4), (310, 4)])
    decode(d, ipfix_packet(opts, data_set(301, struct.pack("!III", 8, 1, 4000))))
    fields = [*IPFIX_FIELDS, (302, 4)]
    body = ipfix_rec() + struct.pack("!I", 7) + ipfix_rec() + struct.pack("!I", 8)
    recs = decode(d, ipfix_packet(ipfix_template_set(256, fields), data_set(256, body))).records
    assert [r["sampling_rate"] for r in recs] == [100, 4000]
    assert d.snapshot()[f"smp|{EXP}|10|0|7"] == b"100"


@pytest.mark.parametrize(
    ("fields", "values", "rate"),
    [
        ([(34, 4)], struct.pack("!I", 512), 512),  # samplingInterval (Huawei)
        ([(34, 4), (35, 1)], struct.pack("!IB", 0, 2), 1),  # 0 means unsampled
        ([(305, 4), (306, 4)], struct.pack("!II", 1, 1999), 2000),
        ([(309, 4), (310, 4)], struct.pack("!II", 2, 2000), 1000),
        ([(50, 4)], struct.pack("!I", 10), 10),
    ],
)
def test_sampling_inside_the_data_record(fields: list[Any], values: bytes, rate: int) -> None:
    d = Dispatcher()
    pkt = ipfix_packet(
        ipfix_template_set(256, IPFIX_FIELDS + fields), data_set(256, ipfix_rec() + values)
    )
    assert decode(d, pkt).records[0]["sampling_rate"] == rate
