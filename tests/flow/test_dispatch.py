"""The Dispatcher: protocol detection, the lazy sFlow decoder, and bugs turned into counts."""

from __future__ import annotations

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
    before = (
        REGISTRY.get_sample_value("ribflow_flow_decode_errors_total", {"reason": "unknown-version"})
        or 0
    )
    with pytest.raises(FlowDecodeError) as exc:
        Dispatcher(sflow=FakeSflow()).decode(first + b"\0" * 40, "e", NOW_MS)
    assert exc.value.reason == "unknown-version"
    assert (
        REGISTRY.get_sample_value("ribflow_flow_decode_errors_total", {"reason": "unknown-version"})
        == before + 1
    )


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
