"""A tiny classic-pcap writer for tests: UDP datagrams wrapped in Ethernet/IPv4-or-IPv6/UDP.

Used to hand tshark exactly the bytes our decoder saw (softflowd exports caught on a socket,
captures reordered so that templates come first). Checksums are zero (allowed for UDP over IPv4;
tshark does not verify them by default).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path

from ribflow.flow.pcap import Datagram


def _frame(p: Datagram) -> bytes:
    src, dst = ipaddress.ip_address(p.src), ipaddress.ip_address(p.dst)
    udp = struct.pack("!HHHH", p.sport, p.dport, 8 + len(p.payload), 0) + p.payload
    if src.version == 4:
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src.packed, dst.packed
        )
        ethertype = b"\x08\x00"
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, src.packed, dst.packed)
        ethertype = b"\x86\xdd"
    eth = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + ethertype
    return eth + ip + udp


def write_pcap(path: str | Path, packets: Iterable[Datagram]) -> int:
    """Write ``packets`` as an Ethernet pcap (microsecond timestamps); returns the count."""
    n = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for p in packets:
            frame = _frame(p)
            sec, ms = divmod(p.ts_ms, 1000)
            fh.write(struct.pack("<IIII", sec, ms * 1000, len(frame), len(frame)) + frame)
            n += 1
    return n
