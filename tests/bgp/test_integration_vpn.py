"""What real ISP routers send, through real ExaBGP -> bridge -> real Kafka, read back with kcat.

gobgpd and BIRD 2 announce VPNv4 / VPNv6 (two VRFs with the same prefix), labelled unicast,
IPv4 and VPNv4 routes with IPv6 next hops (RFC 8950) and an SRv6 Prefix-SID route (which
ExaBGP 5.0.15 renders as invalid JSON). Expected values come from the routers' own views:
``gobgp global rib -a <family> -j`` and ``birdc show route table ... all``. The sessions must
stay up throughout (no ``down`` event, the routers still Established).

Loopback addresses of this module: ExaBGP 127.0.4.20, gobgpd 127.0.4.21, BIRD 127.0.4.22.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ribflow.lab.router import Peer, RouterConfig, gobgpd_argv
from ribflow.mrt.attributes import attribute as attr
from ribflow.mrt.tables import RibEntry, write_table_dump_v2
from ribflow.schemas import validate
from tests.bgp.lab import Daemon, kcat_read, need, speaker_env, start_speaker, wait_for
from tests.fixtures.kafka import delete_topics, free_port

pytestmark = pytest.mark.integration

EXA, GOBGP, BIRD = "127.0.4.20", "127.0.4.21", "127.0.4.22"
FAMILIES = "ipv4 unicast,ipv6 unicast,ipv4 mpls-vpn,ipv6 mpls-vpn,ipv4 nlri-mpls,ipv6 nlri-mpls"
GOBGP_FAMILIES = (
    "ipv4-unicast",
    "ipv6-unicast",
    "l3vpn-ipv4-unicast",
    "l3vpn-ipv6-unicast",
    "ipv4-labelled-unicast",
    "ipv6-labelled-unicast",
)
SID = "fc00:0:1:e000::"

BIRD_CONF = """
router id 10.0.4.22;
log "{log}" all;
protocol device {{ }}
vpn4 table vt4;
vpn6 table vt6;
protocol static sv4 {{
  vpn4 {{ table vt4; import all; }};
  route 65001:10 10.2.0.0/24 blackhole {{
    bgp_path.prepend(65010); bgp_ext_community.add((rt, 65001, 10)); bgp_med = 10;
  }};
  route 65001:20 10.2.0.0/24 blackhole {{
    bgp_path.prepend(65020); bgp_ext_community.add((rt, 65001, 20));
  }};
  route 4200000000:5 10.9.0.0/16 blackhole {{ bgp_path.prepend(4200000000); }};
}}
protocol static sv6 {{
  vpn6 {{ table vt6; import all; }};
  route 192.0.2.9:7 2001:db8:a::/48 blackhole {{ bgp_path.prepend(65030); }};
}}
protocol static s4 {{
  ipv4 {{ import all; }};
  route 10.1.0.0/24 blackhole {{ bgp_path.prepend(65040); }};
}}
protocol bgp exabgp {{
  local {bird} as 65001;
  neighbor {exa} as 65001;
  passive on;
  strict bind on;
  graceful restart on;
  ipv4 {{ import all; export all; extended next hop on; next hop address 2001:db8::5; }};
  vpn4 mpls {{ table vt4; import all; export all; extended next hop on;
               next hop address 2001:db8::6; }};
  vpn6 mpls {{ table vt6; import all; export all; next hop address 2001:db8::7; }};
}}
"""


@dataclass
class Lab:
    broker: str
    topic: str
    grpc: int
    workdir: Path

    def gobgp(self, *args: str) -> str:
        cmd = [need("gobgp"), "-u", GOBGP, "-p", str(self.grpc), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(cmd)}: {result.stdout}{result.stderr}"
        return result.stdout

    def birdc(self, *args: str) -> str:
        cmd = [need("birdc"), "-s", str(self.workdir / "bird.ctl"), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def events(self, router: str) -> list[dict[str, Any]]:
        out = []
        for m in kcat_read(self.broker, self.topic):
            validate("bgp-updates.v1", m["value"])
            if m["key"] == router:
                out.append(m["value"])
        return out

    def dlq(self) -> list[dict[str, Any]]:
        return kcat_read(self.broker, f"{self.topic}-dlq")


def inject_prefix_sid(lab: Lab) -> None:
    """10.40.0.0/24 with a BGP Prefix-SID (type 40) SRv6 L3 service: SID, End.DT4, structure
    (gobgp's CLI cannot set it; a TABLE_DUMP_V2 injection can). A pad route follows (gobgp
    3.10 loses the tail of an injection, see ribflow.mrt.tables)."""
    structure = struct.pack("!BHBBBBBB", 1, 6, 32, 16, 16, 0, 16, 64)
    info = b"\x00" + ipaddress.IPv6Address(SID).packed + struct.pack("!BHB", 0, 19, 0) + structure
    sub = struct.pack("!BH", 1, len(info)) + info
    tlv = struct.pack("!BH", 5, len(sub) + 1) + b"\x00" + sub
    base = attr(0x40, 1, b"\x00") + attr(0x40, 2, b"")
    attrs = base + attr(0x40, 3, ipaddress.IPv4Address("192.0.2.40").packed) + attr(0xC0, 40, tlv)
    pad = base + attr(0x40, 3, ipaddress.IPv4Address("192.0.2.250").packed)
    entries = [
        RibEntry(ipaddress.IPv4Network("10.40.0.0/24"), attrs, GOBGP, 65001),
        RibEntry(ipaddress.IPv4Network("100.64.0.0/32"), pad, GOBGP, 65001),
    ]
    path = lab.workdir / "sid.mrt"
    write_table_dump_v2(path, entries, tail_repeat=3000)
    lab.gobgp("mrt", "inject", "global", str(path))


def load_gobgp(lab: Lab) -> None:
    rib = ("global", "rib", "-a")
    lab.gobgp(*rib, "ipv4", "add", "10.1.0.0/24", "nexthop", "2001:db8::1")  # RFC 8950
    # two VRFs with the same prefix; one VPNv4 route with an IPv6 next hop
    lab.gobgp(*rib, "vpnv4", "add", "10.2.0.0/24", "label", "100", "rd", "65001:10",
              "rt", "65001:10", "nexthop", "2001:db8::2", "med", "10")  # fmt: skip
    lab.gobgp(*rib, "vpnv4", "add", "10.2.0.0/24", "label", "200", "rd", "65001:20",
              "rt", "65001:20", "nexthop", "192.0.2.20", "local-pref", "120")  # fmt: skip
    lab.gobgp(
        *rib,
        "vpnv4",
        "add",
        "10.6.0.0/24",
        "label",
        "600",
        "rd",
        "0.100:7",
        "rt",
        "65001:60",
        "nexthop",
        "192.0.2.66",
    )  # fmt: skip  (type 2, both < 65536)
    lab.gobgp(*rib, "vpnv6", "add", "2001:db8:a::/48", "label", "300", "rd", "192.0.2.9:7",
              "rt", "65001:30", "nexthop", "2001:db8::3")  # fmt: skip
    lab.gobgp(*rib, "ipv4-mpls", "add", "10.3.0.0/24", "16/17", "nexthop", "192.0.2.33")
    lab.gobgp(*rib, "ipv6-mpls", "add", "2001:db8:3::/48", "18", "nexthop", "2001:db8::33")
    inject_prefix_sid(lab)


@pytest.fixture(scope="module")
def lab(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("bgp-vpn")
    topic = f"test-bgp-vpn-{os.getpid()}-{int(time.time())}"
    the_lab = Lab(kafka_broker, topic, free_port(), workdir)
    daemons: list[Daemon] = []
    try:
        conf = workdir / "gobgpd.toml"
        exa = Peer(EXA, hold_time=30)
        conf.write_text(RouterConfig(GOBGP, "10.0.4.21", 65001, (exa,), GOBGP_FAMILIES).toml())
        need("gobgpd")
        argv = gobgpd_argv(conf, f"{GOBGP}:{the_lab.grpc}")
        daemons.append(Daemon("gobgpd", argv, workdir / "gobgpd.log"))
        wait_for("gobgpd's API", lambda: _answers(the_lab), 30)
        load_gobgp(the_lab)
        wait_for("gobgp's RIB", lambda: "10.40.0.0/24" in the_lab.gobgp("global", "rib"), 30)
        bird_conf = workdir / "bird.conf"
        bird_conf.write_text(BIRD_CONF.format(log=workdir / "bird.log", bird=BIRD, exa=EXA))
        bird_cmd = [need("bird"), "-f", "-c", str(bird_conf), "-s", str(workdir / "bird.ctl")]
        bird = Daemon("bird", bird_cmd, workdir / "bird.out")
        daemons.append(bird)
        wait_for("BIRD", lambda: (workdir / "bird.ctl").exists() or not bird.alive(), 30)
        assert bird.alive(), bird.tail()
        env = speaker_env(
            kafka_broker,
            topic,
            workdir,
            BGP_LOCAL_ADDRESS=EXA,
            BGP_ROUTER_ID="10.0.4.20",
            BGP_NEIGHBORS=f"{GOBGP},{BIRD}",
            BGP_FAMILIES=FAMILIES,
            METRICS_PORT=str(free_port()),
        )
        daemons.append(start_speaker(env, workdir))
        yield the_lab
    finally:
        for d in reversed(daemons):
            d.stop()
        delete_topics(kafka_broker, topic, f"{topic}-dlq")


def _answers(lab: Lab) -> bool:
    cmd = [need("gobgp"), "-u", GOBGP, "-p", str(lab.grpc), "global"]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def routes(events: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
    """(prefix, rd) -> {family, next_hop, labels, attrs} of every announce (last one wins)."""
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    for e in events:
        if e["type"] != "update":
            continue
        for group in e["announce"]:
            for n in group["nlri"]:
                out[(n["prefix"], n.get("rd"))] = {
                    "family": group["family"],
                    "next_hop": group["next_hop"],
                    "labels": n.get("labels"),
                    "attrs": e["attrs"],
                }
    return out


def pmacct_rd(rd: dict[str, Any]) -> str:
    """gobgp's RD object as pmacct's text."""
    return f"{rd['type']}:{rd['admin']}:{rd['assigned']}"


def gobgp_view(lab: Lab, family: str) -> list[dict[str, Any]]:
    """The best path of each destination of gobgp's RIB, flattened: prefix, rd, labels,
    next hop, MED, local-pref, route targets (JSON of ``gobgp global rib -a FAMILY -j``)."""
    out = []
    for paths in json.loads(lab.gobgp("global", "rib", "-a", family, "-j")).values():
        (path,) = [p for p in paths if p.get("best")]
        attrs = {a["type"]: a for a in path["attrs"]}
        nlri = path["nlri"]
        rts = [
            f"target:{c['value']}"
            for c in attrs.get(16, {}).get("value", [])
            if c.get("subtype") == 2
        ]
        next_hop = attrs[14]["nexthop"] if 14 in attrs else attrs[3]["nexthop"]
        out.append(
            {
                "prefix": nlri["prefix"],
                "rd": pmacct_rd(nlri["rd"]) if "rd" in nlri else None,
                "labels": nlri.get("labels"),
                "next_hop": next_hop,
                "med": attrs.get(4, {}).get("metric"),
                "local_pref": attrs.get(5, {}).get("value"),
                "rts": rts or None,
                "attrs": attrs,
            }
        )
    return out


def gobgp_done(lab: Lab) -> list[dict[str, Any]] | None:
    evs = lab.events(GOBGP)
    got = routes(evs)
    want = {("10.1.0.0/24", None), ("10.2.0.0/24", "0:65001:20"), ("10.40.0.0/24", None)}
    want |= {("2001:db8:3::/48", None), ("2001:db8:a::/48", "1:192.0.2.9:7")}
    return evs if want <= set(got) else None


def test_gobgp_vpn_labelled_and_rfc8950_routes_match_the_routers_view(lab: Lab) -> None:
    events = wait_for("gobgp's routes in bgp-updates", lambda: gobgp_done(lab), 120)
    got = routes(events)
    checked = 0
    for family, ours in (
        ("vpnv4", "ipv4 mpls-vpn"),
        ("vpnv6", "ipv6 mpls-vpn"),
        ("ipv4-mpls", "ipv4 nlri-mpls"),
        ("ipv6-mpls", "ipv6 nlri-mpls"),
        ("ipv4", "ipv4 unicast"),
    ):
        for want in gobgp_view(lab, family):
            if want["prefix"] == "100.64.0.0/32":
                continue  # the MRT injection's pad route
            route = got[(want["prefix"], want["rd"])]
            assert route["family"] == ours, want
            assert route["next_hop"] == want["next_hop"], want
            assert route["labels"] == want["labels"], want
            assert route["attrs"].get("med") == want["med"], want
            assert route["attrs"].get("local_pref", 100) == (want["local_pref"] or 100), want
            assert route["attrs"].get("ext_communities") == want["rts"], want
            checked += 1
    assert checked == 8  # 3 VPNv4 + 1 VPNv6 + 2 labelled + 2 IPv4 (one RFC 8950)
    # the RFC 8950 routes really carry IPv6 next hops, the type-2 RD was told from the wire
    assert got[("10.1.0.0/24", None)]["next_hop"] == "2001:db8::1"
    assert got[("10.2.0.0/24", "0:65001:10")]["next_hop"] == "2001:db8::2"
    assert ("10.6.0.0/24", "2:100:7") in got


def test_prefix_sid_route_keeps_its_update_with_the_routers_sid(lab: Lab) -> None:
    wait_for("gobgp's routes in bgp-updates", lambda: gobgp_done(lab), 120)
    (want,) = [r for r in gobgp_view(lab, "ipv4") if r["prefix"] == "10.40.0.0/24"]
    (tlv,) = want["attrs"][40]["TLVs"]
    (sub,) = tlv["SubTLVs"]
    route = routes(lab.events(GOBGP))[("10.40.0.0/24", None)]
    (service,) = route["attrs"]["raw"]["bgp-prefix-sid"]["l3-service"]
    assert service["sid"] == str(ipaddress.IPv6Address(base64.b64decode(sub["sid"])))
    assert service["endpoint_behavior"] == sub["endpoint_behavior"] == 19
    assert route["next_hop"] == want["next_hop"] == "192.0.2.40"
    assert lab.dlq() == [], "nothing dead-lettered"


BIRD_ROUTE = re.compile(r"^(\S+) (\S+)\s+blackhole")


def bird_view(lab: Lab, table: str) -> dict[tuple[str, str], dict[str, str]]:
    """(prefix, BIRD's RD text) -> BGP attributes of ``birdc show route table T all``."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in lab.birdc("show", "route", "table", table, "all").splitlines():
        m = BIRD_ROUTE.match(line)
        if m:
            current = out.setdefault((m.group(2), m.group(1)), {})
        elif line.strip().startswith("BGP.") and ":" in line:
            name, _, value = line.strip().partition(": ")
            current[name] = value
    return out


def bird_rd(text: str) -> str:
    """BIRD's RD text as pmacct's: BIRD writes type 1 as ip:n, type 2 as asn:n with asn >= 2^16
    and type 0 otherwise (its own RD text parser picks the type the same way)."""
    admin, _, number = text.rpartition(":")
    if "." in admin:
        return f"1:{admin}:{number}"
    return f"{2 if int(admin) > 0xFFFF else 0}:{admin}:{number}"


def test_bird_vpn_routes_match_the_routers_view(lab: Lab) -> None:
    def done() -> dict[tuple[str, str | None], dict[str, Any]] | None:
        got = routes(lab.events(BIRD))
        return got if len([k for k in got if k[1]]) >= 4 else None

    got = wait_for("BIRD's VPN routes", done, 120)
    channel_next_hop = {"vt4": "2001:db8::6", "vt6": "2001:db8::7"}  # BIRD's export config
    checked = 0
    for table, family in (("vt4", "ipv4 mpls-vpn"), ("vt6", "ipv6 mpls-vpn")):
        for (prefix, rd), attrs in bird_view(lab, table).items():
            route = got[(prefix, bird_rd(rd))]
            assert route["family"] == family
            assert route["next_hop"] == channel_next_hop[table]
            assert route["labels"] == [3]  # BIRD's implicit null for a route without labels
            path = [a for seg in route["attrs"]["as_path"] for a in seg["asns"]]
            assert " ".join(map(str, path)) == attrs["BGP.as_path"]
            rts = [f"(rt, {c.replace('target:', '').replace(':', ', ')})"
                   for c in route["attrs"].get("ext_communities", [])]  # fmt: skip
            assert " ".join(rts) == attrs.get("BGP.ext_community", "")
            if "BGP.med" in attrs:
                assert route["attrs"]["med"] == int(attrs["BGP.med"])
            checked += 1
    assert checked == 4
    assert got[("10.1.0.0/24", None)]["next_hop"] == "2001:db8::5"  # RFC 8950 from BIRD


def test_sessions_stayed_up(lab: Lab) -> None:
    wait_for("gobgp's routes in bgp-updates", lambda: gobgp_done(lab), 120)
    for router in (GOBGP, BIRD):
        sessions = [(e["state"], e["reason"]) for e in lab.events(router) if e["type"] == "session"]
        # the bridge's start-up 'down', then connected/up, and nothing after
        assert sessions[0] == ("down", "bridge-restart"), sessions
        assert [s for s, _ in sessions[1:]] in (["connected", "up"], ["up"]), sessions
    state = json.loads(lab.gobgp("neighbor", EXA, "-j"))
    assert state["state"]["session_state"] in (6, "established"), state["state"]
    assert "Established" in lab.birdc("show", "protocols", "exabgp")
