"""ISP router exports end to end: real collector -> Kafka -> real enricher -> flows-enriched.

The IPFIX exports of tests/flow/isp_exports.py (tunnels, MPLS, RD/VRF tables, L2, SRv6) go
through the `ribflow collector` process; the enricher, with the router's routes in bgp-updates,
writes flows-enriched. Every enriched record must carry exactly what the formatter gives for
our decode of the same datagrams (whose fields tests/flow/test_isp_fields.py checks against
tshark and test_isp_pmacct.py against nfacctd), be enriched by the route of its inner
destination, carry the tag/label of the collector's pre_tag_map, and keep the Kafka timestamp
of its flows message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.flow.dispatch import Dispatcher
from ribflow.rib.prefix import parse_address
from ribflow.schemas import validate
from tests.enrich.kafka_io import EnricherProcess, enricher_env, produce, running
from tests.flow.collector_harness import collector, kcat
from tests.flow.isp_exports import export_packets
from tests.rib.builders import Stream, attrs

pytestmark = pytest.mark.integration

ROUTER = "127.0.0.1"  # the collector harness sends from 127.0.0.1: the fallback router key
ROUTES = {"10.2.0.0/16": (65010, 65020), "198.51.100.0/24": (65030,), "2001:db8:b::/48": (65040,)}
EXTRA_KEYS = ("tunnel_ip_src", "tunnel_ip_dst", "tunnel_ip_proto", "tunnel_port_src",
              "tunnel_port_dst", "mpls_label_stack", "mpls_label_top", "mpls_label_bottom",
              "mpls_stack_depth", "mpls_vpn_rd", "mpls_vpn_rd_origin", "vrf_name",
              "ingress_vrf_name", "egress_vrf_name", "iface_name_in", "iface_name_out",
              "fwd_status", "mac_src", "mac_dst", "etype", "vlan_in", "vlan_out",
              "srv6_seg_ipv6_list", "ip_src", "ip_dst", "port_src", "port_dst", "ip_proto",
              "timestamp_export")  # fmt: skip


def bgp_messages(t0: int) -> list[tuple[str, Any, int]]:
    s = Stream(ROUTER, time_ms=t0)
    out = [(ROUTER, s.session("up"), s.time_ms)]
    for prefix, path in ROUTES.items():
        hop = "2001:db8::1" if ":" in prefix else "192.0.2.254"
        out.append((ROUTER, s.update([prefix], next_hop=hop, attrs=attrs(*path)), s.time_ms))
    out.append((ROUTER, s.eor(), s.time_ms))
    return out


def reference(packets: list[bytes], recv_ms: int) -> dict[str, dict[str, Any]]:
    d, fmt = Dispatcher(), FlowFormatter(FormatOptions(writer_id="w/1"))
    out: dict[str, dict[str, Any]] = {}
    for p in packets:
        for rec in d.decode(p, ROUTER, recv_ms).records:
            afi, _ = parse_address(rec["dst_addr"])
            out[rec["src_addr"]] = fmt.record(rec, afi, None, None)
    return out


def test_isp_exports_through_collector_and_enricher(
    kafka_broker: str, enricher_topics: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    t = enricher_topics(partitions=1)
    now = int(time.time() * 1000)
    produce(kafka_broker, t["bgp"], bgp_messages(now - 60_000))
    packets = export_packets(now)
    env = enricher_env(kafka_broker, t, tmp_path / "state", t["group"])
    pretag = tmp_path / "pretag.map"
    pretag.write_text("set_label=vrf%cust-b ip=127.0.0.1 src_net=203.0.113.2/32\n"
                      "set_tag=42 ip=127.0.0.0/8 in=3\n")  # fmt: skip
    collector_env = {
        "PRE_TAG_MAP": str(pretag),
        "FLOWS_TOPIC": t["flows"],
        "BGP_UPDATES_TOPIC": t["bgp"],
        "FLOW_TEMPLATES_TOPIC": t["flows"] + "-templates",
        "SFLOW_COUNTERS_TOPIC": t["flows"] + "-counters",
    }
    with running(EnricherProcess(env, tmp_path / "enricher.log")) as (enricher,):
        with collector(tmp_path, kafka_broker, collector_env) as running_collector:
            for p in packets:
                running_collector.send([p])
                time.sleep(0.05)
            enriched_msgs = kcat(kafka_broker, t["enriched"], 13, timeout=120)
        assert len(enriched_msgs) == 13, enricher.log()[-3000:]
    flows_ts = {m["ts"] for m in kcat(kafka_broker, t["flows"], 3)}
    ref = reference(packets, now)
    tags = {json.loads(m["payload"])["ip_src"]: json.loads(m["payload"]).get("tag")
            for m in enriched_msgs}  # fmt: skip
    seen = set()
    for m in enriched_msgs:
        r = json.loads(m["payload"])
        validate("flows-enriched.v1", r)
        assert m["ts"] in flows_ts  # the flows message's (bounded) timestamp, kept
        want = ref[r["ip_src"]]
        assert {k: r.get(k) for k in EXTRA_KEYS} == {k: want.get(k) for k in EXTRA_KEYS}
        seen.add(r["ip_src"])
    by_src = {json.loads(m["payload"])["ip_src"]: json.loads(m["payload"]) for m in enriched_msgs}
    assert len(seen) == 13
    tun = by_src["10.1.0.1"]  # enriched by its inner destination 10.2.0.1
    assert (tun["as_path"], tun["net_dst"], tun["tunnel_ip_src"]) == (
        "65010_65020", "10.2.0.0", "2001:db8:100::1",
    )  # fmt: skip
    assert by_src["2001:db8:a::1"]["as_dst"] == 65040
    # the collector's pre_tag_map: first match wins, rendered by the enricher as pmacct does
    assert by_src["203.0.113.2"]["label"] == "vrf%cust-b" and "tag" not in by_src["203.0.113.2"]
    assert {s for s, tag in tags.items() if tag == 42} == {
        s for s, r in by_src.items() if r["iface_in"] == 3 and s != "203.0.113.2"
    }
    vrf = by_src["203.0.113.2"]  # VRF ids only: RD and name from the router's VRF table
    assert (vrf["mpls_vpn_rd"], vrf["mpls_vpn_rd_origin"], vrf["vrf_name"]) == (
        "1:192.0.2.1:7", "flow", "CUST-B",
    )  # fmt: skip
