"""Build sFlow v5 datagrams and captures in tests (for cases the real captures lack).

Only test code: the builders write what the sFlow v5 specification describes, and the tests
check the decoder against tshark's reading of the same bytes, not against these builders.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path


def u32(*values: int) -> bytes:
    return struct.pack(f"!{len(values)}I", *values)


def pad4(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def tlv(fmt: int, body: bytes, enterprise: int = 0) -> bytes:
    return u32((enterprise << 12) | fmt, len(body)) + body


def address(addr: str) -> bytes:
    ip = ipaddress.ip_address(addr)
    return u32(1 if ip.version == 4 else 2) + ip.packed


# --- sampled packets ------------------------------------------------------------------------


def ether(payload: bytes, ethertype: int, tags: Iterable[tuple[int, int]] = ()) -> bytes:
    """Ethernet frame; ``tags`` are (TPID, VLAN id) pairs from the outermost inwards."""
    out = bytes.fromhex("020000000002020000000001")
    for tpid, vid in tags:
        out += struct.pack("!HH", tpid, vid)
    return out + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, l4: bytes, tos: int = 0, frag: int = 0) -> bytes:
    total = 20 + len(l4)
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, tos, total, 1, frag, 64, proto, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )  # fmt: skip
    return head + l4


def ipv6(src: str, dst: str, nxt: int, payload: bytes, tclass: int = 0) -> bytes:
    first = (6 << 28) | (tclass << 20)
    head = struct.pack("!IHBB", first, len(payload), nxt, 64)
    return head + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def hop_by_hop(nxt: int, payload: bytes) -> bytes:
    return bytes([nxt, 0]) + b"\x01\x04\x00\x00\x00\x00" + payload  # PadN option, 8 bytes


def tcp(sport: int, dport: int, flags: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 8192, 0, 0)


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(kind: int, code: int) -> bytes:
    return struct.pack("!BBHI", kind, code, 0, 0)


# --- sFlow structures -----------------------------------------------------------------------


def raw_header(frame: bytes, protocol: int = 1, frame_length: int | None = None) -> bytes:
    length = len(frame) + 4 if frame_length is None else frame_length
    return tlv(1, u32(protocol, length, 4, len(frame)) + pad4(frame))


def extended_switch(in_vlan: int, out_vlan: int = 0) -> bytes:
    return tlv(1001, u32(in_vlan, 0, out_vlan, 0))


def extended_router(next_hop: str, src_mask: int, dst_mask: int) -> bytes:
    return tlv(1002, address(next_hop) + u32(src_mask, dst_mask))


def extended_gateway(next_hop: str, own_as: int, src_as: int, path: list[int]) -> bytes:
    body = address(next_hop) + u32(own_as, src_as, src_as)
    body += u32(1, 2, len(path), *path) if path else u32(0)
    body += u32(2, 65000 << 16 | 1, 65000 << 16 | 2) + u32(100)
    return tlv(1003, body)


def flow_sample(
    records: list[bytes], rate: int = 100, in_if: int = 3, out_if: int = 4, seq: int = 1
) -> bytes:
    body = u32(seq, in_if, rate, 1000, 0, in_if, out_if, len(records)) + b"".join(records)
    return tlv(1, body)


def expanded_flow_sample(records: list[bytes], rate: int = 100, seq: int = 1) -> bytes:
    body = u32(seq, 0, 7, rate, 1000, 0, 0, 7, 0, 8, len(records)) + b"".join(records)
    return tlv(3, body)


def counter_sample(records: list[bytes], index: int = 3, seq: int = 1) -> bytes:
    return tlv(2, u32(seq, index, len(records)) + b"".join(records))


def generic_counters(if_index: int) -> bytes:
    body = struct.pack(
        "!IIQIIQIIIIIIQIIIIII", if_index, 6, 10**9, 1, 3, 123456789012, 10, 11, 12, 13, 14, 15,
        987654321098, 20, 21, 22, 23, 24, 0,
    )  # fmt: skip
    return tlv(1, body)


def datagram(samples: list[bytes], agent: str = "192.0.2.10", sub_agent: int = 7) -> bytes:
    head = u32(5) + address(agent) + u32(sub_agent, 42, 123456, len(samples))
    return head + b"".join(samples)


# --- captures -------------------------------------------------------------------------------


def write_pcap(
    path: Path,
    payloads: list[bytes],
    dport: int = 6343,
    src: str = "192.0.2.1",
    dst: str = "192.0.2.2",
    first_ts: int = 1_700_000_000,
) -> None:
    """A classic pcap of Ethernet/IPv4/UDP frames ``src`` -> ``dst``:``dport``, 1 s apart."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for k, payload in enumerate(payloads):
        frame = ether(ipv4(src, dst, 17, udp(40000, dport, payload)), 0x0800)
        out += struct.pack("<IIII", first_ts + k, 0, len(frame), len(frame)) + frame
    path.write_bytes(out)
