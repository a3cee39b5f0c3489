"""The enricher picks a flow's table by RD: the record's ``mpls_vpn_rd``, else the
flow_to_rd_map, else the global table; VRF routes persist, restore, dump and table by RD."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ribflow.enrich.codec import parse_vrf_route_key, vrf_route_key
from ribflow.enrich.rdmap import RdMapError, RdMapFollower, check_rd, parse_rd_map
from ribflow.rib import AFI_IP
from ribflow.schemas import validate
from tests.enrich.fakes import Harness
from tests.rib.builders import Stream, attrs, flow, flows_message

R1 = "127.0.4.21"
EXPORTER = "127.0.4.30"
RD_A, RD_B = "0:65001:10", "0:65001:20"


def feed(h: Harness) -> None:
    s = Stream(R1)
    h.bgp(R1, s.session("up"))
    h.bgp(R1, s.update(["10.2.0.0/24", "10.9.0.0/16"], "192.0.2.1", attrs(65010)))
    h.bgp(R1, s.update(["10.2.0.0/24"], "2001:db8::2", attrs(65011), rd=RD_A))  # RFC 8950
    h.bgp(R1, s.update(["10.9.0.0/16"], "192.0.2.12", attrs(65012), rd=RD_A))
    h.bgp(R1, s.update(["10.2.0.0/24"], "192.0.2.20", attrs(65020), rd=RD_B))


def enriched(h: Harness, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    h.out.sent.clear()
    h.flows(R1, flows_message(R1, EXPORTER, records))
    out = h.out.values("flows-enriched")
    for rec in out:
        validate("flows-enriched.v1", rec)
    return out


def rec(dst: str, rd: str | None = None, **extra: Any) -> dict[str, Any]:
    r = flow("10.9.0.1", dst, exporter=EXPORTER)
    if rd:
        r["mpls_vpn_rd"] = rd
    r.update(extra)
    return r


def test_each_flow_gets_its_own_vrfs_route_in_order() -> None:
    h = Harness()
    feed(h)
    out = enriched(h, [rec("10.2.0.5", RD_A), rec("10.2.0.5", RD_B), rec("10.2.0.5"),
                       rec("10.2.0.5", RD_A), rec("10.2.0.5", "0:65001:99")])  # fmt: skip
    got = [(o["as_path"], o["peer_ip_dst"], o.get("mpls_vpn_rd")) for o in out]
    assert got == [
        ("65011", "2001:db8::2", RD_A),  # IPv6 next hop on an IPv4 route, rendered
        ("65020", "192.0.2.20", RD_B),
        ("65010", "192.0.2.1", None),  # no RD: the global table
        ("65011", "2001:db8::2", RD_A),
        ("", "0.0.0.0", "0:65001:99"),  # an RD the router has no table for: no match
    ]
    # the source is looked up in the same table as the destination
    assert [o["as_path_src"] for o in out] == ["65012", "", "65010", "65012", ""]


def test_without_rds_the_output_is_what_the_global_table_gives() -> None:
    h, plain = Harness(), Harness()
    feed(h)
    s = Stream(R1)
    plain.bgp(R1, s.session("up"))
    plain.bgp(R1, s.update(["10.2.0.0/24", "10.9.0.0/16"], "192.0.2.1", attrs(65010)))
    records = [rec("10.2.0.5"), rec("10.9.1.1")]
    h.flows(R1, flows_message(R1, EXPORTER, records))
    plain.flows(R1, flows_message(R1, EXPORTER, records))
    assert h.out.sent_to("flows-enriched") == plain.out.sent_to("flows-enriched")


def test_flow_to_rd_map_picks_the_table_and_the_output_carries_the_rd(tmp_path: Path) -> None:
    path = tmp_path / "flow_to_rd.map"
    path.write_text(
        "! pmacct format\n"
        f"id={RD_A}\tip={EXPORTER}\tin=10\n"
        f"id={RD_B}  ip=127.0.4.0/24 out=20\n"
        f"id=1:192.0.2.9:7 ip={EXPORTER} vlan=300\n"
    )
    clock = [0.0]
    follower = RdMapFollower(path, reload_interval=5, clock=lambda: clock[0])
    h = Harness()
    h.enricher.rd_map = follower
    feed(h)
    records = [
        rec("10.2.0.5", in_if=10),
        rec("10.2.0.5", out_if=20),
        rec("10.2.0.5", in_if=10, mpls_vpn_rd=RD_B),  # the record's own RD comes first
        rec("10.2.0.5", in_if=11),
    ]
    out = enriched(h, records)
    assert [(o["as_path"], o.get("mpls_vpn_rd")) for o in out] == [
        ("65011", RD_A),
        ("65020", RD_B),
        ("65020", RD_B),
        ("65010", None),
    ]
    # the file changes: the new map is in force after the reload interval
    path.write_text(f"id={RD_B} ip={EXPORTER} in=10\n")
    os.utime(path, ns=(1, 1))
    clock[0] = 6.0
    assert [o["as_path"] for o in enriched(h, [rec("10.2.0.5", in_if=10)])] == ["65020"]
    # a broken version is refused and the last good map stays
    path.write_text("id=nonsense ip=1.2.3.4\n")
    os.utime(path, ns=(2, 2))
    clock[0] = 12.0
    assert [o["as_path"] for o in enriched(h, [rec("10.2.0.5", in_if=10)])] == ["65020"]


@pytest.mark.parametrize(
    "line",
    [
        "ip=1.2.3.4",  # no id
        "id=0:65001:1",  # no ip
        "id=0:70000:1 ip=1.2.3.4",  # type 0 admin is 2 bytes
        "id=2:4200000000:70000 ip=1.2.3.4",  # type 2 number is 2 bytes
        "id=3:1:1 ip=1.2.3.4",
        "id=0:1:1 ip=1.2.3.4 mpls_vpn_id=5",  # pmacct's, not matched by ribflow: refused
        "id=0:1:1 ip=1.2.3.4 in=x",
        "id=0:1:1 ip=1.2.3.0/16",
        "id=0:1:1 ip=1.2.3.4 colour=red",
    ],
)
def test_broken_map_lines_are_refused_naming_the_line(line: str) -> None:
    with pytest.raises(RdMapError, match=":2:"):
        parse_rd_map(f"! ok\n{line}\n", "m")


def test_rd_forms() -> None:
    for good in ("0:65535:4294967295", "1:192.0.2.1:65535", "2:4294967295:65535"):
        assert check_rd(good) == good
    with pytest.raises(ValueError):
        check_rd("1:300.0.0.1:1")


def test_vrf_routes_persist_restore_and_tombstone_by_rd() -> None:
    h = Harness()
    feed(h)
    key = vrf_route_key(RD_A, AFI_IP, (10 << 24) | (2 << 16), 24, 0)
    assert parse_vrf_route_key(key) == (RD_A, (AFI_IP, (10 << 24) | (2 << 16), 24, 0))
    assert (RD_A, AFI_IP, (10 << 24) | (2 << 16), 24, 0) in h.stored_routes(R1)
    table = {k: v for k, v in h.out.sent_to("bgp-rib")}
    rib_key = f"{R1}|10.2.0.0/24|0|{RD_A}".encode()
    value = h.out.values("bgp-rib")
    assert any(v.get("rd") == RD_A and v["prefix"] == "10.2.0.0/24" for v in value)
    for v in value:
        validate("bgp-rib.v1", v)
    assert table[rib_key] is not None
    before = enriched(h, [rec("10.2.0.5", RD_A), rec("10.2.0.5", RD_B), rec("10.2.0.5")])
    fresh = Harness()
    fresh.store = dict(h.store)
    assert fresh.enricher.load_partition(0, object(), fresh.scan()) == 5
    again = enriched(fresh, [rec("10.2.0.5", RD_A), rec("10.2.0.5", RD_B), rec("10.2.0.5")])
    assert again == before and [o["as_path"] for o in again] == ["65011", "65020", "65010"]
    # session down: every table goes, each with its tombstone
    h.out.sent.clear()
    h.bgp(R1, Stream(R1, seq=10).session("down"))
    tombstones = [k for k, v in h.out.sent_to("bgp-rib") if v is None]
    assert rib_key in tombstones and f"{R1}|10.2.0.0/24|0|{RD_B}".encode() in tombstones
    assert len(tombstones) == 5
    assert [k for k in h.store if not k.endswith(b"|m")] == []


def test_dumps_carry_the_rd_of_vpn_routes() -> None:
    h = Harness()
    feed(h)
    h.send(h.enricher.dump_router(R1, 1_700_000_000_000))
    for d in h.out.values("bgp-rib-dump"):
        validate("bgp-rib-dump.v1", d)
    dumps = [d for d in h.out.values("bgp-rib-dump") if d["event_type"] == "dump"]
    by = {(d.get("rd"), d["ip_prefix"]): d for d in dumps}
    assert by[(RD_A, "10.2.0.0/24")]["bgp_nexthop"] == "2001:db8::2"
    assert by[(RD_A, "10.2.0.0/24")]["safi"] == 128
    assert by[(None, "10.2.0.0/24")]["safi"] == 1
    assert len(dumps) == 5


def test_ipv6_flows_use_the_vpnv6_table_of_their_rd() -> None:
    h = Harness()
    s = Stream(R1)
    h.bgp(R1, s.session("up"))
    h.bgp(R1, s.update(["2001:db8:a::/48"], "2001:db8::1", attrs(65060)))
    h.bgp(R1, s.update(["2001:db8:a::/48"], "2001:db8::2", attrs(65061), rd=RD_A))
    records = [flow("2001:db8:a::9", "2001:db8:a::5", exporter=EXPORTER) for _ in range(2)]
    records[0]["mpls_vpn_rd"] = RD_A
    out = enriched(h, records)
    assert [(o["as_path"], o["peer_ip_dst"], o["net_dst"], o.get("mpls_vpn_rd")) for o in out] == [
        ("65061", "2001:db8::2", "2001:db8:a::", RD_A),
        ("65060", "2001:db8::1", "2001:db8:a::", None),
    ]
