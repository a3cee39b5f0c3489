"""Broken NetFlow/IPFIX input: rejected by reason, counted, logged rate-limited, never a crash.

Also a bounded hypothesis fuzz of the real captures (bit flips, truncation, lying length and
count fields, spliced bytes); benchmarks/fuzz_decoders.py runs the same idea over a million
packets.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from tests.flow.netflow_support import (
    DATA,
    LAB,
    LOGSTASH,
    NOW_MS,
    data_set,
    ipfix_packet,
    ipfix_template_set,
    record_errors,
    v9_options_template_set,
    v9_packet,
    v9_template_set,
)

EXP = "203.0.113.5"
FIELDS = [(8, 4), (12, 4), (2, 4), (1, 4)]
REC = b"\x0a\0\0\x01\x0a\0\0\x02\0\0\0\x01\0\0\0\x40"


_FULL = ipfix_packet(ipfix_template_set(300, FIELDS), data_set(300, REC))
LYING_LENGTH = _FULL[:2] + struct.pack("!H", len(_FULL) + 3) + _FULL[4:]


def reasons_of(d: Dispatcher, pkt: bytes, exporter: str = EXP) -> list[str]:
    try:
        result = d.decode(pkt, exporter, NOW_MS)
    except FlowDecodeError as exc:
        return ["raised:" + exc.reason]
    for rec in result.records:
        assert record_errors(rec) == [], rec
    return result.errors


@pytest.mark.parametrize(
    ("packet", "reasons"),
    [
        (b"\x00\x07" + b"\0" * 30, ["raised:unknown-version"]),
        (b"\x12\x34\x56", ["raised:truncated"]),
        (b"", ["raised:truncated"]),
        (v9_packet(struct.pack("!HH", 0, 400) + b"\1" * 20), ["bad-set-length"]),
        (v9_packet(struct.pack("!HH", 0, 2) + b"\1" * 20), ["bad-set-length"]),
        (v9_packet(struct.pack("!HH", 0, 0) + b"\0" * 40), []),  # zero padding (Palo Alto)
        (v9_packet(data_set(77, REC)), ["reserved-set-id"]),
        (
            v9_packet(
                v9_template_set(100, FIELDS), v9_template_set(300, FIELDS), data_set(300, REC)
            ),
            ["template-id-reserved"],
        ),
        (v9_packet(struct.pack("!HHHH", 0, 8, 300, 65535)), ["bad-template"]),
        (v9_packet(v9_template_set(300, [(8, 0), (12, 0)])), ["bad-template"]),
        (v9_packet(struct.pack("!HHHHH", 1, 12, 300, 3, 4) + b"\0\0"), ["bad-template"]),
        (v9_packet(struct.pack("!HHHH", 0, 8, 300, 0)), ["bad-template"]),
        (LYING_LENGTH, ["truncated"]),
        (ipfix_packet(struct.pack("!HHHHHH", 2, 12, 300, 2, 0x8008, 4)), ["bad-template"]),
    ],
    ids=[
        "unknown-version",
        "3-bytes",
        "empty",
        "set-longer-than-packet",
        "set-length-2",
        "zero-padding",
        "reserved-set",
        "template-id-99",
        "absurd-field-count",
        "all-fields-zero-length",
        "v9-options-scope-not-x4",
        "v9-template-count-0",
        "ipfix-length-lies",
        "ipfix-enterprise-cut",
    ],
)
def test_rejections(packet: bytes, reasons: list[str]) -> None:
    d = Dispatcher()
    plain = [r.removeprefix("raised:") for r in reasons]
    assert reasons_of(d, packet) == reasons
    assert d.errors == Counter(plain)  # tallied by the Dispatcher, logged by the collector
    if packet is LYING_LENGTH:
        assert len(d.decode(packet, EXP, NOW_MS).records) == 1  # what did arrive is decoded


def test_good_parts_of_a_bad_packet_survive() -> None:
    d = Dispatcher()
    pkt = v9_packet(
        v9_template_set(100, FIELDS),
        v9_template_set(300, FIELDS),
        data_set(300, REC),
        data_set(9, REC),
        struct.pack("!HH", 301, 999),
    )
    result = d.decode(pkt, EXP, NOW_MS)
    assert len(result.records) == 1
    assert result.errors == ["template-id-reserved", "reserved-set-id", "bad-set-length"]


def test_missing_templates_are_counted(tmp_path: Path) -> None:
    d = Dispatcher()
    n = 0
    for dg in iter_datagrams(DATA / "ndpi" / "netflowv9.pcap"):
        n += len(d.decode(dg.payload, dg.src, dg.ts_ms).records)
    d.flush()
    assert n == 0
    assert d.errors["missing-template"] == 23  # the data sets in the capture, none decodable


def test_problems_are_logged_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    from tests.flow.test_collector import FakeProducer, make

    d = Dispatcher()
    collector = make(FakeProducer(), d)
    with caplog.at_level(logging.WARNING, logger="ribflow.flow.collector"):
        for _ in range(100):
            collector.process(b"\x00\x63" + b"\0" * 30, EXP, NOW_MS)
    lines = [r for r in caplog.records if "unknown-version" in r.getMessage()]
    assert 1 <= len(lines) <= 5
    assert d.errors["unknown-version"] == 100


def test_one_exporters_garbage_never_touches_another() -> None:
    d = Dispatcher()
    good = v9_packet(v9_template_set(300, FIELDS), data_set(300, REC))
    before = d.decode(good, "192.0.2.1", NOW_MS).records
    for garbage in (
        v9_packet(v9_template_set(300, [(12, 4), (8, 4)])),  # same id, other layout
        v9_packet(struct.pack("!HHHH", 0, 8, 300, 65535)),
        v9_packet(v9_options_template_set(300, [(1, 4)], [(34, 4)]), data_set(300, b"\0" * 8)),
        ipfix_packet(struct.pack("!HH", 2, 9000)),
    ):
        with contextlib.suppress(FlowDecodeError):
            d.decode(garbage, "192.0.2.66", NOW_MS)
    after = d.decode(v9_packet(data_set(300, REC)), "192.0.2.1", NOW_MS).records
    assert after == before


# -- fuzz -------------------------------------------------------------------------------------
def _corpus() -> list[tuple[int, bytes]]:
    files = [
        LAB / "flows-v5.pcap",
        LAB / "flows-v9.pcap",
        LAB / "flows-ipfix.pcap",
        *sorted(LOGSTASH.glob("*.pcap")),
    ]
    out: list[tuple[int, bytes]] = []
    for i, path in enumerate(files):
        out += [(i, dg.payload) for dg in iter_datagrams(path)]
    return out


CORPUS = _corpus()


def _warm() -> Dispatcher:
    """A dispatcher that has seen every capture (each as its own exporter): templates known."""
    d = Dispatcher()
    for i, payload in CORPUS:
        with contextlib.suppress(FlowDecodeError):
            d.decode(payload, f"fuzz-{i}", NOW_MS)
    return d


WARM = _warm()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(
        st.just("u16"),
        st.integers(0, 1 << 16),
        st.sampled_from([0, 1, 2, 3, 4, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]),
    ),
    st.tuples(st.just("byte"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("dup"), st.integers(0, 1 << 16), st.integers(1, 64)),
)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, arg in ops:
        if not buf:
            break
        pos %= len(buf)
        if op == "flip":
            buf[pos] ^= 1 << arg
        elif op == "cut":
            del buf[pos:]
        elif op == "u16" and pos + 2 <= len(buf):
            buf[pos : pos + 2] = struct.pack("!H", arg)
        elif op == "byte":
            buf[pos] = arg
        elif op == "dup":
            buf[pos:pos] = buf[pos : pos + arg]
    return bytes(buf)


@settings(
    max_examples=2000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.integers(0, len(CORPUS) - 1), st.lists(mutation, min_size=1, max_size=4))
def test_fuzz_real_packets(index: int, ops: list[tuple[str, int, int]]) -> None:
    source, payload = CORPUS[index]
    packet = mutate(payload, ops)
    internal = WARM.errors.get("internal-error", 0)
    try:
        result = WARM.decode(packet, f"fuzz-{source}", NOW_MS)
    except FlowDecodeError as exc:
        assert exc.reason != "internal-error"
        return
    assert WARM.errors.get("internal-error", 0) == internal
    for rec in result.records:
        assert record_errors(rec) == [], rec
