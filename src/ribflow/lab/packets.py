"""Build Ethernet/IPv4/IPv6/TCP/UDP/ICMP frames and write them to a classic pcap file.

The lab's traffic only ever exists inside capture files that softflowd reads (`-r`): it uses
public address space from the router's table and must never be put on an interface. Headers
carry correct checksums so independent decoders (tshark) read the files without complaint.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
LINKTYPE_ETHERNET = 1
MAC_SRC = bytes.fromhex("020000000001")
MAC_DST = bytes.fromhex("020000000002")

# TCP flag bits
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def tcp(sport: int, dport: int, flags: int, payload: bytes, seq: int = 1, ack: int = 0) -> bytes:
    """A TCP segment without its checksum (filled in by :func:`ip_packet`)."""
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return head + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp_echo(v6: bool, ident: int, seq: int, payload: bytes, reply: bool = False) -> bytes:
    kind = (129 if reply else 128) if v6 else (0 if reply else 8)
    return struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload


def ip_packet(src: str, dst: str, proto: int, l4: bytes, ttl: int = 64, ident: int = 0) -> bytes:
    """An IPv4 or IPv6 packet around ``l4``, with the transport checksum computed."""
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if len(s) != len(d):
        raise ValueError("source and destination must be of one IP version")
    body = bytearray(l4)
    offset = {TCP: 16, UDP: 6, ICMP: 2, ICMPV6: 2}.get(proto)
    if offset is not None:
        if proto == ICMP:
            csum = checksum(bytes(body))
        else:
            csum = checksum(_pseudo_header(s, d, proto, len(body)) + bytes(body))
            if proto == UDP and csum == 0:
                csum = 0xFFFF
        struct.pack_into("!H", body, offset, csum)
    if len(s) == 4:
        head = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident & 0xFFFF,
                                     0x4000, ttl, proto, 0, s, d))
        struct.pack_into("!H", head, 10, checksum(bytes(head)))
        return bytes(head) + bytes(body)
    head6 = struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, ttl, s, d)
    return head6 + bytes(body)


def ethernet(packet: bytes) -> bytes:
    ethertype = ETH_IPV6 if packet[0] >> 4 == 6 else ETH_IPV4
    return MAC_DST + MAC_SRC + struct.pack("!H", ethertype) + packet


def write_pcap(path: Path, frames: Iterable[tuple[float, bytes]], snaplen: int = 65535) -> int:
    """Write (epoch seconds, Ethernet frame) pairs as a microsecond pcap; returns the count.

    The file is written next to ``path`` and renamed into place, so a reader never sees half
    of it.
    """
    tmp = path.with_name(path.name + ".partial")
    count = 0
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        for ts, frame in frames:
            sec = int(ts)
            usec = round((ts - sec) * 1_000_000)
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            cap = frame[:snaplen]
            fh.write(struct.pack("<IIII", sec, usec, len(cap), len(frame)) + cap)
            count += 1
    tmp.replace(path)
    return count
