"""IP protocol names against nfacctd (Debian's pmacct 1.7.7): all 256 protocol numbers.

One IPFIX export carries a flow of every protocol number (tshark checks the numbers as sent);
nfacctd prints its ``ip_proto`` for each. ribflow's one table (ribflow.protocols) must give the
same text in the enricher's record, in the aggregator's key (a number normalised, as a record
from another producer may carry), and pre_tag_map's ``ip_proto`` must read every text nfacctd
prints back as that protocol.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ribflow.aggregate.primitives import parse_aggregate
from ribflow.aggregate.records import RowBuilder
from ribflow.aggregate.timebins import TimeBins
from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.flow.dispatch import Dispatcher
from ribflow.flow.pcap import Datagram
from ribflow.protocols import PROTO_TEXT, proto_number
from tests.flow.netflow_support import NOW_MS, data_set, ipfix_packet, ipfix_template_set
from tests.flow.pcapwriter import write_pcap
from tests.flow.pmacct_oracle import HOST, pmacct_records
from tests.flow.tshark_pdml import flows, run_pdml

pytestmark = pytest.mark.integration

EXPORTER = "127.0.46.9"
TEMPLATE = [(8, 4), (12, 4), (4, 1), (2, 4), (1, 4)]


def export() -> list[bytes]:
    """Four IPFIX messages of 64 flows each: protocol n from 10.0.n.1."""
    out = []
    for part in range(4):
        rows = b"".join(
            bytes([10, 0, n, 1, 198, 51, 100, 1, n]) + struct.pack("!II", 1, 100)
            for n in range(part * 64, part * 64 + 64)
        )
        out.append(ipfix_packet(ipfix_template_set(256, TEMPLATE), data_set(256, rows), seq=part))
    return out


def test_protocol_names_are_nfacctds(tmp_path: Path) -> None:
    packets = export()
    pcap = tmp_path / "protocols.pcap"
    write_pcap(pcap, [Datagram(NOW_MS, EXPORTER, 40000, HOST, 4739, p) for p in packets])
    sent = {}
    for fl in flows(run_pdml(pcap, (4739,))):
        if not fl.options and not fl.undecoded:
            src, proto = fl.first("cflow.srcaddr"), fl.first("cflow.protocol")
            assert src is not None and proto is not None
            sent[src.show] = int(proto.value, 16)
    assert sorted(sent.values()) == list(range(256))

    d, fmt = Dispatcher(), FlowFormatter(FormatOptions())
    ours = {}
    for p in packets:
        for rec in d.decode(p, EXPORTER, NOW_MS).records:
            assert rec["proto"] == sent[rec["src_addr"]]
            ours[rec["src_addr"]] = fmt.record(rec, 1, None, None)["ip_proto"]
    theirs = {r["ip_src"]: r["ip_proto"] for r in pmacct_records(
        "nfacctd", tmp_path, [(EXPORTER, p) for p in packets], "src_host, proto", 256)}  # fmt: skip
    assert len(theirs) == 256
    assert ours == theirs
    builder = RowBuilder(parse_aggregate("proto"), TimeBins.from_pmacct(60, None, 0))
    for src, number in sent.items():
        text = theirs[src]
        assert PROTO_TEXT[number] == text
        assert builder.row({"ip_proto": number, "packets": 1, "bytes": 1}, 0)[0] == f'["{text}"]'
        assert proto_number(text) == number  # pre_tag_map's ip_proto=<what nfacctd prints>
    # the table is not vacuous: names and numbers both occur
    assert (theirs["10.0.0.1"], theirs["10.0.4.1"], theirs["10.0.58.1"]) == (
        "0", "ipencap", "ipv6-icmp")  # fmt: skip
    assert theirs["10.0.143.1"] == "143"
