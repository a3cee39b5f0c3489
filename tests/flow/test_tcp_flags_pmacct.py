"""``tcp_flags`` against nfacctd and sfacctd (Debian's pmacct 1.7.7), record by record.

The exports carry TCP flags on TCP and on non-TCP flows, as a one-byte and a two-byte
tcpControlBits (IE 6, RFC 7125 made it two bytes), in NetFlow v5, v9, IPFIX and sFlow (raw
header and sampled IPv4 records). nfacctd/sfacctd read the same datagrams as our decoder and the
enricher's ``tcp_flags`` must be what they print, except where written below (each asserted, so
a change on either side shows):

* a two-byte IE 6: 1.7.7 prints 0 (its handler only reads a one-byte element); pmacct 1.7.8+
  prints the low octet (the header's flags byte), and so do we;
* sFlow's sampled IPv4/IPv6 records (format 3/4): pmacct does not read their tcp_flags word
  (1.7.7 and later); we keep what the agent sent.

tshark checks that the flag fields were decoded as sent.
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
    v5_packet,
    v9_header,
    v9_template_set,
)
from tests.flow.pcapwriter import write_pcap
from tests.flow.pmacct_oracle import HOST, pmacct_records
from tests.flow.tshark_pdml import TSHARK, flows, run_pdml

pytestmark = pytest.mark.integration

V5, V9, IPFIX, SFLOW = "127.0.46.5", "127.0.46.6", "127.0.46.7", "127.0.46.8"
SYN_ACK, PSH_ACK_NS = 0x12, 0x118  # NS (bit 8) lives in the high octet of the 2-byte element
# (protocol, flags) of each flow; the source address tells them apart
FLOWS = [(6, SYN_ACK), (17, SYN_ACK), (1, 0x02), (6, 0)]
BASE = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (2, 4), (1, 4)]
ONE_BYTE, TWO_BYTES = 320, 321


def _v4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def v5() -> bytes:
    return v5_packet([{"src": _v4(f"10.5.0.{i + 1}"), "proto": p, "flags": f, "sport": 1000 + i}
                      for i, (p, f) in enumerate(FLOWS)])  # fmt: skip


def _templated(version: int) -> bytes:
    sets = []
    for tid, width, flag_set in ((ONE_BYTE, 1, FLOWS), (TWO_BYTES, 2,
                                 [(6, PSH_ACK_NS), (17, PSH_ACK_NS), (6, 0x100)])):  # fmt: skip
        rows = b""
        for i, (proto, fl) in enumerate(flag_set):
            src = f"10.{version}.{width}.{i + 1}"
            rows += _v4(src) + _v4("198.51.100.1") + struct.pack("!BHHII", proto, 1000, 80, 1, 60)
            rows += fl.to_bytes(width, "big")
        template = (v9_template_set if version == 9 else ipfix_template_set)(
            tid, [*BASE, (6, width)]
        )
        sets += [template, data_set(tid, rows)]
    if version == 9:
        return v9_header(count=len(sets)) + b"".join(sets)
    return ipfix_packet(*sets)


def sflow() -> bytes:
    def frame(src: str, proto: int, flags: int) -> bytes:
        l4 = sb.tcp(1000, 80, flags) if proto == 6 else sb.udp(1000, 80)
        return sb.ether(sb.ipv4(src, "198.51.100.1", proto, l4), 0x0800)

    sampled = sb.tlv(3, struct.pack("!II4s4sIIII", 60, 6, _v4("10.55.1.1"), _v4("198.51.100.1"),
                                    1000, 80, SYN_ACK, 0))  # fmt: skip
    samples = [
        sb.flow_sample([sb.raw_header(frame("10.55.0.1", 6, SYN_ACK))], seq=1),
        sb.flow_sample([sb.raw_header(frame("10.55.0.2", 17, 0))], seq=2),
        sb.flow_sample([sampled], seq=3),
    ]
    return sb.datagram(samples, agent=SFLOW)


# our record's source address -> (what 1.7.7 prints, why we differ)
DIFFERENCES = {
    "10.9.2.1": ("0", "two-byte IE 6: 1.7.8+ (and we) print the low octet"),
    "10.9.2.2": ("0", "two-byte IE 6, UDP"),
    "10.10.2.1": ("0", "two-byte IE 6"),
    "10.10.2.2": ("0", "two-byte IE 6, UDP"),
    "10.55.1.1": ("0", "pmacct ignores a sampled IPv4 record's tcp_flags"),
}


def ours(datagrams: list[tuple[str, bytes]]) -> dict[str, dict[str, Any]]:
    d, fmt = Dispatcher(), FlowFormatter(FormatOptions())
    out: dict[str, dict[str, Any]] = {}
    for exporter, payload in datagrams:
        for rec in d.decode(payload, exporter, NOW_MS).records:
            afi = parse_address(rec["dst_addr"])[0]
            out[rec["src_addr"]] = {"rec": rec, "pm": fmt.record(rec, afi, None, None),
                                    "json": fmt.record_json(rec, afi, None, None)}  # fmt: skip
    return out


def _pdml(tmp: Path, name: str, src: str, payload: bytes, port: int) -> ET.Element:
    pcap = tmp / f"{name}.pcap"
    write_pcap(pcap, [Datagram(NOW_MS, src, 40000, HOST, port, payload)])
    if port == 6343:
        args = [TSHARK, "-r", str(pcap), "-T", "pdml"]
        return ET.fromstring(subprocess.run(args, capture_output=True, check=True).stdout)
    return run_pdml(pcap, (port,))


def test_tcp_flags_are_pmacct_s(tmp_path: Path) -> None:
    netflow = [(V5, v5()), (V9, _templated(9)), (IPFIX, _templated(10))]
    mine = ours([*netflow, (SFLOW, sflow())])
    assert len(mine) == 4 + 2 * 7 + 3
    # tshark: the flag fields as sent (the raw value, both octets of a two-byte element)
    for name, (src, payload) in zip(("v5", "v9", "ipfix"), netflow, strict=True):
        for fl in flows(_pdml(tmp_path, name, src, payload, 2055)):
            if fl.options or fl.undecoded:
                continue
            addr, flags = fl.first("cflow.srcaddr"), fl.first("cflow.tcpflags")
            assert addr is not None and flags is not None
            assert mine[addr.show]["rec"]["tcp_flags"] == int(flags.value, 16), addr.show
    root = _pdml(tmp_path, "sflow", SFLOW, sflow(), 6343)
    ts_flags = [int(f.get("value", "0"), 16) for f in root.iter("field")
                if f.get("name") == "tcp.flags"]  # fmt: skip
    # tshark 4.0 locates the sampled record's tcp_flags word but shows its first (high) byte:
    # the word itself is read from the frame at that position
    frame = (tmp_path / "sflow.pcap").read_bytes()[24 + 16 :]  # pcap and record headers
    pos = {int(f.get("pos", "0")) for f in root.iter("field")
           if f.get("name", "").startswith("sflow_245.ip.tcp_flag.")}  # fmt: skip
    assert len(pos) == 1
    ts_sampled = int.from_bytes(frame[pos.pop() :][:4], "big")
    assert ts_flags == [SYN_ACK] and ts_sampled == SYN_ACK
    assert mine["10.55.0.1"]["rec"]["tcp_flags"] == SYN_ACK
    assert mine["10.55.1.1"]["rec"]["tcp_flags"] == SYN_ACK

    keys = "peer_src_ip, src_host, proto, tcpflags"
    got = pmacct_records("nfacctd", tmp_path, netflow, keys, 4 + 2 * 7)
    got += pmacct_records("sfacctd", tmp_path, [(SFLOW, sflow())], keys, 3)
    theirs = {r["ip_src"]: r for r in got}
    assert sorted(theirs) == sorted(mine)
    for src, r in mine.items():
        want = DIFFERENCES[src][0] if src in DIFFERENCES else r["pm"]["tcp_flags"]
        assert theirs[src]["tcp_flags"] == want, (src, r["rec"])
        assert b'"tcp_flags":"%s"' % r["pm"]["tcp_flags"].encode() in r["json"]  # both paths
    # the differences are real, and the rules this export exists for did show
    assert [mine[s]["pm"]["tcp_flags"] for s in DIFFERENCES] == ["24", "24", "24", "24", "18"]
    assert theirs["10.5.0.1"]["tcp_flags"] == "18" and theirs["10.5.0.2"]["tcp_flags"] == "0"
    assert theirs["10.9.1.2"]["tcp_flags"] == "18"  # v9/IPFIX: no protocol test
    assert theirs["10.55.0.1"]["tcp_flags"] == "18"
