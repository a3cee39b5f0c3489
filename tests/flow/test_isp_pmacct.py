"""The ISP router fields against nfacctd (Debian's pmacct 1.7.7), field by field.

nfacctd receives the exports of isp_exports.py from a real UDP socket and prints its records
(print plugin, JSON) with every primitive 1.7.7 has for them: MACs, VLAN, ethertype, the MPLS
top/bottom label and stack depth, the RD, interfaces, and the inner header of tunnels. Our
decode of the same datagrams, rendered by the enricher's formatter, must agree. 1.7.7 has no
tunnel_*, fwd_status, mpls_label_stack, vrf_name, interface name or SRv6 primitive for NetFlow
(those are checked against tshark in test_isp_fields.py).

Differences, each explained and asserted as such (so a change on either side shows):

* a field the export does not carry: pmacct prints its zero value (MAC ``00:00:00:00:00:00``,
  VLAN/labels 0, RD ``0:0:0``, the ethertype of the IP version); we leave the key out;
* RDs of VRFs that only the egress VRF id names: 1.7.7 keeps a separate egress table filled
  only by options carrying egressVRFID (IOS XR sends the VRF table scoped by ingressVRFID), so
  it prints 0:0:0; we use the router's one VRF table for both directions;
* the default VRF (RD 0:0:0) and VRFs missing from the table: 1.7.7 prints 0:0:0; we follow
  pmacct 1.7.8+ (the other VRF's RD, ``vrfid:<id>``).

nfacctd runs with ``nfacctd_disable_opt_scope_check: true``: 1.7.7 applies options data scoped
by a VRF id (not by the system) only with it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.pretag import PreTagMap
from ribflow.rib.prefix import parse_address
from tests.fixtures.ports import free_port
from tests.fixtures.procs import interrupt
from tests.fixtures.waiting import wait_for
from tests.flow.isp_exports import export_packets

pytestmark = pytest.mark.integration

HOST, EXPORTER = "127.0.5.1", "127.0.5.2"
PRIMITIVES = ("peer_src_ip, src_host, dst_host, src_port, dst_port, proto, src_mac, dst_mac, "
              "vlan, etype, mpls_label_top, mpls_label_bottom, mpls_stack_depth, mpls_vpn_rd, "
              "in_iface, out_iface")  # fmt: skip
COMPARED = ("ip_src", "ip_dst", "port_src", "port_dst", "ip_proto", "iface_in", "iface_out",
            "mac_src", "mac_dst", "etype", "mpls_label_top", "mpls_label_bottom",
            "mpls_stack_depth", "mpls_vpn_rd", "vlan")  # fmt: skip
ZERO = {"mac_src": "00:00:00:00:00:00", "mac_dst": "00:00:00:00:00:00", "mpls_label_top": 0,
        "mpls_label_bottom": 0, "mpls_stack_depth": 0, "mpls_vpn_rd": "0:0:0",
        "vlan": 0}  # fmt: skip
# ip_src -> (what 1.7.7 prints, why we differ)
RD_DIFFERENCES = {
    "203.0.113.3": ("0:0:0", "egress flow: VRF 7 is named by its egress VRF id only"),
    "203.0.113.4": ("0:0:0", "only an egress VRF id"),
    "203.0.113.5": ("0:0:0", "ingress VRF is the default VRF (0:0:0): 1.7.8+ takes the egress"),
    "203.0.113.6": ("0:0:0", "VRF 9 is not in the table: 1.7.8+ prints vrfid:9"),
}


def nfacctd_records(
    tmp: Path, packets: list[bytes], primitives: str = PRIMITIVES, extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    exe = shutil.which("nfacctd")
    assert exe, "nfacctd (Debian pmacct) is required for this test and is not installed"
    port, out = free_port(HOST, "udp"), tmp / "nfacctd.json"
    conf = tmp / "nfacctd.conf"
    conf.write_text("\n".join([
        "daemonize: false", f"logfile: {tmp}/nfacctd.log", f"nfacctd_ip: {HOST}",
        f"nfacctd_port: {port}", "nfacctd_disable_opt_scope_check: true", "plugins: print[p]",
        f"aggregate[p]: {primitives}", "print_output[p]: json", *extra,
        f"print_output_file[p]: {out}", "print_output_file_append[p]: true",
        "print_refresh_time[p]: 1",
    ]) + "\n")  # fmt: skip
    proc = subprocess.Popen([exe, "-f", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for("nfacctd to start", lambda: (tmp / "nfacctd.log").exists() or None, 30)
        time.sleep(1.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((EXPORTER, 0))
            for p in packets:
                sock.sendto(p, (HOST, port))
                time.sleep(0.05)  # options before data, and no burst for the small buffer

        def lines() -> list[dict[str, Any]] | None:
            got = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
            return got if len(got) >= 13 else None

        got = wait_for("nfacctd's 13 records", lines, 60)
        time.sleep(1.5)  # one more print interval: a surplus record would show up too
        return lines() or got
    finally:
        assert proc.poll() is None, (tmp / "nfacctd.log").read_text(errors="replace")
        interrupt(proc)


def ours(packets: list[bytes]) -> dict[str, dict[str, Any]]:
    """Our records of the same datagrams as the enricher renders them, by source address."""
    d, fmt = Dispatcher(), FlowFormatter(FormatOptions(writer_id="w/1"))
    out: dict[str, dict[str, Any]] = {}
    for p in packets:
        for rec in d.decode(p, EXPORTER, int(time.time() * 1000)).records:
            afi, _ = parse_address(rec["dst_addr"])
            rendered = fmt.record(rec, afi, None, None)
            rendered["_rec"] = rec
            out[rendered["ip_src"]] = rendered
    return out


def expected_from_ours(r: dict[str, Any]) -> dict[str, Any]:
    """What nfacctd 1.7.7 prints for our record ``r`` (the known differences applied)."""
    want = {k: r.get(k, ZERO.get(k)) for k in COMPARED}
    want["etype"] = r.get("etype") or ("800" if ":" not in r["ip_src"] else "86dd")
    if r["ip_src"] in RD_DIFFERENCES:
        want["mpls_vpn_rd"] = RD_DIFFERENCES[r["ip_src"]][0]
    return want


def test_isp_fields_agree_with_nfacctd(tmp_path: Path) -> None:
    packets = export_packets(int(time.time() * 1000))
    theirs = {r["ip_src"]: r for r in nfacctd_records(tmp_path, packets)}
    mine = ours(packets)
    assert sorted(theirs) == sorted(mine) and len(mine) == 13
    for ip_src, r in mine.items():
        want = expected_from_ours(r)
        got = {k: theirs[ip_src][k] for k in COMPARED}
        assert got == want, ip_src
    # the differences are real (not an artefact of the expected values above)
    for ip_src, (_pmacct, why) in RD_DIFFERENCES.items():
        assert mine[ip_src]["mpls_vpn_rd"] not in ("0:0:0", None), (ip_src, why)
    # and the cases 1.7.7 exists here to check did happen
    assert {theirs[s]["ip_proto"] for s in theirs} >= {"tcp", "udp", "esp", "ipencap", "0", "gre"}
    assert theirs["10.1.0.1"]["ip_proto"] == "tcp"  # inner header of the tunnel
    assert theirs["192.0.2.11"]["mpls_label_bottom"] == 299792
    assert theirs["203.0.113.2"]["mpls_vpn_rd"] == "1:192.0.2.1:7"  # from the VRF table


# --- pre_tag_map: the same map file in nfacctd and in our collector ---------------------------
PRE_TAG_MAP = """\
! ribflow's test map, in pmacct's format: the first full match wins
set_tag=100 ip=127.0.5.2/32 in=3 direction=0 src_net=192.0.2.0/24
set_tag=300 vlan=101
set_label=core%uplink ip=127.0.5.2 src_net=203.0.113.2/32
set_tag2=7 ip=127.0.5.0/24 src_net=203.0.113.0/28 out=-5
set_tag=400 ip=127.0.5.2 dst_net=2001:db8:b::/48
set_tag=500 ip=127.0.5.2 in=3 out=4
set_tag=999 ip=192.0.2.99
"""
# Not in this map, because nfacctd 1.7.7 cannot evaluate them: ip_proto (unknown key there,
# 1.7.8+ has it), labels holding ',' (refused by 1.7.7; 1.7.8+ uses them for
# pre_tag_label_encode_as_map, checked below against pmacct's documented example), and
# src_net/dst_net on the IPv4 inner header of a tunnel template (1.7.7 compares them with the
# template's outer IPv6 addresses).


def test_pre_tag_map_agrees_with_nfacctd(tmp_path: Path) -> None:
    map_file = tmp_path / "pretag.map"
    map_file.write_text(PRE_TAG_MAP)
    packets = export_packets(int(time.time() * 1000))
    theirs = {
        r["ip_src"]: r
        for r in nfacctd_records(
            tmp_path, packets, "src_host, tag, tag2, label", (f"pre_tag_map: {map_file}",)
        )
    }
    pretag = PreTagMap.load(map_file)
    d = Dispatcher()
    mine: dict[str, dict[str, Any]] = {}
    for p in packets:
        records = d.decode(p, EXPORTER, int(time.time() * 1000)).records
        pretag.apply(records)
        for rec in records:
            mine[rec["src_addr"]] = rec
    assert sorted(theirs) == sorted(mine) and len(mine) == 13
    for ip_src, rec in mine.items():
        # pmacct prints 0 / "" for a flow no rule set; we leave the key out
        want = (rec.get("tag", 0), rec.get("tag2", 0), rec.get("label", ""))
        got = (theirs[ip_src]["tag"], theirs[ip_src]["tag2"], theirs[ip_src]["label"])
        assert got == want, ip_src
    # every kind of rule matched somewhere (the map is not vacuous)
    assert {r["tag"] for r in theirs.values()} == {100, 300, 400, 500, 0}
    assert {r["label"] for r in theirs.values()} == {"core%uplink", ""}
    assert sum(r["tag2"] == 7 for r in theirs.values()) == 5
    # pre_tag_label_encode_as_map, with pmacct's documented example of a map label
    rec = {**mine["203.0.113.2"], "label": "key1%value1,key2%value2"}
    rendered = FlowFormatter(FormatOptions(pre_tag_label_encode_as_map=True)).record(
        rec, 1, None, None
    )
    assert rendered["label"] == {"key1": "value1", "key2": "value2"}
