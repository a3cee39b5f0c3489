"""ISP router fields (tunnels, MPLS, RD/VRF, L2, SRv6, interface names) against tshark.

The exports of isp_exports.py are written to a pcap and decoded by tshark (PDML); every
decoded field of ours is checked against what tshark read from the same bytes. The rules that
turn tshark's elements into pmacct's fields are pmacct's (nfacctd's NetFlow handlers), written
out here from its documentation and source, not from our decoder:

* a template whose sourceIPv6Address comes before a sourceIPv4Address (or twice) has an outer
  and an inner header; when the outer protocolIdentifier is 4 or 41, the record is the inner
  header and the outer one is tunnel_ip_src/dst/proto (tunnel ports when the ports come twice);
* the MPLS label stack runs from the top label to the one with the bottom-of-stack bit;
* an RD is printed ``type:admin:value`` (RFC 4364 §4.2 layouts);
* a record with VRF ids takes the RD and name of its VRF from the options table (the ingress
  VRF, the egress one for egress flows or when there is no ingress VRF; the egress VRF's name
  when the ingress one is ``default``); a VRF id without a table entry is ``vrfid:<id>``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.errors import FlowDecodeError
from ribflow.schemas import validate
from tests.flow.isp_exports import export_packets
from tests.flow.netflow_support import (
    NOW_MS,
    data_set,
    ipfix_options_template_set,
    ipfix_packet,
    ipfix_template_set,
    record_errors,
)
from tests.flow.sflow_build import write_pcap
from tests.flow.tshark_pdml import Field, TsFlow, flows, run_pdml

pytestmark = pytest.mark.integration

EXPORTER = "127.0.5.2"
PORT = 4739


def rd_text(raw_hex: str) -> str | None:
    raw = bytes.fromhex(raw_hex)
    if not any(raw):
        return "0:0:0"
    kind = int.from_bytes(raw[:2], "big")
    if kind == 0:
        return f"0:{int.from_bytes(raw[2:4], 'big')}:{int.from_bytes(raw[4:], 'big')}"
    if kind == 1:
        return f"1:{ipaddress.IPv4Address(raw[2:6])}:{int.from_bytes(raw[6:], 'big')}"
    return f"2:{int.from_bytes(raw[2:6], 'big')}:{int.from_bytes(raw[6:], 'big')}"


def named(fl: TsFlow, name: str) -> list[Field]:
    return [f for f in fl.fields if f.name == name]


class Tables:
    """The exporter's option tables as tshark decoded them."""

    def __init__(self) -> None:
        self.rd: dict[int, str] = {}
        self.names: dict[int, str] = {}
        self.ifnames: dict[int, str] = {}

    def learn(self, fl: TsFlow) -> None:
        vrf = named(fl, "cflow.ingress_vrfid")
        if vrf:
            vid = vrf[0].int
            self.rd[vid] = rd_text(named(fl, "cflow.mpls_vpn_rd")[0].value) or ""
            self.names[vid] = named(fl, "cflow.vrfname")[0].show
        ifindex = named(fl, "cflow.inputint")
        if ifindex and named(fl, "cflow.if_name"):
            self.ifnames[ifindex[0].int] = named(fl, "cflow.if_name")[0].show


