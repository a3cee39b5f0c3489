"""IPFIX exports shaped like an ISP core router's (IOS XR / Junos / Huawei), built to the IANA
registry field by field: tunnels (IPv6 outer + IPv4/IPv6 inner), MPLS label stacks, RDs, VRF and
interface option tables, MAC/ethertype/post-VLAN, forwarding status, SRv6 segment lists.

Shared by the tshark comparison (test_isp_fields.py), the nfacctd oracle and the end-to-end test.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from tests.flow.netflow_support import (
    NOW_MS,
    data_set,
    ipfix_options_template_set,
    ipfix_packet,
    ipfix_template_set,
    varlen,
)

VARLEN = 0xFFFF


def v4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def label(value: int, bos: bool = False, exp: int = 0) -> bytes:
    """One 3-byte MPLS label stack entry (label, EXP/TC, bottom of stack)."""
    return ((value << 4) | (exp << 1) | int(bos)).to_bytes(3, "big")


def rd(kind: int, admin: int | str, value: int) -> bytes:
    """An 8-byte route distinguisher (RFC 4364 §4.2) of type 0, 1 or 2."""
    if kind == 0:
        return struct.pack("!HHI", 0, int(admin), value)
    if kind == 1:
        return struct.pack("!H", 1) + v4(str(admin)) + struct.pack("!H", value)
    return struct.pack("!HIH", 2, int(admin), value)


# --- templates -------------------------------------------------------------------------------
# SRv6 / IP-in-IPv6 (Huawei): outer IPv6 header, then the inner IPv4 header and its ports.
TUNNEL_V4 = 300
TUNNEL_V4_FIELDS = [(27, 16), (28, 16), (4, 1), (8, 4), (12, 4), (4, 1), (7, 2), (11, 2),
                    (1, 8), (2, 8), (10, 4), (14, 4), (497, VARLEN)]  # fmt: skip
# IPv6 in IPv6, the outer ports too (UDP-encapsulated: the ports come twice).
TUNNEL_V6 = 301
TUNNEL_V6_FIELDS = [(27, 16), (28, 16), (4, 1), (7, 2), (11, 2), (27, 16), (28, 16), (4, 1),
                    (7, 2), (11, 2), (1, 8), (2, 8)]  # fmt: skip
# MPLS core (IOS XR): label stack, RD, VRF ids, L2 fields, forwarding status.
MPLS = 302
MPLS_FIELDS = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (1, 8), (2, 8), (10, 4), (14, 4),
               (61, 1), (70, 3), (71, 3), (72, 3), (90, 8), (234, 4), (235, 4), (56, 6),
               (80, 6), (256, 2), (58, 2), (59, 2), (89, 1)]  # fmt: skip
# VRF ids only (the RD and name come from the options table).
VRF_ONLY = 303
VRF_ONLY_FIELDS = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (1, 8), (2, 8), (10, 4), (14, 4),
                   (61, 1), (234, 4), (235, 4)]  # fmt: skip
# Options: VRF table (id -> RD, name) and interface table (ifIndex -> name, description).
VRF_TABLE, IF_TABLE = 400, 401
# (IOS XR writes VRFname as a fixed 32-byte, NUL-padded string)
VRF_TABLE_SCOPE, VRF_TABLE_OPTIONS = [(234, 4)], [(90, 8), (236, 32)]
IF_TABLE_SCOPE, IF_TABLE_OPTIONS = [(10, 4)], [(82, VARLEN), (83, VARLEN)]


@dataclass(frozen=True)
class Vrf:
    vrf_id: int
    rd: bytes
    name: str


VRFS = (
    Vrf(5, rd(0, 65000, 100), "CUST-A"),
    Vrf(6, rd(1, "192.0.2.1", 7), "CUST-B"),
    Vrf(7, rd(2, 4200000001, 9), "CUST-C"),
    Vrf(1, bytes(8), "default"),
)
INTERFACES = ((3, "HundredGigE0/0/0/1", "core uplink"), (4, "Bundle-Ether10.100", "to CE A"))


def _base(src: str, dst: str, proto: int, sport: int, dport: int, octets: int) -> bytes:
    return v4(src) + v4(dst) + struct.pack("!BHHQQ", proto, sport, dport, octets, octets // 100)


def tunnel_v4_records() -> bytes:
    seg = varlen(v6("fc00:0:1::") + v6("fc00:0:2::") + v6("fc00:0:3::"))
    out = b""
    for i, outer_proto in enumerate((4, 41, 43)):  # 43: a routing header, not a tunnel to pmacct
        out += (v6("2001:db8:100::1") + v6("2001:db8:200::1") + bytes([outer_proto])
                + v4(f"10.1.0.{i + 1}") + v4("10.2.0.1") + bytes([6])
                + struct.pack("!HHQQII", 40000 + i, 443, 1500 * (i + 1), 3, 3, 4)
                + (seg if i != 2 else varlen(b"")))  # fmt: skip
    return out


def tunnel_v6_records() -> bytes:
    return (v6("2001:db8:100::1") + v6("2001:db8:200::1") + bytes([41])
            + struct.pack("!HH", 4789, 4789)
            + v6("2001:db8:a::1") + v6("2001:db8:b::2") + bytes([17])
            + struct.pack("!HHQQ", 5353, 53, 9000, 90))  # fmt: skip


def mpls_records() -> bytes:
    out = b""
    stacks = (
        (label(24001), label(24002), label(16, bos=True)),  # three labels
        (label(0), label(299792, bos=True), label(5)),  # explicit null on top, then a label
        (label(24005, bos=True, exp=5), label(0), label(0)),  # one label
    )
    rds = (rd(0, 65000, 100), rd(1, "192.0.2.1", 7), rd(2, 4200000001, 9))
    for i, stack in enumerate(stacks):
        out += (_base(f"192.0.2.{10 + i}", "198.51.100.1", 17, 5000 + i, 53, 10_000 + i)
                + struct.pack("!IIB", 3, 4, i % 2) + b"".join(stack) + rds[i]
                + struct.pack("!II", 5 + i, 0)
                + bytes.fromhex(f"00005e0053{i:02x}") + bytes.fromhex(f"02000000aa{i:02x}")
                + struct.pack("!HHH", (0x0800, 0x86DD, 0x8847)[i], 100 + i, 200 + i)
                + bytes([(66, 130, 195)[i]]))  # fmt: skip
    return out


def vrf_only_records() -> bytes:
    out = b""
    # (ingress VRF, egress VRF, direction): pmacct's choice of VRF per case
    for i, (ing, eg, direction) in enumerate(((5, 0, 0), (6, 7, 0), (6, 7, 1), (0, 7, 0),
                                              (1, 6, 0), (9, 0, 0))):  # fmt: skip
        proto = (6, 50, 4, 0, 47, 6)[i]  # protocol names: pmacct's table
        out += (_base(f"203.0.113.{i + 1}", "198.51.100.9", proto, 6000 + i, 80, 20_000 + i)
                + struct.pack("!IIBII", 3, 4, direction, ing, eg))  # fmt: skip
    return out


def vrf_table() -> bytes:
    return b"".join(struct.pack("!I", v.vrf_id) + v.rd + v.name.encode().ljust(32, b"\0")
                    for v in VRFS)  # fmt: skip


def if_table() -> bytes:
    return b"".join(
        struct.pack("!I", i) + varlen(n.encode()) + varlen(d.encode()) for i, n, d in INTERFACES
    )


def export_packets(export_ms: int = NOW_MS) -> list[bytes]:
    """The router's export: option tables first (as routers send them), then the data."""
    secs = export_ms // 1000
    return [
        ipfix_packet(
            ipfix_options_template_set(VRF_TABLE, VRF_TABLE_SCOPE, VRF_TABLE_OPTIONS),
            data_set(VRF_TABLE, vrf_table()),
            ipfix_options_template_set(IF_TABLE, IF_TABLE_SCOPE, IF_TABLE_OPTIONS),
            data_set(IF_TABLE, if_table()),
            secs=secs, seq=0,
        ),
        ipfix_packet(
            ipfix_template_set(TUNNEL_V4, TUNNEL_V4_FIELDS),
            data_set(TUNNEL_V4, tunnel_v4_records()),
            ipfix_template_set(TUNNEL_V6, TUNNEL_V6_FIELDS),
            data_set(TUNNEL_V6, tunnel_v6_records()),
            secs=secs, seq=4,
        ),
        ipfix_packet(
            ipfix_template_set(MPLS, MPLS_FIELDS), data_set(MPLS, mpls_records()),
            ipfix_template_set(VRF_ONLY, VRF_ONLY_FIELDS), data_set(VRF_ONLY, vrf_only_records()),
            secs=secs, seq=8,
        ),
    ]  # fmt: skip
