"""pmacct formatting against pmacct's own files (the expected values were made by nfacctd).

The RIB is what the lab's gobgpd router held when nfacctd wrote the reference: the hand-made
routes of inject-routes.sh and the gen_mrt.py bulk table. Each reference record gives the flow's
own fields (addresses, ports, protocol, counters): that is our input; every BGP-derived key must
then come out exactly as nfacctd wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.enrich.pmacct import PROTO_TEXT, FormatOptions
from ribflow.schemas import validate
from tests.enrich.fakes import DATA, Harness, generated_routes, inject_routes_updates
from tests.rib.builders import Stream, flow, flows_message

ROUTER = "127.0.0.3"
PROTO = {name: n for n, name in enumerate(PROTO_TEXT)}


def _reference(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def _lab_rib(h: Harness, tmp: Path) -> None:
    s = Stream(ROUTER)
    h.bgp(ROUTER, s.session("up"))
    for prefix, next_hop, attrs in inject_routes_updates() + generated_routes(tmp):
        msg = s.update([prefix], next_hop=next_hop, attrs=attrs)
        validate("bgp-updates.v1", msg)
        h.bgp(ROUTER, msg)


def _flow_of(ref: dict[str, Any]) -> dict[str, Any]:
    rec = flow(
        ref["ip_src"],
        ref["ip_dst"],
        exporter=ref.get("peer_ip_src", "127.0.0.1"),
        proto=PROTO[ref["ip_proto"]],
        sport=ref["port_src"],
        dport=ref["port_dst"],
        packets=ref["packets"],
        nbytes=ref["bytes"],
        tcp_flags=int(ref.get("tcp_flags", "0")),
    )
    rec["version"] = ref.get("export_proto_version", 9)
    return rec


@pytest.mark.parametrize("reference", ["pmacct-enriched-full.json", "pmacct-enriched.json"])
def test_enriched_records_equal_nfacctd(reference: str, tmp_path: Path) -> None:
    h = Harness()
    _lab_rib(h, tmp_path)
    refs = _reference(reference)
    msg = flows_message(ROUTER, "127.0.0.1", [_flow_of(r) for r in refs])
    validate("flows.v1", msg)
    assert h.flows(ROUTER, msg) == len(refs)
    ours = h.out.values("flows-enriched")
    assert len(ours) == len(refs)
    for mine, theirs in zip(ours, refs, strict=True):
        validate("flows-enriched.v1", mine)
        differing = {k: (mine.get(k), v) for k, v in theirs.items() if mine.get(k) != v}
        assert not differing, f"{theirs['ip_src']} -> {theirs['ip_dst']}: {differing}"


def test_unrouted_source_gets_pmacct_zeros(tmp_path: Path) -> None:
    h = Harness()
    _lab_rib(h, tmp_path)
    ref = next(r for r in _reference("pmacct-enriched-full.json") if r["as_src"] == 0)
    h.flows(ROUTER, flows_message(ROUTER, "127.0.0.1", [_flow_of(ref)]))
    (mine,) = h.out.values("flows-enriched")
    for key in ("as_src", "peer_as_src", "net_src", "mask_src", "as_path_src", "comms_src",
                "lcomms_src", "local_pref_src", "med_src"):  # fmt: skip
        assert mine[key] == ref[key], key


def test_dump_records_equal_nfacctd(tmp_path: Path) -> None:
    h = Harness(dump_interval=60)
    _lab_rib(h, tmp_path)
    h.send(h.enricher.dump_router(ROUTER, 1_700_000_000_000))
    ours = h.out.values("bgp-rib-dump")
    theirs = _reference("pmacct-bgp-table-dump-sample.json")
    assert ours[0]["event_type"] == "dump_init" and ours[-1]["event_type"] == "dump_close"
    assert ours[-1]["entries"] == len(ours) - 2
    by_prefix = {d["ip_prefix"]: d for d in ours[1:-1]}
    ignore = {"seq", "timestamp", "peer_tcp_port", "writer_id"}
    for ref in theirs:
        if ref["event_type"] != "dump":
            assert set(ref) - ignore <= set(
                ours[0] if ref["event_type"] == "dump_init" else ours[-1]
            )
            continue
        mine = by_prefix[ref["ip_prefix"]]
        validate("bgp-rib-dump.v1", mine)
        expected = {k: v for k, v in ref.items() if k not in ignore}
        got = {k: v for k, v in mine.items() if k not in ignore}
        assert got == expected
    # pmacct's order: IPv4 before IPv6, ascending prefixes
    prefixes = [d["ip_prefix"] for d in ours[1:-1]]
    assert prefixes.index("10.20.0.0/16") < prefixes.index("11.0.0.0/24")
    assert prefixes.index("203.0.113.0/24") < prefixes.index("2001:db8:100::/48")


def test_array_and_epoch_options(tmp_path: Path) -> None:
    opts = FormatOptions(
        as_path_as_array=True, comms_as_array=True, timestamps_since_epoch=True, writer_id="w/1"
    )
    h = Harness(opts)
    _lab_rib(h, tmp_path)
    rec = flow("10.20.1.10", "203.0.113.10", time_ms=1_700_000_000_250)
    h.flows(ROUTER, flows_message(ROUTER, "127.0.0.1", [rec]))
    (mine,) = h.out.values("flows-enriched")
    validate("flows-enriched.v1", mine)
    assert mine["as_path"] == ["65010", "65020"]
    assert mine["comms"] == ["65001:100", "65001:200"]
    assert mine["lcomms"] == ["65001:1:1", "65001:2:3"]
    assert mine["comms_src"] == [] and mine["as_path_src"] == ["65040", "65041", "65042"]
    assert mine["timestamp_end"] == "1700000000" and mine["timestamp_start"] == "1699999999"
    assert mine["writer_id"] == "w/1"


def test_datetime_timestamps_are_utc(tmp_path: Path) -> None:
    h = Harness(FormatOptions(timestamps_usec=True))
    rec = flow("10.0.0.1", "10.0.0.2", time_ms=1_700_000_000_250)
    h.flows(ROUTER, flows_message(ROUTER, "127.0.0.1", [rec]))
    (mine,) = h.out.values("flows-enriched")
    assert mine["timestamp_end"] == "2023-11-14 22:13:20.250000"


def test_output_fields_option_keeps_only_those(tmp_path: Path) -> None:
    h = Harness(FormatOptions(fields=("as_dst", "ip_dst", "bytes")))
    _lab_rib(h, tmp_path)
    h.flows(ROUTER, flows_message(ROUTER, "127.0.0.1", [flow("10.20.1.10", "203.0.113.10")]))
    (mine,) = h.out.values("flows-enriched")
    assert mine == {"as_dst": 65020, "ip_dst": "203.0.113.10", "bytes": 100}
