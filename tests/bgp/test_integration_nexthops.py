"""48-byte VPN next hops over a live session: the real speaker (ExaBGP, bridge, Kafka) keeps it up.

No router at hand sends them on loopback (they carry a link-local address), so the peer here is
a minimal BGP speaker written in the test: OPEN, KEEPALIVE and UPDATE messages built byte by
byte from RFC 4271 / 4760 / 4659 / 8950 (capabilities: multiprotocol VPNv4 and VPNv6, 4-octet
AS, extended next hop for VPNv4). It announces a VPNv6 route and a VPNv4 route, each with a
48-byte next hop (RD + global + RD + link-local). ExaBGP 5.0.15 alone answers NOTIFICATION 3/9
and drops the session (test_exabgp_main.py shows its parser refusing the same bytes); the
speaker must keep the session up and put both routes in bgp-updates with the global next hop.

Loopback addresses of this module: ExaBGP 127.0.4.70, the test's peer 127.0.4.71.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ribflow.schemas import validate
from tests.bgp.lab import kcat_read, speaker_env, start_speaker, wait_for
from tests.fixtures.kafka import delete_topics, free_port

pytestmark = pytest.mark.integration

EXA, PEER = "127.0.4.70", "127.0.4.71"
ASN = 65001
KEEPALIVE, OPEN, UPDATE, NOTIFICATION = 4, 1, 2, 3


def message(kind: int, body: bytes = b"") -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def capability(code: int, value: bytes) -> bytes:
    return struct.pack("!BB", code, len(value)) + value


def open_message() -> bytes:
    caps = (
        capability(1, struct.pack("!HBB", 1, 0, 128))  # multiprotocol VPNv4
        + capability(1, struct.pack("!HBB", 2, 0, 128))  # multiprotocol VPNv6
        + capability(65, struct.pack("!I", ASN))  # 4-octet AS
        + capability(5, struct.pack("!HHH", 1, 128, 2))  # VPNv4 with IPv6 next hops
    )
    params = struct.pack("!BB", 2, len(caps)) + caps
    rid = ipaddress.IPv4Address("10.0.4.71").packed
    return message(
        OPEN, struct.pack("!BHH", 4, ASN, 30) + rid + struct.pack("!B", len(params)) + params
    )


def attr(flags: int, code: int, value: bytes) -> bytes:
    return struct.pack("!BBB", flags, code, len(value)) + value


def vpn_update(afi: int, prefix: str, rd_value: int, label: int, global_nh: str) -> bytes:
    """MP_REACH_NLRI (RFC 4760) of one VPN route (RFC 4364 / 4659) whose next hop is 48 bytes:
    RD 0 + global IPv6 + RD 0 + link-local."""
    net = ipaddress.ip_network(prefix)
    rd = struct.pack("!HHI", 0, ASN, rd_value)
    nlri = (
        bytes([24 + 64 + net.prefixlen])
        + ((label << 4) | 1).to_bytes(3, "big")
        + rd
        + net.network_address.packed[: (net.prefixlen + 7) // 8]
    )
    nh = bytes(8) + ipaddress.IPv6Address(global_nh).packed
    nh += bytes(8) + ipaddress.IPv6Address("fe80::71").packed
    mp = struct.pack("!HBB", afi, 128, len(nh)) + nh + b"\x00" + nlri
    attrs = (
        attr(0x40, 1, b"\x00")
        + attr(0x40, 2, struct.pack("!BBI", 2, 1, 65071))
        + attr(0x40, 5, struct.pack("!I", 100))
        + attr(0x80, 14, mp)
    )
    return message(UPDATE, struct.pack("!HH", 0, len(attrs)) + attrs)


class Peer(threading.Thread):
    """Listens on PEER:179, answers ExaBGP's OPEN, sends the UPDATEs, keeps the session alive
    and records every message type ExaBGP sends."""

    def __init__(self, updates: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.updates = updates
        self.received: list[int] = []
        self.closed = False
        self.stop = threading.Event()
        self.server = socket.create_server((PEER, 179))
        self.server.settimeout(1.0)

    def run(self) -> None:
        conn = None
        while not self.stop.is_set() and conn is None:
            with contextlib.suppress(TimeoutError):
                conn, _ = self.server.accept()
        if conn is None:
            return
        conn.settimeout(1.0)
        conn.sendall(open_message() + message(KEEPALIVE))
        sent = False
        last_keepalive = time.monotonic()
        buf = b""
        with conn:
            while not self.stop.is_set():
                try:
                    data = conn.recv(65535)
                    if not data:
                        self.closed = True
                        return
                    buf += data
                except TimeoutError:
                    pass
                while len(buf) >= 19:
                    length = struct.unpack("!H", buf[16:18])[0]
                    if len(buf) < length:
                        break
                    self.received.append(buf[18])
                    buf = buf[length:]
                if not sent and KEEPALIVE in self.received:  # ExaBGP accepted our OPEN
                    conn.sendall(b"".join(self.updates))
                    sent = True
                if time.monotonic() - last_keepalive > 5:
                    conn.sendall(message(KEEPALIVE))
                    last_keepalive = time.monotonic()

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=10)
        self.server.close()


def test_48_byte_vpn_next_hops_keep_the_session_up(kafka_broker: str, tmp_path: Path) -> None:
    topic = f"test-bgp-nh48-{os.getpid()}-{int(time.time())}"
    peer = Peer(
        [
            vpn_update(2, "2001:db8:a::/48", 10, 300, "2001:db8::71"),  # VPNv6
            vpn_update(1, "10.71.0.0/16", 20, 400, "2001:db8::72"),  # VPNv4, RFC 8950
        ]
    )
    peer.start()
    env = speaker_env(
        kafka_broker,
        topic,
        tmp_path,
        BGP_LOCAL_ADDRESS=EXA,
        BGP_ROUTER_ID="10.0.4.70",
        BGP_NEIGHBORS=PEER,
        BGP_FAMILIES="ipv4 mpls-vpn,ipv6 mpls-vpn",
        BGP_GRACEFUL_RESTART="0",
        METRICS_PORT=str(free_port()),
    )
    speaker = start_speaker(env, tmp_path)
    try:

        def routes() -> dict[str, Any] | None:
            got = {}
            for m in kcat_read(kafka_broker, topic):
                validate("bgp-updates.v1", m["value"])
                if m["value"]["type"] == "update":
                    for g in m["value"]["announce"]:
                        for n in g["nlri"]:
                            got[n["prefix"]] = (g["family"], g["next_hop"], n["rd"], n["labels"])
            return got if len(got) == 2 else None

        got = wait_for("both routes in bgp-updates", routes, 120)
        assert got == {
            "2001:db8:a::/48": ("ipv6 mpls-vpn", "2001:db8::71", "0:65001:10", [300]),
            "10.71.0.0/16": ("ipv4 mpls-vpn", "2001:db8::72", "0:65001:20", [400]),
        }
        time.sleep(12)  # more than two keepalive periods: a teardown would have happened
        assert NOTIFICATION not in peer.received and not peer.closed, peer.received
        states = [
            m["value"]["state"]
            for m in kcat_read(kafka_broker, topic)
            if m["value"]["type"] == "session"
        ]
        assert "down" not in states[1:], states  # after the bridge's start-up 'down'
        assert speaker.alive()
    finally:
        speaker.stop()
        peer.close()
        delete_topics(kafka_broker, topic, f"{topic}-dlq")
