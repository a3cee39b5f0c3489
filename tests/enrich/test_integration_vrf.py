"""L3VPN and ADD-PATH enrichment end to end with real components: gobgpd and BIRD 2 -> ExaBGP ->
bridge -> real Kafka -> the real enricher process -> flows-enriched, read back with kcat.

gobgpd holds two VRFs with the same prefix (RD 0:65001:10 and 0:65001:20, one with an IPv6 next
hop, RFC 8950) and the prefix in its global table too; BIRD announces the same prefix with a
path of its own. Flow records are produced to ``flows`` directly (the collector's IE 90 decoding
is another branch's work): some carry ``mpls_vpn_rd``, some get their RD from a
FLOW_TO_RD_MAP file, some have none. Each must get the route of its own table, and the expected
values come from the routers' own views: ``gobgp global rib -a vpnv4|ipv4 -j`` and ``birdc``.

Loopback addresses of this module: ExaBGP 127.0.4.40, gobgpd 127.0.4.41, BIRD 127.0.4.42.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ribflow.lab.router import Peer, RouterConfig, gobgpd_argv
from ribflow.schemas import validate
from tests.bgp.lab import Daemon, kcat_read, need, speaker_env, start_speaker, wait_for
from tests.enrich.kafka_io import EnricherProcess, enricher_env, produce, read_json, running
from tests.fixtures.kafka import free_port
from tests.rib.builders import flow, flows_message

pytestmark = pytest.mark.integration

EXA, GOBGP, BIRD = "127.0.4.40", "127.0.4.41", "127.0.4.42"
EXPORTER = "127.0.4.41"  # gobgpd's exporter (flows keyed by the router, as the agent map does)
RD_A, RD_B = "0:65001:10", "0:65001:20"
FAMILIES = "ipv4 unicast,ipv6 unicast,ipv4 mpls-vpn,ipv6 mpls-vpn"

BIRD_CONF = """
router id 10.0.4.42;
log "{log}" all;
protocol device {{ }}
protocol static s4 {{
  ipv4 {{ import all; }};
  route 10.2.0.0/24 blackhole {{ bgp_path.prepend(65040); bgp_path.prepend(65041); }};
  route 10.9.0.0/16 blackhole {{ bgp_path.prepend(65049); }};
}}
protocol bgp exabgp {{
  local {bird} as 65001;
  neighbor {exa} as 65001;
  passive on;
  strict bind on;
  ipv4 {{ import all; export all; next hop address 192.0.2.42; }};
}}
"""


def load_gobgp(gobgp: Callable[..., str]) -> None:
    rib = ("global", "rib", "-a")
    gobgp(*rib, "ipv4", "add", "10.2.0.0/24", "aspath", "65030", "nexthop", "192.0.2.30",
          "community", "65001:30")  # fmt: skip
    gobgp(*rib, "ipv4", "add", "10.9.0.0/16", "aspath", "65039", "nexthop", "192.0.2.39")
    gobgp(*rib, "vpnv4", "add", "10.2.0.0/24", "label", "100", "rd", "65001:10", "rt",
          "65001:10", "aspath", "65010", "nexthop", "2001:db8::10", "med", "10",
          "community", "65001:10")  # fmt: skip
    gobgp(*rib, "vpnv4", "add", "10.9.0.0/16", "label", "101", "rd", "65001:10", "rt",
          "65001:10", "aspath", "65019", "nexthop", "192.0.2.19")  # fmt: skip
    gobgp(*rib, "vpnv4", "add", "10.2.0.0/24", "label", "200", "rd", "65001:20", "rt",
          "65001:20", "aspath", "65020,65021", "nexthop", "192.0.2.20",
          "local-pref", "120")  # fmt: skip


def gobgp_routes(gobgp: Callable[..., str], family: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(rd or '', prefix) -> the enriched fields the route gives, from gobgp's own JSON."""
    out = {}
    for paths in json.loads(gobgp("global", "rib", "-a", family, "-j")).values():
        (path,) = [p for p in paths if p.get("best")]
        attrs = {a["type"]: a for a in path["attrs"]}
        nlri = path["nlri"]
        rd = nlri.get("rd")
        asns = [a for seg in attrs[2]["as_paths"] for a in seg["asns"]]
        comms = [f"{c >> 16}:{c & 0xFFFF}" for c in attrs.get(8, {}).get("communities", [])]
        out[(f"{rd['type']}:{rd['admin']}:{rd['assigned']}" if rd else "", nlri["prefix"])] = {
            "as_path": "_".join(map(str, asns)),
            "as_dst": asns[-1],
            "peer_ip_dst": attrs[14]["nexthop"] if 14 in attrs else attrs[3]["nexthop"],
            "comms": "_".join(comms),
            "med": attrs.get(4, {}).get("metric", 0),
            "local_pref": attrs.get(5, {}).get("value", 100),
        }
    return out