def expected(fl: TsFlow, tables: Tables) -> dict[str, Any]:
    """The pmacct fields of one tshark-decoded data record (see the module docstring)."""
    out: dict[str, Any] = {}
    layers = [f.name for f in fl.fields if f.name in ("cflow.srcaddr", "cflow.srcaddrv6")]
    protos = named(fl, "cflow.protocol")
    v4s, v6s = named(fl, "cflow.srcaddr"), named(fl, "cflow.srcaddrv6")
    tunnel = len(layers) > 1 and layers[0] == "cflow.srcaddrv6" and protos[0].int in (4, 41)
    if len(layers) > 1:
        out["proto"] = protos[-1].int
        out["src_port"] = named(fl, "cflow.srcport")[-1].int
        out["dst_port"] = named(fl, "cflow.dstport")[-1].int
        inner_v4 = v4s[-1].show if v4s and v4s[-1].show != "0.0.0.0" else None
        out["src_addr"] = inner_v4 or v6s[-1].show
        out["dst_addr"] = named(fl, "cflow.dstaddr")[-1].show if inner_v4 else (
            named(fl, "cflow.dstaddrv6")[-1].show)  # fmt: skip
    if len(layers) > 1 and layers[0] == "cflow.srcaddrv6":
        out["tunnel_ip_src"] = v6s[0].show if tunnel else None
        out["tunnel_ip_dst"] = named(fl, "cflow.dstaddrv6")[0].show if tunnel else None
        out["tunnel_ip_proto"] = protos[0].int if tunnel else None
        ports = named(fl, "cflow.srcport")
        if len(ports) > 1:
            out["tunnel_port_src"] = ports[0].int if tunnel else None
            out["tunnel_port_dst"] = named(fl, "cflow.dstport")[0].int if tunnel else None
    labels = named(fl, "cflow.mpls_label")
    if labels:
        bos = [f.int for f in named(fl, "cflow.mpls_bos")]
        values = [int(f.show) for f in labels]
        end = bos.index(1) if 1 in bos else len(values) - 1
        out["mpls_label_stack"] = values[: end + 1]
        out["mpls_label_top"] = values[0]
        out["mpls_label_bottom"] = values[end] if 1 in bos else 0
        out["mpls_stack_depth"] = end + 1
    rd_fields = named(fl, "cflow.mpls_vpn_rd")
    if rd_fields:
        out["mpls_vpn_rd"] = rd_text(rd_fields[0].value)
    ing, eg = named(fl, "cflow.ingress_vrfid"), named(fl, "cflow.egress_vrfid")
    if ing or eg:
        i, e = (ing[0].int if ing else 0), (eg[0].int if eg else 0)
        out["ingress_vrf_id"], out["egress_vrf_id"] = i, e
        egress_flow = bool(named(fl, "cflow.direction")) and named(fl, "cflow.direction")[0].int
        if not rd_fields:
            chosen, other = (e, i) if (e and (egress_flow or not i)) else (i, e)
            want = tables.rd.get(chosen)
            if want == "0:0:0" and other in tables.rd:
                want = tables.rd[other]
            out["mpls_vpn_rd"] = want or f"vrfid:{chosen}"
        in_name, out_name = tables.names.get(i), tables.names.get(e)
        name = out_name if out_name and (not i or in_name == "default") else in_name
        out["vrf_name"] = name
        out["ingress_vrf_name"] = in_name
        out["egress_vrf_name"] = out_name
    for key, ts_name in (("mac_src", "cflow.srcmac"), ("mac_dst", "cflow.dstmac")):
        if named(fl, ts_name):
            out[key] = named(fl, ts_name)[0].show
    if named(fl, "cflow.ethernet_type"):
        out["etype"] = named(fl, "cflow.ethernet_type")[0].int
    if named(fl, "cflow.post_vlanid"):
        out["vlan_out"] = named(fl, "cflow.post_vlanid")[0].int
    vlans = [named(fl, n) for n in ("cflow.vlanid", "cflow.post_vlanid")]
    if any(vlans):  # pmacct's vlan: by direction (test_vlan_pmacct.py checks it with nfacctd)
        egress = bool(named(fl, "cflow.direction")) and named(fl, "cflow.direction")[0].int
        chosen = vlans[1] if egress else vlans[0]
        out["vlan_pmacct"] = chosen[0].int if chosen else 0
    if named(fl, "cflow.forwarding_status"):
        status = named(fl, "cflow.forwarding_status")[0].int
        reason = [f for f in fl.fields if f.name.startswith("cflow.forwarding_status_")]
        out["fwd_status"] = (status << 6) | (reason[0].int if reason else 0)
    segs = [f for f in fl.fields if f.name == "cflow.enterprise_private_entry"]
    if segs:  # tshark 4.0 shows element 497 as raw bytes
        raw = bytes.fromhex(segs[0].value)
        out["srv6_seg_ipv6_list"] = [
            str(ipaddress.IPv6Address(raw[i : i + 16])) for i in range(0, len(raw), 16)
        ] or None
    if_in, if_out = named(fl, "cflow.inputint"), named(fl, "cflow.outputint")
    if if_in and if_in[0].int in tables.ifnames:
        out["iface_name_in"] = tables.ifnames[if_in[0].int]
    if if_out and if_out[0].int in tables.ifnames:
        out["iface_name_out"] = tables.ifnames[if_out[0].int]
    return out


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any]]:
    """(our records, tshark's expectations) of the export."""
    pcap = Path(tmp_path_factory.mktemp("isp")) / "isp.pcap"
    packets = export_packets()
    write_pcap(pcap, packets, dport=PORT, src=EXPORTER, dst="127.0.5.1")
    d = Dispatcher()
    ours = [r for p in packets for r in d.decode(p, EXPORTER, NOW_MS).records]
    tables = Tables()
    want: list[Any] = []
    for fl in flows(run_pdml(pcap, (PORT,))):
        if fl.options:
            tables.learn(fl)
        elif not fl.undecoded:
            want.append(expected(fl, tables))
    return ours, want


