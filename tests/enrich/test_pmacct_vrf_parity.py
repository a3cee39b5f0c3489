"""L3VPN enrichment beside pmacct: nfacctd and ribflow on the same BGP routes and the same export.

One gobgpd route reflector (127.0.4.61) holds two VRFs with the same prefix (RD 0:65001:10 and
0:65001:20) and the prefix in its global table, and feeds nfacctd's BGP daemon (127.0.4.62) and
ExaBGP (127.0.4.63, bridge -> bgp-updates). One IPFIX export (from 127.0.4.64) with three flows
that differ only in their input interface goes to nfacctd and to ribflow's collector; both read
the same pmacct ``flow_to_rd_map`` file (in=7 -> VRF B, in=8 -> VRF A, in=9 unmapped). nfacctd's
JSON is the expected output, field by field. The one difference, explained: for a flow without
an RD pmacct writes ``"mpls_vpn_rd": "0:0:0"`` while ribflow leaves the key out.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.lab.router import Peer, RouterConfig
from tests.bgp.lab import kcat_read, speaker_env, start_speaker
from tests.enrich.daemons import gobgp, gobgpd, nfacctd, nfacctd_bgp_conf, started
from tests.enrich.kafka_io import EnricherProcess, enricher_env, read_json, running
from tests.fixtures.kafka import free_port
from tests.fixtures.waiting import next_whole_second, wait_for
from tests.flow.collector_harness import collector
from tests.flow.netflow_support import data_set, ipfix_packet, ipfix_template_set

pytestmark = pytest.mark.integration

ROUTER, ROUTER_ID, NFACCTD, EXABGP, AGENT = (
    "127.0.4.61", "10.0.4.61", "127.0.4.62", "127.0.4.63", "127.0.4.64"
)  # fmt: skip
ASN = 65001
GRPC = free_port()
COMPARED = [
    "as_src", "as_dst", "peer_as_src", "peer_as_dst", "peer_ip_dst", "as_path", "as_path_src",
    "local_pref", "local_pref_src", "med", "med_src", "comms", "comms_src", "net_src",
    "mask_src", "net_dst", "mask_dst",
]  # fmt: skip

NFACCTD_REST = """flow_to_rd_map: {d}/flow_to_rd.map
bgp_peer_src_as_type: bgp
bgp_src_as_path_type: bgp
bgp_src_std_comm_type: bgp
bgp_src_local_pref_type: bgp
bgp_src_med_type: bgp
plugins: print[full]
aggregate[full]: peer_src_ip, src_host, dst_host, src_net, dst_net, src_mask, dst_mask, src_as, \
dst_as, peer_src_as, peer_dst_as, peer_dst_ip, as_path, src_as_path, local_pref, src_local_pref, \
med, src_med, std_comm, src_std_comm, src_port, dst_port, proto, mpls_vpn_rd
print_output[full]: json
print_output_file[full]: {d}/enriched-full.json
print_output_file_append[full]: true
print_refresh_time[full]: 2
"""

ROUTES = [
    ("ipv4", "10.2.0.0/24", "aspath 65030 nexthop 192.0.2.30 community 65001:30"),
    ("ipv4", "10.9.0.0/16", "aspath 65039 nexthop 192.0.2.39"),
    ("vpnv4", "10.2.0.0/24", "label 100 rd 65001:10 rt 65001:10 aspath 65010 nexthop 192.0.2.10 "
     "med 10 community 65001:10"),
    ("vpnv4", "10.9.0.0/16", "label 101 rd 65001:10 rt 65001:10 aspath 65019 nexthop 192.0.2.19"),
    ("vpnv4", "10.2.0.0/24", "label 200 rd 65001:20 rt 65001:20 aspath 65020,65021 "
     "nexthop 192.0.2.20 local-pref 120"),
]  # fmt: skip
FLOWS = [(2001, 7), (2002, 8), (2003, 9)]  # (source port, input interface)


def export(now_ms: int) -> bytes:
    """IPFIX (RFC 7011): three flows 10.9.0.1 -> 10.2.0.5 differing in ingressInterface."""
    fields = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (10, 4), (14, 4), (1, 8), (2, 8),
              (152, 8), (153, 8)]  # fmt: skip
    src, dst = ipaddress.IPv4Address("10.9.0.1").packed, ipaddress.IPv4Address("10.2.0.5").packed
    data = b"".join(
        src
        + dst
        + struct.pack("!BHHIIQQQQ", 6, port, 443, in_if, 3, 1500, 3, now_ms - 1000, now_ms)
        for port, in_if in FLOWS
    )
    return ipfix_packet(
        ipfix_template_set(300, fields), data_set(300, data), secs=now_ms // 1000, seq=1
    )


def _established(neighbor: str) -> bool:
    try:
        info = orjson.loads(gobgp(ROUTER, GRPC, "neighbor", neighbor, "-j", timeout=10))
    except AssertionError:
        return False
    return info.get("state", {}).get("session_state") in (6, "established", "ESTABLISHED")


def test_vrf_enrichment_agrees_with_nfacctd(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=2)
    (tmp_path / "bgp_agent.map").write_text(f"bgp_ip={ROUTER_ID} ip={AGENT}\n")
    rd_map = tmp_path / "flow_to_rd.map"
    rd_map.write_text(f"id=0:65001:20 ip={AGENT} in=7\nid=0:65001:10 ip={AGENT} in=8\n")
    agent_map = tmp_path / "agent.map"
    agent_map.write_text(f"bgp_ip={ROUTER} ip={AGENT}\n")
    families = ("ipv4-unicast", "l3vpn-ipv4-unicast")
    peers = (
        Peer(EXABGP, connect_retry=2),
        Peer(NFACCTD, passive=False, graceful_restart=False, connect_retry=2),
    )
    router = gobgpd(
        tmp_path, ROUTER, GRPC, RouterConfig(ROUTER, ROUTER_ID, ASN, peers, families).toml()
    )
    pmacct = nfacctd(tmp_path, nfacctd_bgp_conf(tmp_path, NFACCTD, "10.0.4.62", ASN, NFACCTD_REST))
    env = speaker_env(
        kafka_broker,
        t["bgp"],
        tmp_path,
        PARTITIONS="2",
        BGP_LOCAL_ADDRESS=EXABGP,
        BGP_ROUTER_ID="10.0.4.63",
        BGP_NEIGHBORS=ROUTER,
        BGP_FAMILIES="ipv4 unicast,ipv4 mpls-vpn",
        METRICS_PORT=str(free_port()),
    )
    speaker = None
    with started(router, pmacct):
        try:
            wait_for("nfacctd's BGP session", lambda: _established(NFACCTD), 60)
            for family, prefix, opts in ROUTES:
                gobgp(ROUTER, GRPC, "global", "rib", "-a", family, "add", prefix, *opts.split())
            speaker = start_speaker(env, tmp_path)

            def routes_in() -> bool:
                seen = {
                    (n.get("rd"), n["prefix"])
                    for m in kcat_read(kafka_broker, t["bgp"])
                    if m["value"]["type"] == "update"
                    for g in m["value"]["announce"]
                    for n in g["nlri"]
                }
                return len(seen) >= len(ROUTES)  # every distinct route, not a count of NLRIs

            wait_for("the routes in bgp-updates", routes_in, 90)
            listening = f"waiting for NetFlow/IPFIX data on {NFACCTD}:2100"
            wait_for(listening, lambda: listening in (tmp_path / "nfacctd.log").read_text(), 60)
            packet = export(next_whole_second())  # stamped after every route
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((AGENT, 0))
                s.sendto(packet, (NFACCTD, 2100))
            out_file = tmp_path / "enriched-full.json"

            def theirs() -> list[dict[str, Any]]:
                if not out_file.exists():
                    return []
                return [orjson.loads(x) for x in out_file.read_text().splitlines() if x]

            wait_for("nfacctd's records", lambda: len(theirs()) >= len(FLOWS), 60)
            expected = {r["port_src"]: r for r in theirs()}
            coll_env = {
                "FLOWS_TOPIC": t["flows"],
                "BGP_UPDATES_TOPIC": t["bgp"],
                "PARTITIONS": "2",
                "AGENT_MAP_FILE": str(agent_map),
            }
            proc = EnricherProcess(
                enricher_env(
                    kafka_broker, t, tmp_path / "state", t["group"], FLOW_TO_RD_MAP=str(rd_map)
                ),
                tmp_path / "enricher.log",
            )
            with collector(tmp_path, kafka_broker, coll_env) as coll, running(proc):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((AGENT, 0))
                    s.sendto(packet, ("127.0.0.1", coll.port))
                ours = read_json(kafka_broker, t["enriched"], len(FLOWS), timeout=120)
                assert len(ours) == len(FLOWS), proc.log()[-3000:] + coll.log_text()[-2000:]
        finally:
            if speaker is not None:
                speaker.stop()
    mine = {r["port_src"]: r for r in ours}
    assert set(mine) == set(expected) == {p for p, _ in FLOWS}
    differences = {}
    for port, want in expected.items():
        got = mine[port]
        diff = {k: (got[k], want[k]) for k in COMPARED if got[k] != want[k]}
        # pmacct writes 0:0:0 for "no RD"; ribflow leaves mpls_vpn_rd out
        rd = got.get("mpls_vpn_rd", "0:0:0")
        if rd != want["mpls_vpn_rd"]:
            diff["mpls_vpn_rd"] = (rd, want["mpls_vpn_rd"])
        if diff:
            differences[port] = diff
    assert not differences, differences
    # the comparison covered both VRFs and the global table, with different answers
    assert {r["mpls_vpn_rd"] for r in expected.values()} == {"0:65001:20", "0:65001:10", "0:0:0"}
    assert len({r["as_path"] for r in expected.values()}) == 3
