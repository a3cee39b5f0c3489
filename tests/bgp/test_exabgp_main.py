"""ExaBGP 5.0.15 with ribflow's next-hop fix, checked with ExaBGP's own parser (``exabgp decode``)
on UPDATEs built here byte by byte (RFC 4271 / 4760 / 4659 / 2545 layouts)."""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
import sys

import pytest

from ribflow.bgp.exabgp_main import global_next_hop_only

GLOBAL, LINK_LOCAL = "2001:db8::7", "fe80::7"


def attr(flags: int, code: int, value: bytes) -> bytes:
    return struct.pack("!BBB", flags, code, len(value)) + value


def update(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> str:
    mp = struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\x00" + nlri
    attrs = attr(0x40, 1, b"\x00") + attr(0x40, 2, b"") + attr(0x40, 5, struct.pack("!I", 100))
    attrs += attr(0x80, 14, mp)
    body = struct.pack("!HH", 0, len(attrs)) + attrs
    return (b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body).hex()


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


RD0 = b"\x00" * 8
VPNV6_NLRI = (
    bytes([24 + 64 + 48])
    + ((300 << 4) | 1).to_bytes(3, "big")  # label 300, bottom of stack
    + struct.pack("!HIH", 1, int(ipaddress.IPv4Address("192.0.2.9")), 7)  # RD 1:192.0.2.9:7
    + v6("2001:db8:a::")[:6]
)
V6_NLRI = bytes([48]) + v6("2001:db8:b::")[:6]


def decode(module: str, hexdata: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, "decode", hexdata],
        capture_output=True,
        text=True,
        timeout=120,
    )


def announce(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, list[object]]]:
    line = next(x for x in result.stdout.splitlines() if x.startswith("{"))
    msg = json.loads(line)
    out: dict[str, dict[str, list[object]]] = msg["neighbor"]["message"]["update"]["announce"]
    return out


@pytest.mark.integration
def test_a_48_byte_vpnv6_next_hop_no_longer_tears_the_session_down() -> None:
    hexdata = update(2, 128, RD0 + v6(GLOBAL) + RD0 + v6(LINK_LOCAL), VPNV6_NLRI)
    plain = decode("exabgp", hexdata)
    # ExaBGP 5.0.15 itself refuses it ("next-hop length 48 expected 24 or 40"; in a session:
    # NOTIFICATION 3/9, session down)
    assert plain.stdout.strip() == "invalid payload"
    fixed = decode("ribflow.bgp.exabgp_main", hexdata)
    assert announce(fixed) == {
        "ipv6 mpls-vpn": {
            GLOBAL: [{"nlri": "2001:db8:a::/48", "label": [[300]], "rd": "192.0.2.9:7"}]
        }
    }


@pytest.mark.integration
def test_a_global_plus_link_local_next_hop_announces_each_prefix_once() -> None:
    hexdata = update(2, 1, v6(GLOBAL) + v6(LINK_LOCAL), V6_NLRI)
    plain = announce(decode("exabgp", hexdata))["ipv6 unicast"]
    assert sorted(plain) == [GLOBAL, LINK_LOCAL]  # the prefix twice, once per address
    fixed = announce(decode("ribflow.bgp.exabgp_main", hexdata))
    assert fixed == {"ipv6 unicast": {GLOBAL: [{"nlri": "2001:db8:b::/48"}]}}


def test_the_rewrite_keeps_what_it_must() -> None:
    nlri = b"\x18\x0a\x02\x00"
    # VPNv4 with an RFC 8950 48-byte next hop -> RD + global (24)
    data = struct.pack("!HBB", 1, 128, 48) + RD0 + v6(GLOBAL) + RD0 + v6(LINK_LOCAL) + b"\0" + nlri
    assert global_next_hop_only(data) == struct.pack("!HBB", 1, 128, 24) + RD0 + v6(GLOBAL) + (
        b"\0" + nlri
    )
    for unchanged in (
        struct.pack("!HBB", 2, 128, 24) + RD0 + v6(GLOBAL) + b"\0" + nlri,  # already global
        struct.pack("!HBB", 1, 1, 4) + bytes(4) + b"\0" + nlri,  # IPv4
        struct.pack("!HBB", 2, 1, 32) + v6(GLOBAL),  # truncated: ExaBGP reports it
        b"\x00\x02",
    ):
        assert global_next_hop_only(unchanged) == unchanged