def test_every_field_agrees_with_tshark(decoded: tuple[list[Any], list[Any]]) -> None:
    ours, want = decoded
    assert len(ours) == len(want) == 13
    for i, (rec, exp) in enumerate(zip(ours, want, strict=True)):
        assert record_errors(rec) == [], i
        for key, value in exp.items():
            assert rec.get(key) == value, (i, key, rec.get(key), value)
        extra = set(rec) - set(exp) - set(RECORD_BASE)
        assert not {k for k in extra if rec[k] is not None}, (i, extra)


def test_the_cases_this_export_exists_for(decoded: tuple[list[Any], list[Any]]) -> None:
    """Named cases, so a change in the export cannot silently empty the comparison."""
    ours, _ = decoded
    tun = ours[0]  # IPv4 in IPv6 (SRv6): inner header + outer as tunnel_*
    assert (tun["src_addr"], tun["proto"], tun["src_port"], tun["tunnel_ip_src"],
            tun["tunnel_ip_proto"]) == ("10.1.0.1", 6, 40000, "2001:db8:100::1", 4)  # fmt: skip
    assert tun["srv6_seg_ipv6_list"] == ["fc00:0:1::", "fc00:0:2::", "fc00:0:3::"]
    assert ours[2]["tunnel_ip_src"] is None  # outer protocol 43: not a tunnel to pmacct
    v6in6 = ours[3]
    assert (v6in6["src_addr"], v6in6["dst_port"], v6in6["tunnel_port_src"]) == (
        "2001:db8:a::1",
        53,
        4789,
    )
    assert [r["mpls_label_stack"] for r in ours[4:7]] == [[24001, 24002, 16], [0, 299792],
                                                          [24005]]  # fmt: skip
    assert [r["mpls_vpn_rd"] for r in ours[4:13]] == [
        "0:65000:100",
        "1:192.0.2.1:7",
        "2:4200000001:9",  # from the record (IE 90)
        "0:65000:100",
        "1:192.0.2.1:7",
        "2:4200000001:9",
        "2:4200000001:9",  # VRF table
        "1:192.0.2.1:7",
        "vrfid:9",  # default VRF -> egress VRF's RD; an unknown VRF
    ]
    assert ours[11]["vrf_name"] == "CUST-B" and ours[5]["iface_name_in"] == "HundredGigE0/0/0/1"


def test_pmacct_rendering_of_the_fields(decoded: tuple[list[Any], list[Any]]) -> None:
    ours, _ = decoded
    fmt = FlowFormatter(FormatOptions(writer_id="w/1"))
    tun = fmt.record(ours[0], 1, None, None)
    assert (tun["tunnel_ip_src"], tun["tunnel_ip_proto"], tun["ip_proto"]) == (
        "2001:db8:100::1",
        "ipencap",
        "tcp",  # pmacct's name of protocol 4
    )
    assert tun["srv6_seg_ipv6_list"] == ["0-fc00:0:1::", "1-fc00:0:2::", "2-fc00:0:3::"]
    mpls = fmt.record(ours[5], 1, None, None)
    assert (mpls["mpls_label_stack"], mpls["mpls_label_top"], mpls["fwd_status"],
            mpls["etype"], mpls["mac_src"], mpls["vlan_out"]) == (
        "0_299792", 0, "130", "86dd", "00:00:5e:00:53:01", 201,
    )  # fmt: skip
    assert (mpls["mpls_vpn_rd"], mpls["mpls_vpn_rd_origin"]) == ("1:192.0.2.1:7", "flow")
    assert list(mpls)[-1] == "writer_id"
    for rec in ours:
        validate("flows-enriched.v1", fmt.record(rec, 1, None, None))
    text = FlowFormatter(FormatOptions(writer_id="w/1", fwd_status_encode_as_string=True,
                                       mpls_label_stack_encode_as_array=True))  # fmt: skip
    as_text = text.record(ours[5], 1, None, None)
    assert (as_text["fwd_status"], as_text["mpls_label_stack"]) == (
        "DROPPED ACL drop",  # 130 (RFC 7270: dropped, reason 2; pmacct's table)
        ["0-0", "1-299792"],
    )