def test_flows_get_their_own_vrfs_route_from_real_routers(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2)
    grpc = free_port()

    def gobgp(*args: str) -> str:
        cmd = [need("gobgp"), "-u", GOBGP, "-p", str(grpc), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(cmd)}: {result.stdout}{result.stderr}"
        return result.stdout

    def birdc(*args: str) -> str:
        cmd = [need("birdc"), "-s", str(tmp_path / "bird.ctl"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout

    rd_map = tmp_path / "flow_to_rd.map"
    rd_map.write_text(f"! in=7 of gobgpd's exporter is in VRF B\nid={RD_B} ip={EXPORTER} in=7\n")
    daemons: list[Daemon] = []
    try:
        conf = tmp_path / "gobgpd.toml"
        families = ("ipv4-unicast", "ipv6-unicast", "l3vpn-ipv4-unicast", "l3vpn-ipv6-unicast")
        conf.write_text(RouterConfig(GOBGP, "10.0.4.41", 65001, (Peer(EXA),), families).toml())
        daemons.append(Daemon("gobgpd", gobgpd_argv(conf, f"{GOBGP}:{grpc}"), tmp_path / "g.log"))
        wait_for("gobgpd", lambda: subprocess.run(
            [need("gobgp"), "-u", GOBGP, "-p", str(grpc), "global"], capture_output=True
        ).returncode == 0, 30)  # fmt: skip
        load_gobgp(gobgp)
        bird_conf = tmp_path / "bird.conf"
        bird_conf.write_text(BIRD_CONF.format(log=tmp_path / "bird.log", bird=BIRD, exa=EXA))
        cmd = [need("bird"), "-f", "-c", str(bird_conf), "-s", str(tmp_path / "bird.ctl")]
        daemons.append(Daemon("bird", cmd, tmp_path / "bird.out"))
        env = speaker_env(
            kafka_broker,
            t["bgp"],
            tmp_path,
            PARTITIONS="2",
            BGP_LOCAL_ADDRESS=EXA,
            BGP_ROUTER_ID="10.0.4.40",
            BGP_NEIGHBORS=f"{GOBGP},{BIRD}",
            BGP_FAMILIES=FAMILIES,
            METRICS_PORT=str(free_port()),
        )
        daemons.append(start_speaker(env, tmp_path))

        def routes_in() -> bool:
            prefixes: dict[str, set[tuple[str | None, str]]] = {GOBGP: set(), BIRD: set()}
            for m in kcat_read(kafka_broker, t["bgp"]):
                v = m["value"]
                if v["type"] == "update" and v["router"] in prefixes:
                    for g in v["announce"]:
                        prefixes[v["router"]] |= {(n.get("rd"), n["prefix"]) for n in g["nlri"]}
            return len(prefixes[GOBGP]) >= 5 and len(prefixes[BIRD]) >= 2

        wait_for("both routers' routes in bgp-updates", routes_in, 120)
        want = gobgp_routes(gobgp, "vpnv4") | gobgp_routes(gobgp, "ipv4")
        assert set(want) == {
            (RD_A, "10.2.0.0/24"), (RD_A, "10.9.0.0/16"), (RD_B, "10.2.0.0/24"),
            ("", "10.2.0.0/24"), ("", "10.9.0.0/16"),
        }  # fmt: skip
        bird_table = birdc("show", "route", "10.2.0.0/24", "all")
        assert "BGP.as_path: 65041 65040" in bird_table, bird_table

        now = int(time.time() * 1000)
        cases: list[tuple[str, dict[str, Any], str]] = []  # (router, record, RD of its table)
        for i, rd in enumerate((RD_A, RD_B, "")):  # the record's own RD (IE 90), or none
            r = flow("10.9.0.1", "10.2.0.5", exporter=EXPORTER, time_ms=now, sport=1000 + i)
            if rd:
                r["mpls_vpn_rd"] = rd
            cases.append((GOBGP, r, rd))
        r = flow("10.9.0.1", "10.2.0.5", exporter=EXPORTER, time_ms=now, sport=1003)
        r["in_if"] = 7  # no RD in the record: the map's
        cases.append((GOBGP, r, RD_B))
        cases.append(
            (BIRD, flow("10.9.0.1", "10.2.0.5", exporter=BIRD, time_ms=now, sport=1004), "")
        )
        messages = [
            (router, flows_message(router, rec["exporter"], [rec]), now) for router, rec, _ in cases
        ]
        env = enricher_env(
            kafka_broker, t, tmp_path / "state", t["group"], FLOW_TO_RD_MAP=str(rd_map)
        )
        proc = EnricherProcess(env, tmp_path / "enricher.log")
        def rib_loaded() -> bool:  # the enricher's bgp-rib table holds both routers' routes
            got = {
                (m["value"]["router"], m["value"].get("rd") or "", m["value"]["prefix"])
                for m in kcat_read(kafka_broker, t["rib"])
                if m["value"] is not None
            }
            return {(GOBGP, rd, prefix) for rd, prefix in want} <= got and any(
                router == BIRD for router, _rd, _prefix in got
            )

        with running(proc):
            # the flows are about table choice, not start-up order: send them once the enricher
            # has applied the routes (its table topic shows them)
            wait_for("the enricher's RIB in bgp-rib", rib_loaded, 120)
            produce(kafka_broker, t["flows"], messages)
            out = read_json(kafka_broker, t["enriched"], len(cases), timeout=120)
            assert len(out) == len(cases), proc.log()[-3000:]
        for o in out:
            validate("flows-enriched.v1", o)
        got = {o["port_src"]: o for o in out}  # each case has its own source port
        assert len(got) == len(cases)
        for router, rec, rd in cases:
            o = got[rec["src_port"]]
            assert o["peer_ip_src"] == rec["exporter"] and o.get("mpls_vpn_rd", "") == rd, o
            if router == BIRD:  # BIRD's own path (birdc above), its configured next hop
                got_bird = (o["as_path"], o["as_dst"], o["peer_ip_dst"], o["as_path_src"])
                assert got_bird == ("65041_65040", 65040, "192.0.2.42", "65049"), o
                continue
            dst, src = want[(rd, "10.2.0.0/24")], want.get((rd, "10.9.0.0/16"))
            for name, value in dst.items():
                assert o[name] == value, (rd, name, o)
            if src is not None:
                assert o["as_path_src"] == src["as_path"], (rd, o)
            else:  # VRF B has no route for the source
                assert (o["as_path_src"], o["net_src"], o["mask_src"]) == ("", "0.0.0.0", 0)
        # the RFC 8950 next hop of VRF A went all the way to the output
        assert got[1000]["peer_ip_dst"] == "2001:db8::10"
    finally:
        for d in reversed(daemons):
            d.stop()
