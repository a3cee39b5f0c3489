"""Shared bits of the NetFlow/IPFIX tests: capture paths, decoding, packet and record builders.

The builders write packets field by field from the RFCs (RFC 3954 for v9, RFC 7011 for IPFIX),
so unit tests state their inputs explicitly instead of relying on our decoder's view of them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.types import DecodeResult
from ribflow.schemas import validator

DATA = Path(__file__).resolve().parents[1] / "data" / "flows"
LOGSTASH = DATA / "logstash"
LAB = DATA / "lab"
NOW_MS = 1_790_000_000_000  # a realistic arrival time for unit tests

_RECORD_VALIDATOR: Any = None


def record_errors(rec: dict[str, Any]) -> list[str]:
    """Schema violations of one record against flows.v1 $defs/record."""
    global _RECORD_VALIDATOR
    if _RECORD_VALIDATOR is None:
        full = validator("flows.v1")
        _RECORD_VALIDATOR = full.evolve(
            schema={"$ref": "#/$defs/record", "$defs": full.schema["$defs"]}
        )
    return [e.message for e in _RECORD_VALIDATOR.iter_errors(rec)]


def decode_capture(
    path: Path, dispatcher: Dispatcher | None = None, versions: tuple[int, ...] = (5, 9, 10)
) -> tuple[list[dict[str, Any]], Dispatcher]:
    """Every record of a capture, as `ribflow decode` would print them (file order)."""
    d = dispatcher or Dispatcher()
    out: list[dict[str, Any]] = []
    for dg in iter_datagrams(path):
        try:
            result = d.decode(dg.payload, dg.src, dg.ts_ms)
        except FlowDecodeError:
            continue
        out += [r for r in result.records if r["version"] in versions]
    d.flush()
    return out, d


# -- NetFlow v9 -----------------------------------------------------------------------------
def v9_header(
    count: int = 1,
    uptime: int = 100_000,
    secs: int = NOW_MS // 1000,
    seq: int = 0,
    source_id: int = 0,
) -> bytes:
    return struct.pack("!HHIIII", 9, count, uptime, secs, seq, source_id)


def v9_template_set(tid: int, fields: list[tuple[int, int]]) -> bytes:
    body = struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", *f) for f in fields)
    return struct.pack("!HH", 0, 4 + len(body)) + body


def v9_options_template_set(
    tid: int, scopes: list[tuple[int, int]], options: list[tuple[int, int]]
) -> bytes:
    body = struct.pack("!HHH", tid, 4 * len(scopes), 4 * len(options))
    body += b"".join(struct.pack("!HH", *f) for f in scopes + options)
    body += b"\0" * ((-len(body)) % 4)
    return struct.pack("!HH", 1, 4 + len(body)) + body


def data_set(set_id: int, records: bytes, pad_to: int = 4) -> bytes:
    pad = (-(4 + len(records))) % pad_to
    return struct.pack("!HH", set_id, 4 + len(records) + pad) + records + b"\0" * pad


def v9_packet(*sets: bytes, **header: int) -> bytes:
    return v9_header(**header) + b"".join(sets)


# -- IPFIX ----------------------------------------------------------------------------------
Spec = tuple[int, ...]  # (ie, length) or (ie, length, pen)


def _spec(f: Spec) -> bytes:
    if len(f) == 3 and f[2]:
        return struct.pack("!HHI", f[0] | 0x8000, f[1], f[2])
    return struct.pack("!HH", f[0], f[1])


def ipfix_template_set(tid: int, fields: Sequence[Spec]) -> bytes:
    body = struct.pack("!HH", tid, len(fields)) + b"".join(_spec(f) for f in fields)
    return struct.pack("!HH", 2, 4 + len(body)) + body


def ipfix_withdrawal_set(*tids: int, options: bool = False) -> bytes:
    body = b"".join(struct.pack("!HH", t, 0) for t in tids)
    return struct.pack("!HH", 3 if options else 2, 4 + len(body)) + body


def ipfix_options_template_set(
    tid: int, scopes: Sequence[Spec], options: Sequence[Spec]
) -> bytes:
    body = struct.pack("!HHH", tid, len(scopes) + len(options), len(scopes))
    body += b"".join(_spec(f) for f in [*scopes, *options])
    body += b"\0" * ((-len(body)) % 4)
    return struct.pack("!HH", 3, 4 + len(body)) + body


def ipfix_packet(*sets: bytes, secs: int = NOW_MS // 1000, seq: int = 0, domain: int = 0) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), secs, seq, domain) + body


def varlen(value: bytes) -> bytes:
    """RFC 7011 §7 variable-length encoding of a field value."""
    if len(value) < 255:
        return bytes([len(value)]) + value
    return b"\xff" + struct.pack("!H", len(value)) + value


# -- NetFlow v5 -----------------------------------------------------------------------------
def v5_packet(
    records: list[dict[str, Any]],
    uptime: int = 100_000,
    secs: int = NOW_MS // 1000,
    nsecs: int = 0,
    sampling: int = 0,
    count: int | None = None,
) -> bytes:
    head = struct.pack(
        "!HHIIIIBBH",
        5,
        len(records) if count is None else count,
        uptime,
        secs,
        nsecs,
        0,
        0,
        0,
        sampling,
    )
    body = b""
    for r in records:
        body += struct.pack(
            "!4s4s4sHHIIIIHHxBBBHHBB2x",
            bytes(r.get("src", b"\x0a\0\0\x01")),
            bytes(r.get("dst", b"\x0a\0\0\x02")),
            b"\0\0\0\0",
            r.get("in", 1),
            r.get("out", 2),
            r.get("packets", 1),
            r.get("bytes", 100),
            r.get("first", 90_000),
            r.get("last", 95_000),
            r.get("sport", 1234),
            r.get("dport", 80),
            r.get("flags", 0x12),
            r.get("proto", 6),
            r.get("tos", 0),
            r.get("src_as", 0),
            r.get("dst_as", 0),
            r.get("src_mask", 24),
            r.get("dst_mask", 24),
        )
    return head + body


# -- v9 / IPFIX records of the unit tests ---------------------------------------------------
EXP = "192.0.2.1"
# v9: src, dst, sport, dport, proto, bytes, packets, first, last
V9_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4)]
V9_REC = struct.Struct("!4s4sHHBIIII")


def v9_rec(
    src: bytes = b"\x0a\0\0\x01",
    dst: bytes = b"\x0a\0\0\x02",
    sport: int = 1000,
    dport: int = 80,
    proto: int = 6,
    nbytes: int = 500,
    pkts: int = 5,
    first: int = 90_000,
    last: int = 95_000,
) -> bytes:
    return V9_REC.pack(src, dst, sport, dport, proto, nbytes, pkts, first, last)


IPFIX_FIELDS: list[Any] = [(8, 4), (12, 4), (2, 8), (1, 8), (152, 8), (153, 8)]


def ipfix_rec(src: bytes = b"\x0a\0\0\x01", pkts: int = 3, nbytes: int = 300) -> bytes:
    return src + b"\x0a\0\0\x02" + struct.pack("!QQQQ", pkts, nbytes, NOW_MS - 9000, NOW_MS - 1000)


def decode(d: Dispatcher, pkt: bytes, exporter: str = EXP, at: int = NOW_MS) -> DecodeResult:
    result = d.decode(pkt, exporter, at)
    for rec in result.records:
        assert record_errors(rec) == [], rec
    return result
