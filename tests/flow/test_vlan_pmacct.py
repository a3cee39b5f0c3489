"""The ``vlan`` key against nfacctd and sfacctd (Debian's pmacct 1.7.7), record by record.

pmacct's ``vlan`` primitive is not one element: nfacctd (NF_vlan_handler) picks the ingress
VLAN (IE 58, else dot1qVlanId 243) or the egress one (IE 59, else 254) by flowDirection (IE 61),
and without IE 61 the first of 58, 59, 243, 254 the template has; sfacctd takes the extended
switch record's in VLAN, else its out VLAN, else the raw header's 802.1Q tag, in record order.
The exports below hold one template (or flow sample shape) per rule, in NetFlow v9 and IPFIX;
nfacctd/sfacctd read the same datagrams as our decoder, and the enricher's ``vlan`` must be
what they print for every record. tshark checks that the elements (58/59/243/254/61) and the
sFlow records were decoded as sent.
"""

from __future__ import annotations

import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.pcap import Datagram
from ribflow.rib.prefix import parse_address
from tests.flow import sflow_build as sb
from tests.flow.netflow_support import (
    NOW_MS,
    data_set,
    ipfix_packet,
    ipfix_template_set,
    v9_header,
    v9_template_set,
)
from tests.flow.pcapwriter import write_pcap
from tests.flow.pmacct_oracle import HOST, pmacct_records
from tests.flow.tshark_pdml import TSHARK, flows, run_pdml

pytestmark = pytest.mark.integration

V9_EXPORTER, IPFIX_EXPORTER, SFLOW_AGENT = "127.0.46.2", "127.0.46.3", "127.0.46.4"
DIRECTION, VLAN, POST_VLAN, DOT1Q, POST_DOT1Q = 61, 58, 59, 243, 254
# template id -> (its VLAN/direction elements (id, length), records: values in that order)
CASES: dict[int, tuple[list[tuple[int, int]], list[tuple[int, ...]]]] = {
    300: ([(DIRECTION, 1), (VLAN, 2), (POST_VLAN, 2)],
          [(0, 10, 20), (1, 11, 21), (2, 12, 22), (1, 13, 0)]),
    301: ([(DIRECTION, 1), (DOT1Q, 2), (POST_DOT1Q, 2)], [(0, 30, 40), (1, 31, 41)]),
    302: ([(DIRECTION, 1), (VLAN, 2)], [(0, 50), (1, 51)]),  # egress, no egress element: 0
    303: ([(DIRECTION, 1), (VLAN, 2), (POST_DOT1Q, 2)], [(1, 52, 62)]),
    304: ([(VLAN, 2), (POST_VLAN, 2)], [(70, 80), (0, 81)]),  # IE 58 present (even 0) wins
    305: ([(DOT1Q, 2), (POST_VLAN, 2)], [(90, 100)]),  # 59 before 243 without a direction
    306: ([(POST_DOT1Q, 2)], [(110,)]),
    307: ([(DOT1Q, 2), (POST_DOT1Q, 2)], [(120, 130), (0, 131)]),
    308: ([(POST_VLAN, 2), (DIRECTION, 1)], [(140, 0)]),  # element order does not matter
    309: ([(VLAN, 1)], [(5,)]),  # a one-byte VLAN: pmacct reads it as the high byte
}
BASE = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (2, 4), (1, 4)]


def _src(version: int, tid: int, i: int) -> str:
    return f"10.{version}.{tid - 300}.{i + 1}"


def _record(version: int, tid: int, i: int, fields: list[tuple[int, int]], values: tuple[int, ...]
            ) -> bytes:  # fmt: skip
    head = bytes(int(x) for x in _src(version, tid, i).split(".")) + bytes([198, 51, 100, 1])
    head += struct.pack("!BHHII", 17, 4000 + i, 53, 1, 100)
    return head + b"".join(v.to_bytes(n, "big") for (_ie, n), v in zip(fields, values, strict=True))


def netflow_packets() -> list[tuple[str, bytes]]:
    v9_sets, ipfix_sets = [], []
    for tid, (fields, rows) in CASES.items():
        v9_sets += [v9_template_set(tid, BASE + fields),
                    data_set(tid, b"".join(_record(9, tid, i, fields, r)
                                           for i, r in enumerate(rows)))]  # fmt: skip
        ipfix_sets += [ipfix_template_set(tid, BASE + fields),
                       data_set(tid, b"".join(_record(10, tid, i, fields, r)
                                              for i, r in enumerate(rows)))]  # fmt: skip
    v9 = v9_header(count=len(v9_sets)) + b"".join(v9_sets)
    return [(V9_EXPORTER, v9), (IPFIX_EXPORTER, ipfix_packet(*ipfix_sets))]


def _frame(src: str, vlan: int | None) -> bytes:
    ip = sb.ipv4(src, "198.51.100.2", 17, sb.udp(5000, 53))
    return sb.ether(ip, 0x0800, [(0x8100, vlan)] if vlan is not None else [])


# (source address, flow sample records, what makes the case)
SFLOW_CASES = [
    ("10.5.0.1", [sb.raw_header(_frame("10.5.0.1", 7))], "header tag only"),
    ("10.5.0.2", [sb.raw_header(_frame("10.5.0.2", 7)), sb.extended_switch(8, 9)],
     "switch after header: the switch's in VLAN"),
    ("10.5.0.3", [sb.raw_header(_frame("10.5.0.3", 7)), sb.extended_switch(0, 9)],
     "switch in VLAN 0: its out VLAN"),
    ("10.5.0.4", [sb.raw_header(_frame("10.5.0.4", 7)), sb.extended_switch(0, 0)],
     "switch (0, 0) after the header clears the tag"),
    ("10.5.0.5", [sb.extended_switch(0, 0), sb.raw_header(_frame("10.5.0.5", 7))],
     "switch (0, 0) before the header: the tag"),
    ("10.5.0.6", [sb.extended_switch(0, 11), sb.raw_header(_frame("10.5.0.6", 7))],
     "switch out VLAN set before the header: the tag is ignored"),
    ("10.5.0.7", [sb.raw_header(_frame("10.5.0.7", None)), sb.extended_switch(12, 13)],
     "untagged frame, switch VLANs"),
]  # fmt: skip


