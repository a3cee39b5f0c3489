"""BGP session protection with TCP-MD5 (RFC 2385), end to end with real daemons.

One speaker run as the project runs it (`ribflow exabgp run`: ExaBGP + the bridge, real Kafka)
with BGP_MD5_PASSWORD set peers with two real gobgpd routers: one configured with the same
password (auth-password), one with another. The first session comes up and its routes arrive
in bgp-updates (read back with kcat); the second never comes up: gobgpd reports it not
established, no 'up' event is written, and the bridge's metrics show the configured neighbour
down (ribflow_bridge_neighbor_up 0, ribflow_bridge_neighbor_down_seconds growing). tshark on lo
shows that ExaBGP's SYNs carry the MD5 signature option (kind 19) to both routers and that the
router with the other password never answers. When the kernel refuses TCP_MD5SIG the test fails
and says so (nothing here can work without it).

Addresses of this test only (127.0.2.0/24): ExaBGP 127.0.2.30, routers 127.0.2.31 and .32.
"""

from __future__ import annotations

import os
import socket
import struct
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ribflow.lab.router import Gobgp, Peer, RouterConfig, gobgpd_argv
from tests.bgp.lab import Daemon, kcat_read, need, speaker_env, start_speaker, wait_for
from tests.fixtures.capture import Capture, fields
from tests.fixtures.kafka import delete_topics, free_port

pytestmark = pytest.mark.integration

EXA, GOOD, BAD = "127.0.2.30", "127.0.2.31", "127.0.2.32"
PASSWORD, WRONG = "ribflow-md5-s3cret", "not-the-same-key"
TCP_MD5SIG = 14  # linux/tcp.h
DOWN_FOR_S = 20.0  # how long the wrong-password session must have stayed down


def kernel_takes_tcp_md5() -> None:
    """Fail (not skip) when this kernel refuses setsockopt(TCP_MD5SIG)."""
    # struct tcp_md5sig: sockaddr_storage (128), flags, prefixlen, keylen, ifindex, key[80]
    addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + socket.inet_aton(BAD)
    key = PASSWORD.encode()
    value = addr.ljust(128, b"\0") + struct.pack("=BBHI", 0, 0, len(key), 0) + key.ljust(80, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, value)
        except OSError as exc:
            pytest.fail(
                f"the kernel refuses TCP-MD5 (setsockopt TCP_MD5SIG: {exc}); BGP sessions with "
                "BGP_MD5_PASSWORD cannot work on this machine (kernel built without "
                "CONFIG_TCP_MD5SIG?)"
            )


def start_router(workdir: Path, address: str, password: str) -> tuple[Daemon, Gobgp]:
    grpc = free_port(address)
    conf = workdir / f"gobgpd-{address}.toml"
    exa = Peer(EXA, hold_time=30, auth_password=password)
    conf.write_text(RouterConfig(address, "10.0.2." + address.rsplit(".", 1)[1], 65001,
                                 (exa,)).toml())  # fmt: skip
    need("gobgpd")
    daemon = Daemon(f"gobgpd-{address}", gobgpd_argv(conf, f"{address}:{grpc}"),
                    workdir / f"gobgpd-{address}.log")  # fmt: skip
    cli = Gobgp(address, grpc)
    wait_for(f"gobgpd {address}'s API", lambda: cli.answers() or not daemon.alive(), 30)
    assert daemon.alive(), daemon.tail()
    return daemon, cli


