"""Read pcap and pcapng captures of export packets (no external library).

Yields the UDP datagrams inside (Ethernet, 802.1Q, Linux SLL/SLL2, raw IP or BSD loopback link
types; IPv4 and IPv6; IPv4 fragments are skipped). Timestamps are epoch milliseconds.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),  # little endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

LINK_NULL, LINK_ETHERNET, LINK_RAW, LINK_LOOP, LINK_SLL, LINK_IPV4, LINK_IPV6, LINK_SLL2 = (
    0,
    1,
    101,
    108,
    113,
    228,
    229,
    276,
)


class CaptureError(ValueError):
    """The file is not a pcap/pcapng capture, or is damaged beyond its last whole packet."""


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram from a capture."""

    ts_ms: int
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Frame:
    ts_ms: int
    linktype: int
    data: bytes


def iter_frames(fh: BinaryIO) -> Iterator[Frame]:
    """Link-layer frames of a pcap or pcapng stream, in file order."""
    head = fh.read(4)
    if head == PCAPNG_SHB:
        yield from _iter_pcapng(fh, head)
    elif head in PCAP_MAGICS:
        yield from _iter_pcap(fh, head)
    else:
        raise CaptureError("not a pcap or pcapng file")


def _iter_pcap(fh: BinaryIO, magic: bytes) -> Iterator[Frame]:
    endian, per_sec = PCAP_MAGICS[magic]
    rest = fh.read(20)
    if len(rest) < 20:
        raise CaptureError("truncated pcap header")
    linktype = struct.unpack(endian + "HHiIII", rest)[5] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    while True:
        hdr = fh.read(16)
        if len(hdr) < 16:
            return
        sec, frac, incl, _orig = rec.unpack(hdr)
        data = fh.read(incl)
        if len(data) < incl:
            return
        yield Frame(sec * 1000 + frac * 1000 // per_sec, linktype, data)


def _iter_pcapng(fh: BinaryIO, first: bytes) -> Iterator[Frame]:
    endian = "<"
    interfaces: list[tuple[int, int]] = []  # (linktype, ticks per second)
    block_type_raw = first
    while True:
        if block_type_raw is None or len(block_type_raw) < 4:
            return
        len_raw = fh.read(4)
        if len(len_raw) < 4:
            return
        if block_type_raw == PCAPNG_SHB:
            bom = fh.read(4)
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            total = struct.unpack(endian + "I", len_raw)[0]
            body = bom + fh.read(total - 16)
            interfaces = []
        else:
            total = struct.unpack(endian + "I", len_raw)[0]
            if total < 12:
                raise CaptureError("pcapng block length below 12")
            body = fh.read(total - 12)
        if len(body) < total - 12:
            return
        fh.read(4)  # trailing length
        btype = struct.unpack(endian + "I", block_type_raw)[0]
        if btype == 1 and len(body) >= 8:  # interface description
            linktype = struct.unpack(endian + "H", body[:2])[0]
            interfaces.append((linktype, _if_tsresol(body[8:], endian)))
        elif btype == 6 and len(body) >= 20:  # enhanced packet
            if_id, ts_hi, ts_lo, cap_len, _ = struct.unpack(endian + "IIIII", body[:20])
            if if_id < len(interfaces):
                linktype, per_sec = interfaces[if_id]
                ticks = (ts_hi << 32) | ts_lo
                yield Frame(ticks * 1000 // per_sec, linktype, body[20 : 20 + cap_len])
        elif btype == 3 and len(body) >= 4 and interfaces:  # simple packet
            yield Frame(0, interfaces[0][0], body[4:])
        block_type_raw = fh.read(4)


def _if_tsresol(opts: bytes, endian: str) -> int:
    i = 0
    while i + 4 <= len(opts):
        code, length = struct.unpack(endian + "HH", opts[i : i + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = opts[i + 4]
            return int(2 ** (v & 0x7F) if v & 0x80 else 10 ** (v & 0x7F))
        i += 4 + ((length + 3) & ~3)
    return 1_000_000


def _ip_payload(frame: Frame) -> bytes | None:
    d, lt = frame.data, frame.linktype
    if lt == LINK_ETHERNET:
        off, etype = 14, d[12:14] if len(d) >= 14 else b""
        while etype in (b"\x81\x00", b"\x88\xa8", b"\x91\x00") and len(d) >= off + 4:
            etype, off = d[off + 2 : off + 4], off + 4
        return d[off:] if etype in (b"\x08\x00", b"\x86\xdd") else None
    if lt in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        return d
    if lt in (LINK_NULL, LINK_LOOP):
        return d[4:]
    if lt == LINK_SLL:
        return d[16:]
    if lt == LINK_SLL2:
        return d[20:]
    return None


def _udp(ip: bytes) -> tuple[str, int, str, int, bytes] | None:
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        frag = struct.unpack("!H", ip[6:8])[0]
        if ip[9] != 17 or frag & 0x3FFF:  # not UDP, or a fragment
            return None
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        seg = ip[ihl : max(total, ihl)] if total else ip[ihl:]
    elif version == 6 and len(ip) >= 40:
        nxt, off = ip[6], 40
        while nxt in (0, 43, 60) and len(ip) >= off + 8:  # hop-by-hop, routing, dest options
            nxt, off = ip[off], off + (ip[off + 1] + 1) * 8
        if nxt != 17:
            return None
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        seg = ip[off:]
    else:
        return None
    if len(seg) < 8:
        return None
    sport, dport, ulen = struct.unpack("!HHH", seg[:6])
    payload = seg[8:ulen] if ulen >= 8 else seg[8:]
    return src, sport, dst, dport, payload


def iter_datagrams(path: str | Path) -> Iterator[Datagram]:
    """Every UDP datagram of a pcap/pcapng file, in file order."""
    with open(path, "rb") as fh:
        for frame in iter_frames(fh):
            ip = _ip_payload(frame)
            if ip is None:
                continue
            udp = _udp(ip)
            if udp is not None:
                yield Datagram(frame.ts_ms, *udp)
