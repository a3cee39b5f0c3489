"""ADD-PATH path choice by the export's BGP next hop, end to end with real components only.

gobgpd (route reflector, ADD-PATH send) announces several paths for one IPv4 and one IPv6
prefix, with different next hops, AS paths, local-prefs, MEDs and communities, plus a more
specific IPv4 prefix with a single path. ExaBGP and the bridge (``ribflow exabgp run``) put them
in a real Kafka ``bgp-updates``. An IPFIX export built here to the IANA registry (RFC 7011;
IE 18 bgpNextHopIPv4Address, IE 63 bgpNextHopIPv6Address) names each path's next hop, and one
next hop per family that no path has; it goes by UDP to the real collector (``flows``), whose
decoded next hops are checked against tshark's decode of the same bytes, then through the real
enricher to ``flows-enriched``, read back with kcat.

Expected values come from gobgp's own adj-out (what it really sent ExaBGP), the path matched by
next hop; of the prefixes covering a destination, the longest that has a path via the flow's
next hop (pmacct's walk of its tree: a flow to the /25 naming a next hop only the /24 has gets
the /24). A next hop that no covering prefix has gets the longest match's best path (highest
local-pref, shortest AS path, lowest origin, lowest MED, lowest path id; pmacct gives no route
there): the test computes it from the adj-out attributes and checks it is gobgp's own best too.

Loopback addresses of this module: ExaBGP 127.0.8.10, gobgpd 127.0.8.11.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ribflow.flow.pcap import Datagram
from ribflow.lab.errors import StartFailed
from ribflow.lab.router import Gobgp, Peer, RouterConfig, gobgpd_argv, path_attributes
from ribflow.schemas import validate
from tests.bgp.lab import Daemon, kcat_read, need, speaker_env, start_speaker
from tests.enrich.kafka_io import EnricherProcess, enricher_env, read_json, running
from tests.fixtures.kafka import free_port
from tests.fixtures.waiting import next_whole_second, wait_for
from tests.flow.collector_harness import collector, kcat_records
from tests.flow.netflow_support import data_set, ipfix_packet, ipfix_template_set
from tests.flow.pcapwriter import write_pcap
from tests.flow.tshark import expected_records

pytestmark = pytest.mark.integration

EXA, GOBGP = "127.0.8.10", "127.0.8.11"
EXPORTER = "127.0.0.1"  # where collector_harness sends from; the agent map makes it gobgpd's
P4, P4_MORE, P6 = "203.0.113.0/24", "203.0.113.128/25", "2001:db8:100::/48"
ORIGIN_RANK = {"i": 0, "e": 1, "?": 2}

# (prefix, path identifier, gobgp attribute arguments): three IPv4 paths, the best (local-pref
# 200) neither the first announced nor the lowest identifier; two IPv6 paths likewise.
ROUTES: list[tuple[str, int, list[str]]] = [
    (P4, 10, ["origin", "igp", "aspath", "65010,65011,65012", "nexthop", "192.0.2.1",
              "med", "5", "community", "65001:10"]),
    (P4, 20, ["origin", "igp", "aspath", "65020,65021", "nexthop", "192.0.2.2",
              "local-pref", "200", "community", "65001:20,65001:21",
              "large-community", "65001:20:1"]),
    (P4, 30, ["origin", "egp", "aspath", "65030", "nexthop", "192.0.2.3",
              "local-pref", "150", "med", "30"]),
    (P4_MORE, 40, ["origin", "igp", "aspath", "65040", "nexthop", "192.0.2.3"]),
    (P6, 10, ["origin", "igp", "aspath", "65060", "nexthop", "2001:db8::1",
              "med", "6", "community", "65001:60", "large-community", "65001:60:1,65001:60:2"]),
    (P6, 20, ["origin", "igp", "aspath", "65070,65071", "nexthop", "2001:db8::2",
              "local-pref", "300", "community", "65001:70"]),
]  # fmt: skip

# (source, destination, source port (the case's id), bgp next hop in the export)
FLOWS4 = [
    ("198.51.100.1", "203.0.113.5", 2001, "192.0.2.1"),
    ("198.51.100.1", "203.0.113.5", 2002, "192.0.2.2"),
    ("198.51.100.1", "203.0.113.5", 2003, "192.0.2.3"),
    ("198.51.100.1", "203.0.113.5", 2004, "192.0.2.99"),  # no path's: the best
    # covered by the /25 too, whose one path is via 192.0.2.3
    ("198.51.100.1", "203.0.113.200", 2005, "192.0.2.3"),  # the /25's path
    ("198.51.100.1", "203.0.113.200", 2006, "192.0.2.1"),  # the /24's path via 192.0.2.1
    ("198.51.100.1", "203.0.113.200", 2007, "192.0.2.99"),  # no prefix's: the /25's best
]
FLOWS6 = [
    ("2001:db8:ffff::1", "2001:db8:100::5", 2011, "2001:db8::1"),
    ("2001:db8:ffff::1", "2001:db8:100::5", 2012, "2001:db8::2"),
    ("2001:db8:ffff::1", "2001:db8:100::5", 2013, "2001:db8::99"),  # no path's: the best
]


def ipfix_export(now_ms: int) -> bytes:
    """One IPFIX message: an IPv4 and an IPv6 template (IANA IEs) and their data records."""
    common = [(4, 1), (7, 2), (11, 2), (1, 8), (2, 8)]  # protocol, ports, octets, packets
    times = [(152, 8), (153, 8)]  # flowStart/EndMilliseconds
    v4 = [(8, 4), (12, 4), *common, (18, 4), *times]  # IE 18 bgpNextHopIPv4Address
    v6 = [(27, 16), (28, 16), *common, (63, 16), *times]  # IE 63 bgpNextHopIPv6Address

    def body(flows: list[tuple[str, str, int, str]]) -> bytes:
        return b"".join(
            ipaddress.ip_address(src).packed
            + ipaddress.ip_address(dst).packed
            + struct.pack("!BHHQQ", 6, sport, 443, 1500, 3)
            + ipaddress.ip_address(nh).packed
            + struct.pack("!QQ", now_ms - 1000, now_ms)
            for src, dst, sport, nh in flows
        )

    sets = [ipfix_template_set(300, v4), ipfix_template_set(301, v6)]
    sets += [data_set(300, body(FLOWS4)), data_set(301, body(FLOWS6))]
    return ipfix_packet(*sets, secs=now_ms // 1000, seq=1)


def adj_out(gobgp: Gobgp) -> dict[str, dict[str, dict[str, Any]]] | None:
    """prefix -> next hop -> the fields a flow through that path must get, from what gobgpd
    reports having sent ExaBGP (``gobgp neighbor EXA adj-out -j``); None until all is sent."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for family in ("ipv4", "ipv6"):
        try:
            text = gobgp.run("neighbor", EXA, "adj-out", "-a", family, "-j")
        except StartFailed:  # the session is not up yet
            return None
        for prefix, paths in json.loads(text or "{}").items():
            for path in paths:
                a = path_attributes(path)
                by_type = {x["type"]: x for x in path["attrs"]}
                large = [f"{c['ASN']}:{c['LocalData1']}:{c['LocalData2']}"
                         for c in by_type.get(32, {}).get("value", [])]  # fmt: skip
                out.setdefault(prefix, {})[a["next_hop"]] = {
                    "as_path": "_".join(map(str, a["as_path"])),
                    "as_dst": a["as_path"][-1],
                    "peer_as_dst": a["as_path"][0],
                    "peer_ip_dst": a["next_hop"],
                    "local_pref": a["local_pref"] or 0,  # pmacct's 0 when absent
                    "med": a["med"] or 0,
                    "comms": "_".join(a["communities"]),
                    "lcomms": "_".join(large),
                    "_origin": by_type[1]["value"],
                    "_rank_lp": 100 if a["local_pref"] is None else a["local_pref"],
                }
    want = {p: sum(r[0] == p for r in ROUTES) for p in (P4, P4_MORE, P6)}
    return out if {p: len(out.get(p, {})) for p in want} == want else None


