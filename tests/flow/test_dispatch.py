"""The Dispatcher: protocol detection, the lazy sFlow decoder, and bugs turned into counts."""

from __future__ import annotations

import contextlib
import logging
import struct

import pytest
from prometheus_client import REGISTRY

from ribflow.errors import Bug
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.types import DecodeResult
from tests.flow.netflow_support import (
    NOW_MS,
    data_set,
    ipfix_packet,
    ipfix_template_set,
    v5_packet,
    v9_packet,
    v9_template_set,
)

FIELDS = [(8, 4), (12, 4), (2, 4), (1, 4)]
REC = b"\x0a\0\0\x01\x0a\0\0\x02\0\0\0\x01\0\0\0\x40"
SFLOW = struct.pack("!IIIIIII", 5, 1, 0xC0000201, 0, 1, 1000, 0)  # v5 header, no samples


class FakeSflow:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def decode(self, data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        self.seen.append(data)
        return DecodeResult()


def test_detects_each_protocol() -> None:
    fake = FakeSflow()
    d = Dispatcher(sflow=fake)
    assert d.decode(v5_packet([{}]), "e", NOW_MS).records[0]["version"] == 5
    pkt9 = v9_packet(v9_template_set(300, FIELDS), data_set(300, REC))
    assert d.decode(pkt9, "e", NOW_MS).records[0]["version"] == 9
    pkt10 = ipfix_packet(ipfix_template_set(300, FIELDS), data_set(300, REC))
    assert d.decode(pkt10, "e", NOW_MS).records[0]["version"] == 10
    d.decode(SFLOW, "e", NOW_MS)
    assert fake.seen == [SFLOW]


@pytest.mark.parametrize(
    "first", [b"\x00\x01", b"\x00\x07", b"\x00\x0b", b"\xff\xff", b"\x00\x00\x00\x04"]
)
def test_unknown_version(first: bytes) -> None:
    d = Dispatcher(sflow=FakeSflow())
    with pytest.raises(FlowDecodeError) as exc:
        d.decode(first + b"\0" * 40, "e", NOW_MS)
    assert exc.value.reason == "unknown-version"
    assert exc.value.protocol == "unknown"
    assert d.errors == {"unknown-version": 1}


def test_protocol_detected_once_and_given_back() -> None:
    d = Dispatcher()
    pkt9 = v9_packet(v9_template_set(300, FIELDS), data_set(300, REC))
    pkt10 = ipfix_packet(ipfix_template_set(300, FIELDS), data_set(300, REC))
    got = [d.decode(p, "192.0.2.9", NOW_MS) for p in (v5_packet([{}]), pkt9, pkt10, SFLOW)]
    assert [r.protocol for r in got] == ["netflow5", "netflow9", "ipfix", "sflow"]
    assert [r.exporter for r in got[:3]] == ["192.0.2.9"] * 3
    with pytest.raises(FlowDecodeError) as exc:
        d.decode(pkt9[:10], "192.0.2.9", NOW_MS)
    assert exc.value.protocol == "netflow9"


def test_decoding_neither_logs_nor_touches_metrics(caplog: pytest.LogCaptureFixture) -> None:
    """The decoders are pure: problems come back as reasons; the collector logs and counts."""
    before = {
        (m.name, tuple(sorted(s.labels.items()))): s.value
        for m in REGISTRY.collect() for s in m.samples
    }  # fmt: skip
    d = Dispatcher()
    with caplog.at_level(logging.DEBUG):
        for pkt in (b"\x00\x07" + bytes(40), v5_packet([{}])[:30], SFLOW, SFLOW[:10]):
            with contextlib.suppress(FlowDecodeError):
                d.decode(pkt, "192.0.2.9", NOW_MS)
    after = {
        (m.name, tuple(sorted(s.labels.items()))): s.value
        for m in REGISTRY.collect() for s in m.samples
    }  # fmt: skip
    assert caplog.records == []
    changed = {k: v for k, v in after.items() if before.get(k) != v and "_created" not in k[0]}
    # the process and garbage-collector metrics (memory, CPU, collections) move by themselves
    moved = {k: v for k, v in changed.items() if not k[0].startswith(("process_", "python_gc_"))}
    assert moved == {}
    assert sum(d.errors.values()) >= 3


def test_real_sflow_decoder_is_used() -> None:
    from ribflow.flow.sflow import SflowDecoder

    d = Dispatcher()
    assert isinstance(d.sflow(), SflowDecoder)


def test_a_decoder_bug_is_counted_not_raised_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Dispatcher()

    def boom(data: bytes, exporter: str, received_ms: int) -> DecodeResult:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(d.v5, "decode", boom)
    with pytest.raises(Bug) as exc:
        d.decode(v5_packet([{}]), "e", NOW_MS)
    assert exc.value.reason == "internal-error"
    assert isinstance(exc.value.__cause__, ZeroDivisionError)
    assert d.errors["internal-error"] == 1
