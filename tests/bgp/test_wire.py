"""AS-path segment types read from raw UPDATE bodies (hex), built here byte by byte."""

from __future__ import annotations

import struct

from ribflow.bgp.wire import aspath_segment_types


def body(attrs: bytes, withdrawn: bytes = b"", nlri: bytes = b"\x18\xc6\x33\x64") -> str:
    raw = (
        struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri
    )
    return "0x" + raw.hex().upper()


def attr(flags: int, code: int, value: bytes) -> bytes:
    if flags & 0x10:
        return struct.pack("!BBH", flags, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def seg(kind: int, asns: list[int], width: int = 4) -> bytes:
    return struct.pack("!BB", kind, len(asns)) + b"".join(a.to_bytes(width, "big") for a in asns)


ORIGIN = attr(0x40, 1, b"\x00")


def test_all_four_segment_types_with_4_byte_asns() -> None:
    path = seg(3, [65500, 65501]) + seg(2, [65010, 4200000002]) + seg(4, [65502]) + seg(1, [1, 2])
    got = aspath_segment_types(body(ORIGIN + attr(0x40, 2, path)))
    assert got == ["confed-sequence", "as-sequence", "confed-set", "as-set"]


def test_2_byte_asns_and_extended_length_and_withdrawn_routes() -> None:
    path = seg(3, [1, 2], 2) + seg(2, list(range(200)), 2)
    raw = body(ORIGIN + attr(0x50, 2, path), withdrawn=b"\x08\x0a")
    assert aspath_segment_types(raw, asn4=False) == ["confed-sequence", "as-sequence"]
    # wrong guess of the width: the other width is tried
    assert aspath_segment_types(raw, asn4=True) == ["confed-sequence", "as-sequence"]


def test_no_as_path_empty_path_and_garbage() -> None:
    assert aspath_segment_types(body(ORIGIN)) is None
    assert aspath_segment_types(body(ORIGIN + attr(0x40, 2, b""))) == []
    assert aspath_segment_types(body(attr(0x40, 2, b"\x09\x01\x00\x00\x00\x01"))) is None  # type 9
    assert aspath_segment_types(body(attr(0x40, 2, b"\x02\x05\x00\x01"))) is None  # short
    assert aspath_segment_types("0x00") is None
    assert aspath_segment_types("0xZZZZ") is None
    assert aspath_segment_types("0x0000FFFF40") is None  # attribute length beyond the body