@dataclass
class Md5Lab:
    broker: str
    topic: str
    good: Gobgp
    bad: Gobgp
    speaker: Daemon
    metrics_port: int
    capture: Capture

    def metric(self, name: str, neighbor: str) -> float | None:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if line.startswith(f'{name}{{neighbor="{neighbor}"}} '):
                return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def md5_lab(kafka_broker: str, tmp_path: Path) -> Iterator[Md5Lab]:
    kernel_takes_tcp_md5()
    topic = f"test-bgp-md5-{os.getpid()}-{int(time.time())}"
    daemons: list[Daemon] = []
    capture = Capture(tmp_path / "bgp.pcap", f"tcp port 179 and host {EXA}")
    try:
        good_d, good = start_router(tmp_path, GOOD, PASSWORD)
        daemons.append(good_d)
        bad_d, bad = start_router(tmp_path, BAD, WRONG)
        daemons.append(bad_d)
        good.add_route("203.0.113.0/24", as_path=[65010], next_hop="192.0.2.1", med=7)
        good.add_route("2001:db8:100::/48", as_path=[65020], next_hop="2001:db8::1")
        port = free_port()
        env = speaker_env(
            kafka_broker, topic, tmp_path, BGP_LOCAL_ADDRESS=EXA, BGP_ROUTER_ID="10.0.2.30",
            BGP_NEIGHBORS=f"{GOOD},{BAD}", BGP_MD5_PASSWORD=PASSWORD, METRICS_PORT=str(port),
        )  # fmt: skip
        speaker = start_speaker(env, tmp_path)
        daemons.append(speaker)
        yield Md5Lab(kafka_broker, topic, good, bad, speaker, port, capture)
    finally:
        for d in reversed(daemons):
            d.stop()
        capture.stop()
        delete_topics(kafka_broker, topic, f"{topic}-dlq")


def test_md5_session_up_with_the_password_and_never_with_another(md5_lab: Md5Lab) -> None:
    lab = md5_lab
    # matching passwords: established, and the routes arrive in bgp-updates
    wait_for("the MD5 session with gobgpd (same password)",
             lambda: lab.good.neighbor_state(EXA) == "established" or not lab.speaker.alive(),
             120)  # fmt: skip
    assert lab.speaker.alive(), lab.speaker.tail()
    conf = (Path(lab.speaker.log).parent / "exabgp" / "exabgp-0.conf").read_text()
    assert conf.count(f'md5-password "{PASSWORD}";') == 2, "BGP_MD5_PASSWORD rendered per session"

    def routes() -> set[str]:
        out = set()
        for m in kcat_read(lab.broker, lab.topic):
            e = m["value"]
            if e["router"] == GOOD and e["type"] == "update":
                out |= {n["prefix"] for g in e["announce"] for n in g["nlri"]}
        return out

    wait_for("the routes of the MD5 session in bgp-updates",
             lambda: routes() >= {"203.0.113.0/24", "2001:db8:100::/48"}, 90)  # fmt: skip
    wait_for("ribflow_bridge_neighbor_up of the good neighbour",
             lambda: lab.metric("ribflow_bridge_neighbor_up", GOOD) == 1, 30)  # fmt: skip

    # another password: never up, and the bridge's metrics say so
    wait_for(f"the wrong-password neighbour to be down for {DOWN_FOR_S:.0f} s in the metrics",
             lambda: (lab.metric("ribflow_bridge_neighbor_down_seconds", BAD) or 0) >= DOWN_FOR_S,
             90)  # fmt: skip
    assert lab.metric("ribflow_bridge_neighbor_up", BAD) == 0
    assert lab.metric("ribflow_bridge_neighbor_up", GOOD) == 1
    assert lab.metric("ribflow_bridge_neighbor_down_seconds", GOOD) == 0
    assert lab.bad.neighbor_state(EXA) != "established"
    events = [m["value"] for m in kcat_read(lab.broker, lab.topic)]
    bad_states = {e["state"] for e in events if e["router"] == BAD and e["type"] == "session"}
    assert bad_states == {"down"}, bad_states  # only the bridge-restart 'down'
    assert [e for e in events if e["router"] == BAD and e["type"] != "session"] == []

    # on the wire: ExaBGP's SYNs carry the MD5 option to both; the wrong key gets no answer
    lab.capture.stop()
    pcap = lab.capture.path
    syn = "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src=={} && ip.dst=={}"
    for router in (GOOD, BAD):
        kinds = fields(pcap, "tcp.option_kind", display=syn.format(EXA, router))
        assert kinds, f"no SYN from ExaBGP to {router} captured"
        assert all("19" in k[0].split(",") for k in kinds), (router, kinds)
    synack = "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.src=={} && ip.dst=={}"
    assert fields(pcap, "frame.number", display=synack.format(GOOD, EXA))
    assert fields(pcap, "frame.number", display=synack.format(BAD, EXA)) == []