RECORD_BASE = (
    "exporter", "version", "domain", "time_received_ms", "time_export_ms", "start_ms", "end_ms",
    "src_addr", "dst_addr", "src_port", "dst_port", "proto", "tos", "tcp_flags", "in_if",
    "out_if", "vlan", "next_hop", "bgp_next_hop", "src_as", "dst_as", "src_mask", "dst_mask",
    "packets", "bytes", "sampling_rate", "direction", "flow_type",
)  # fmt: skip


# --- bad input: any length, any bytes, for every element of these exports -------------------
_ISP_IES = (4, 7, 8, 10, 11, 12, 27, 28, 56, 57, 59, 70, 71, 72, 80, 81, 82, 89, 90, 234, 235,
            236, 254, 256, 497)  # fmt: skip
_LENGTHS = (0, 1, 2, 3, 4, 6, 8, 16, 17, 32, 0xFFFF)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(
        st.tuples(st.sampled_from(_ISP_IES), st.sampled_from(_LENGTHS)), min_size=1, max_size=12
    ),
    options=st.booleans(),
    payload=st.binary(min_size=0, max_size=300),
)
def test_odd_templates_never_crash_and_give_schema_records(
    fields: list[tuple[int, int]], options: bool, payload: bytes
) -> None:
    """Lengths no exporter should use, random bytes: records stay valid or are dropped."""
    d = Dispatcher()
    tpl = (ipfix_options_template_set(400, fields[:1], fields[1:]) if options
           else ipfix_template_set(300, fields))  # fmt: skip
    data = data_set(300, payload) + (data_set(400, payload) if options else b"")
    second = ipfix_packet(ipfix_template_set(301, [(234, 4), (8, 4)]),
                          data_set(301, payload[:8].ljust(8, b"\1")))  # fmt: skip
    for pkt in (ipfix_packet(tpl, data), second):
        try:
            result = d.decode(pkt, EXPORTER, NOW_MS)
        except FlowDecodeError as exc:
            assert exc.reason != "internal-error", exc
            continue
        for rec in result.records:
            assert record_errors(rec) == [], rec
            FlowFormatter(FormatOptions()).record(rec, 1 if "." in rec["dst_addr"] else 2,
                                                  None, None)  # fmt: skip


def test_the_reverse_half_of_a_biflow_has_its_own_ends() -> None:
    """RFC 5103: the reverse record swaps MACs and VRFs as it swaps addresses and interfaces."""
    fields = [(8, 4), (12, 4), (2, 4), (2, 4, 29305), (56, 6), (80, 6), (234, 4)]
    body = bytes([1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 1, 0, 0, 0, 2])
    body += bytes.fromhex("00112233445566778899aabb00000005")
    pkt = ipfix_packet(ipfix_template_set(256, fields), data_set(256, body))
    fwd, rev = Dispatcher().decode(pkt, EXPORTER, NOW_MS).records
    assert (fwd["mac_src"], fwd["ingress_vrf_id"], fwd.get("egress_vrf_id")) == (
        "00:11:22:33:44:55",
        5,
        None,
    )
    assert (rev["mac_src"], rev["mac_dst"], rev["ingress_vrf_id"], rev["egress_vrf_id"]) == (
        "66:77:88:99:aa:bb",
        "00:11:22:33:44:55",
        None,
        5,
    )
    assert record_errors(fwd) == record_errors(rev) == []


def test_vrf_and_interface_tables_survive_a_restart() -> None:
    """The tables go to flow-templates with the templates: a restarted collector has them."""
    packets = export_packets()
    d = Dispatcher()
    d.decode(packets[0], EXPORTER, NOW_MS)  # the option tables
    changes = d.drain_changes()
    assert {k.split("|")[0] for k in changes} >= {"tpl", "vrf", "ifn"}
    saved = d.snapshot()
    fresh = Dispatcher()
    fresh.restore({**saved, "vrf|x|y|z|1": b"{", "ifn|1.2.3.4|10|0|7": b'{"name": 5}'})
    assert fresh.drain_changes() == {} and fresh.snapshot() == saved
    records = [r for p in packets[1:] for r in fresh.decode(p, EXPORTER, NOW_MS).records]
    by_src = {r["src_addr"]: r for r in records}
    assert (by_src["203.0.113.2"]["mpls_vpn_rd"], by_src["203.0.113.2"]["vrf_name"]) == (
        "1:192.0.2.1:7",
        "CUST-B",
    )
    assert by_src["10.1.0.1"]["iface_name_in"] == "HundredGigE0/0/0/1"