def rank(p: dict[str, Any]) -> tuple[int, int, int, int]:
    """The enricher's best-path order (apps/enricher/README.md): highest local-pref (100 when
    absent), shortest AS path, lowest origin (IGP, EGP, incomplete), lowest MED; then the
    lowest path id, which the paths of this test never need (asserted)."""
    return (-p["_rank_lp"], len(p["as_path"].split("_")), p["_origin"], p["med"])


def best(paths: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ranks = sorted(rank(p) for p in paths.values())
    assert len(ranks) < 2 or ranks[0] != ranks[1], "a tie only the path id breaks"
    return min(paths.values(), key=rank)


def expected(
    sent: dict[str, dict[str, dict[str, Any]]], dst: str, next_hop: str
) -> tuple[str, dict[str, Any]]:
    """(prefix, fields) a flow must get, as pmacct walks its tree: of the prefixes covering
    ``dst``, the longest with a path via the flow's next hop, that path; if none has one, the
    longest match's best path (where pmacct would give no route)."""
    covering = sorted(
        (p for p in sent if ipaddress.ip_address(dst) in ipaddress.ip_network(p)),
        key=lambda p: -ipaddress.ip_network(p).prefixlen,
    )
    for prefix in covering:
        if next_hop in sent[prefix]:
            return prefix, sent[prefix][next_hop]
    return covering[0], best(sent[covering[0]])


def gobgp_best(gobgp: Gobgp, family: str, prefix: str) -> str:
    """The next hop of gobgp's own best path for ``prefix``."""
    paths = json.loads(gobgp.run("global", "rib", "-a", family, prefix, "-j"))[prefix]
    (chosen,) = [p for p in paths if p.get("best")]
    return str(path_attributes(chosen)["next_hop"])


def test_flows_take_the_add_path_path_their_export_names(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2)
    grpc = free_port()
    for tool in ("gobgpd", "gobgp", "tshark", "kcat"):
        need(tool)  # fail, never skip, without the real ones
    agent_map = tmp_path / "agent.map"
    agent_map.write_text(f"bgp_ip={GOBGP} ip={EXPORTER}\n")
    daemons: list[Daemon] = []
    try:
        conf = tmp_path / "gobgpd.toml"
        peer = Peer(EXA, add_paths_send=8)
        conf.write_text(RouterConfig(GOBGP, "10.0.8.11", 65001, (peer,)).toml())
        daemons.append(Daemon("gobgpd", gobgpd_argv(conf, f"{GOBGP}:{grpc}"), tmp_path / "g.log"))
        gobgp = Gobgp(GOBGP, grpc, timeout=120)
        wait_for("gobgpd's API", gobgp.answers, 30)
        for prefix, ident, args in ROUTES:
            family = "ipv6" if ":" in prefix else "ipv4"
            gobgp.run("global", "rib", "-a", family, "add", prefix, "identifier", str(ident), *args)
        env = speaker_env(
            kafka_broker,
            t["bgp"],
            tmp_path,
            PARTITIONS="2",
            BGP_LOCAL_ADDRESS=EXA,
            BGP_ROUTER_ID="10.0.8.10",
            BGP_NEIGHBORS=GOBGP,
            METRICS_PORT=str(free_port()),
        )
        daemons.append(start_speaker(env, tmp_path))

        sent = wait_for("every path in gobgpd's adj-out", lambda: adj_out(gobgp), 120)
        # the IPv4 and IPv6 best paths, by the enricher's rule and by gobgp's own decision
        for family, prefix in (("ipv4", P4), ("ipv6", P6)):
            assert best(sent[prefix])["peer_ip_dst"] == gobgp_best(gobgp, family, prefix)
            ids = {args[args.index("nexthop") + 1]: i for p, i, args in ROUTES if p == prefix}
            assert ids[best(sent[prefix])["peer_ip_dst"]] > min(ids.values())  # not the first

        def all_paths_in_kafka() -> bool:
            got: dict[str, set[int]] = {}
            for m in kcat_read(kafka_broker, t["bgp"]):
                v = m["value"]
                if v["type"] == "update" and v["router"] == GOBGP:
                    for g in v["announce"]:
                        for n in g["nlri"]:
                            got.setdefault(n["prefix"], set()).add(n["path_id"])
            return all(len(got.get(p, ())) == len(nhs) for p, nhs in sent.items())

        wait_for("every ADD-PATH path in bgp-updates", all_paths_in_kafka, 120)

        now = next_whole_second()  # the export is stamped after every path
        export = ipfix_export(now)
        coll_env = {
            "FLOWS_TOPIC": t["flows"],
            "BGP_UPDATES_TOPIC": t["bgp"],
            "PARTITIONS": "2",
            "AGENT_MAP_FILE": str(agent_map),
        }
        cases = FLOWS4 + FLOWS6
        enricher = EnricherProcess(
            enricher_env(kafka_broker, t, tmp_path / "state", t["group"]),
            tmp_path / "enricher.log",
        )
        def rib_loaded() -> bool:  # the enricher's bgp-rib table holds every path sent
            got = {
                (m["value"]["prefix"], m["value"]["path_id"])
                for m in kcat_read(kafka_broker, t["rib"])
                if m["value"] is not None and m["value"]["router"] == GOBGP
            }
            return sum(len(nhs) for nhs in sent.values()) <= len(got)

        with collector(tmp_path, kafka_broker, coll_env) as coll, running(enricher):
            # the flows are about path choice, not start-up order: send them once the enricher
            # has applied the routes (its table topic shows them)
            wait_for("the enricher's RIB in bgp-rib", rib_loaded, 120)
            coll.send([export])
            _, decoded = kcat_records(kafka_broker, t["flows"], len(cases))
            out = read_json(kafka_broker, t["enriched"], len(cases), timeout=120)
            assert len(out) == len(cases), enricher.log()[-3000:] + coll.log_text()[-3000:]
            port = coll.port

        # the collector's decoded next hops are tshark's decode of the same datagram
        pcap = tmp_path / "export.pcap"
        write_pcap(pcap, [Datagram(now, EXPORTER, 40000, EXPORTER, port, export)])
        tshark = {r["src_port"]: r for r in expected_records(pcap, cflow_ports=(port,))}
        ours = {r["src_port"]: r for r in decoded}
        assert set(tshark) == set(ours) == {c[2] for c in cases}
        for _src, dst, sport, nh in cases:
            seen = (ours[sport]["dst_addr"], ours[sport]["bgp_next_hop"])
            assert seen == (tshark[sport]["dst_addr"], tshark[sport]["bgp_next_hop"]), sport
            assert seen == (dst, nh)

        by_port = {o["port_src"]: o for o in out}
        for _src, dst, sport, nh in cases:
            o = by_port[sport]
            validate("flows-enriched.v1", o)
            prefix, want = expected(sent, dst, nh)
            net = ipaddress.ip_network(prefix)
            assert (o["net_dst"], o["mask_dst"]) == (str(net.network_address), net.prefixlen), o
            assert o["peer_ip_src"] == EXPORTER, o
            for name, value in want.items():
                if not name.startswith("_"):
                    assert o[name] == value, (sport, nh, name, o)
        # the named path won where the prefix has several, not the best: the choice mattered
        for sport, nh in ((2001, "192.0.2.1"), (2003, "192.0.2.3"), (2011, "2001:db8::1")):
            assert by_port[sport]["peer_ip_dst"] == nh
        # a next hop no path has: the best; a next hop of the covering /24 only: the /24's path
        assert by_port[2004]["peer_ip_dst"] == "192.0.2.2"
        assert by_port[2013]["peer_ip_dst"] == "2001:db8::2"
        assert (by_port[2006]["mask_dst"], by_port[2006]["as_path"]) == (24, "65010_65011_65012")
        assert (by_port[2007]["mask_dst"], by_port[2007]["as_path"]) == (25, "65040")
    finally:
        for d in reversed(daemons):
            d.stop()