def sflow_packets() -> list[tuple[str, bytes]]:
    samples = [sb.flow_sample(records, seq=i) for i, (_s, records, _w) in enumerate(SFLOW_CASES)]
    return [(SFLOW_AGENT, sb.datagram(samples, agent=SFLOW_AGENT))]


def ours(datagrams: list[tuple[str, bytes]]) -> dict[str, dict[str, Any]]:
    """(our flow record, the enricher's pmacct record) by source address."""
    d, fmt = Dispatcher(), FlowFormatter(FormatOptions())
    out: dict[str, dict[str, Any]] = {}
    for exporter, payload in datagrams:
        for rec in d.decode(payload, exporter, NOW_MS).records:
            out[rec["src_addr"]] = {"rec": rec, "pm": fmt.record(rec, parse_address(
                rec["dst_addr"])[0], None, None)}  # fmt: skip
    return out


def _tshark(tmp: Path, datagrams: list[tuple[str, bytes]], port: int) -> Any:
    pcap = tmp / "vlan.pcap"
    write_pcap(pcap, [Datagram(NOW_MS + i, src, 40000, HOST, port, p)
                      for i, (src, p) in enumerate(datagrams)])  # fmt: skip
    if port == 6343:  # tshark's own sFlow port: no "decode as"
        pdml = [TSHARK, "-r", str(pcap), "-T", "pdml"]
        return ET.fromstring(subprocess.run(pdml, capture_output=True, check=True).stdout)
    return run_pdml(pcap, (port,))


def test_netflow_vlan_is_nfacctds(tmp_path: Path) -> None:
    packets = netflow_packets()
    mine = ours(packets)
    n = sum(len(rows) for _f, rows in CASES.values())
    assert len(mine) == 2 * n
    # tshark: the elements were decoded as sent
    names = {VLAN: "cflow.vlanid", POST_VLAN: "cflow.post_vlanid", DOT1Q: "cflow.dot1q_vlan_id",
             POST_DOT1Q: "cflow.post_dot1q_vlan_id", DIRECTION: "cflow.direction"}  # fmt: skip
    seen = 0
    for fl in flows(_tshark(tmp_path, packets, 2055)):
        if fl.options or fl.undecoded:
            continue
        src = fl.first("cflow.srcaddr")
        assert src is not None
        rec = mine[src.show]["rec"]
        got = {n: fl.first(name) for n, name in names.items()}
        ts = {n: int(f.value, 16) for n, f in got.items() if f is not None and f.value}
        assert rec["vlan"] == ts.get(VLAN, ts.get(DOT1Q))
        assert rec.get("vlan_out") == ts.get(POST_VLAN, ts.get(POST_DOT1Q))
        assert rec["direction"] == {0: "ingress", 1: "egress"}.get(ts.get(DIRECTION, -1))
        seen += 1
    assert seen == 2 * n
    theirs = {r["ip_src"]: r for r in pmacct_records(
        "nfacctd", tmp_path, packets, "peer_src_ip, src_host, vlan", 2 * n)}  # fmt: skip
    assert sorted(theirs) == sorted(mine)
    for src, mine_r in mine.items():
        assert mine_r["pm"]["vlan"] == theirs[src]["vlan"], (src, mine_r["rec"])
    # the rules this export exists for did show (not all 0, not all the ingress VLAN)
    got = {src: r["vlan"] for src, r in theirs.items()}
    assert (got["10.9.0.2"], got["10.9.0.3"], got["10.9.2.2"]) == (21, 0, 0)
    assert (got["10.10.4.2"], got["10.10.5.1"], got["10.10.9.1"]) == (0, 100, 5 << 8)


def test_sflow_vlan_is_sfacctds(tmp_path: Path) -> None:
    packets = sflow_packets()
    mine = ours(packets)
    assert sorted(mine) == sorted(s for s, _r, _w in SFLOW_CASES)
    # tshark: the switch records and the header tags as sent
    root = _tshark(tmp_path, packets, 6343)
    ts_in = [int(f.get("show", "0")) for f in root.iter("field")
             if f.get("name") == "sflow_245.vlan.in"]  # fmt: skip
    ts_out = [int(f.get("show", "0")) for f in root.iter("field")
              if f.get("name") == "sflow_245.vlan.out"]  # fmt: skip
    assert ts_in == [8, 0, 0, 0, 0, 12] and ts_out == [9, 9, 0, 0, 11, 13]
    tags = [int(f.get("show", "0")) for f in root.iter("field") if f.get("name") == "vlan.id"]
    assert tags == [7] * 6
    theirs = {r["ip_src"]: r for r in pmacct_records(
        "sfacctd", tmp_path, packets, "peer_src_ip, src_host, vlan", len(SFLOW_CASES))}  # fmt: skip
    assert sorted(theirs) == sorted(mine)
    for src, _records, why in SFLOW_CASES:
        assert mine[src]["pm"]["vlan"] == theirs[src]["vlan"], (src, why)
    assert [theirs[s]["vlan"] for s, _r, _w in SFLOW_CASES] == [7, 8, 9, 0, 7, 11, 12]
