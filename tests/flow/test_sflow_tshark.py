"""tshark's decode of sFlow captures, turned into the values ribflow's records should carry.

tshark (-T json) is the independent decoder: this module only renames its fields and applies
the documented conventions of flows.v1 (ifIndex 0x3fffffff = unknown, ports only from TCP/UDP
headers, dst_as = last ASN of the AS path, the outermost VLAN tag). tshark's JSON repeats keys
(two samples with the same label, two ``vlan`` layers), so objects are read as ordered pairs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.sflow import SflowDecoder
from ribflow.flow.types import DecodeResult
from ribflow.schemas import validate


class Obj(list[tuple[str, Any]]):
    """A JSON object as its ordered (key, value) pairs, duplicates kept."""

    def get(self, key: str) -> Any:
        for k, v in self:
            if k == key:
                return v
        return None

    def all(self, key: str) -> list[Any]:
        return [v for k, v in self if k == key]


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise AssertionError("tshark is required (Debian package tshark) and was not found")
    return path


def tshark_json(pcap: Path, *extra: str) -> list[Obj]:
    """The ``layers`` object of every frame."""
    out = subprocess.run(
        [tshark_path(), "-r", str(pcap), "-T", "json", *extra],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    frames = json.loads(out, object_pairs_hook=Obj)
    return [f.get("_source").get("layers") for f in frames]


@dataclass
class Frame:
    """What tshark saw in one frame."""

    sflow: bool
    agent: str | None = None
    sub_agent: int | None = None
    malformed: bool = False
    flows: list[dict[str, Any]] = field(default_factory=list)
    counters: list[dict[str, Any]] = field(default_factory=list)


def _int(v: Any) -> Any:
    if v is None:
        return None
    return int(v, 16) if str(v).startswith("0x") else int(v)


def _iface(fmt: int, value: int) -> int | None:
    return value if fmt == 0 and value != 0x3FFFFFFF else None


def _last_next_header(ip6: Obj) -> str | None:
    """The protocol after the IPv6 extension headers: the last ``*.nxt`` in tshark's tree."""
    last = None
    for key, value in ip6:
        if isinstance(value, Obj):
            last = _last_next_header(value) or last
        elif key.endswith(".nxt"):
            last = value
    return last


def _header_fields(tree: Obj) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tags = [(k, v) for k, v in tree if k in ("vlan", "ieee8021ad")]
    if tags:  # the outermost tag: 802.1ad (QinQ S-tag) or 802.1Q
        kind, tag = tags[0]
        out["vlan"] = _int(tag.get(f"{kind}.id"))
    ip, ip6 = tree.get("ip"), tree.get("ipv6")
    if ip is not None:
        out.update(
            src_addr=ip.get("ip.src"),
            dst_addr=ip.get("ip.dst"),
            proto=_int(ip.get("ip.proto")),
            tos=_int(ip.get("ip.dsfield")),
        )
    elif ip6 is not None:
        out.update(
            src_addr=ip6.get("ipv6.src"),
            dst_addr=ip6.get("ipv6.dst"),
            proto=_int(_last_next_header(ip6)),
            tos=_int(ip6.get("ipv6.tclass")),
        )
    for l4 in ("tcp", "udp"):
        t = tree.get(l4)
        if t is not None:
            out["src_port"] = _int(t.get(f"{l4}.srcport"))
            out["dst_port"] = _int(t.get(f"{l4}.dstport"))
            if l4 == "tcp" and t.get("tcp.flags") is not None:
                out["tcp_flags"] = _int(t.get("tcp.flags")) & 0xFF
    # tshark shows an ICMP header's icmp.type/icmp.code, not ports: flows.v1 keeps ICMP ports
    # null (what sfacctd reports), so those fields have no counterpart in the record
    return out


def _flow(sample: Obj, frame: Frame) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "exporter": frame.agent,
        "domain": frame.sub_agent,
        "version": 5005,
        "packets": 1,
        "sampling_rate": _int(sample.get("sflow.flow_sample.sampling_rate")),
    }
    if sample.get("sflow.flow_sample.input_interface_format") is not None:  # expanded
        rec["in_if"] = _iface(
            _int(sample.get("sflow.flow_sample.input_interface_format")),
            _int(sample.get("sflow.flow_sample.input_interface_value")),
        )
        rec["out_if"] = _iface(
            _int(sample.get("sflow.flow_sample.output_interface.format")),
            _int(sample.get("sflow.flow_sample.output_interface_value")),
        )
    else:
        raw_in = _int(sample.get("sflow.flow_sample.input_interface"))
        raw_out = _int(sample.get("sflow.flow_sample.output_interface"))
        rec["in_if"] = _iface(raw_in >> 30, raw_in & 0x3FFFFFFF)
        rec["out_if"] = _iface(raw_out >> 30, raw_out & 0x3FFFFFFF)
    switch_vlan = None
    for key, sub in sample:
        if not isinstance(sub, Obj):
            continue
        if key == "Raw packet header":
            rec["bytes"] = _int(sub.get("sflow_245.header.frame_length"))
            tree = sub.get("sflow_245.header_tree")
            if tree is not None:
                rec.update(_header_fields(tree))
        elif key == "Extended switch data":
            switch_vlan = _int(sub.get("sflow_245.vlan.in"))
        elif key == "Extended router data":
            rec["next_hop"] = sub.get("sflow_245.nexthop") or sub.get("sflow_245.nexthop.v6")
            rec["src_mask"] = _int(sub.get("sflow_245.nexthop.src_mask"))
            rec["dst_mask"] = _int(sub.get("sflow_245.nexthop.dst_mask"))
        elif key == "Extended gateway data":
            rec["bgp_next_hop"] = sub.get("sflow_245.nexthop") or sub.get("sflow_245.nexthop.v6")
            rec["src_as"] = _int(sub.get("sflow_245.srcAS"))
            path = [
                _int(v) for t in sub.all("sflow.as_type_tree") for v in t.all("sflow_245.dstAS")
            ]
            rec["dst_as"] = path[-1] if path else 0
    if switch_vlan:
        rec["vlan"] = switch_vlan
    return rec


GENERIC = {
    "ifindex": "if_index", "iftype": "if_type", "ifspeed": "if_speed",
    "ifdirection": "if_direction", "ifinoct": "in_octets", "ifinpkt": "in_ucast_pkts",
    "ifinmcast": "in_multicast_pkts", "ifinbcast": "in_broadcast_pkts",
    "ifindisc": "in_discards", "ifinerr": "in_errors", "ifinunk": "in_unknown_protos",
    "ifoutoct": "out_octets", "ifoutpkt": "out_ucast_pkts", "ifoutmcast": "out_multicast_pkts",
    "ifoutbcast": "out_broadcast_pkts", "ifoutdisc": "out_discards", "ifouterr": "out_errors",
    "ifpromisc": "promiscuous_mode",
}  # fmt: skip
ETHERNET = {
    "dot3StatsAlignmentErrors": "alignment_errors", "dot3StatsFCSErrors": "fcs_errors",
    "dot3StatsSingleCollisionFrames": "single_collision_frames",
    "dot3StatsMultipleCollisionFrames": "multiple_collision_frames",
    "dot3StatsSQETestErrors": "sqe_test_errors",
    "dot3StatsDeferredTransmissions": "deferred_transmissions",
    "dot3StatsLateCollisions": "late_collisions",
    "dot3StatsExcessiveCollisions": "excessive_collisions",
    "dot3StatsInternalMacTransmitErrors": "internal_mac_transmit_errors",
    "dot3StatsCarrierSenseErrors": "carrier_sense_errors",
    "dot3StatsFrameTooLongs": "frame_too_longs",
    "dot3StatsInternalMacReceiveErrors": "internal_mac_receive_errors",
    "dot3StatsSymbolErrors": "symbol_errors",
}  # fmt: skip


def _counter_record(sub: Obj) -> dict[str, Any]:
    fmt = _int(sub.get("sflow_245.counters_record_format"))
    rec: dict[str, Any] = {"enterprise": _int(sub.get("sflow.enterprise")), "format": fmt}
    if fmt == 1:
        rec["name"] = "generic"
        rec.update({ours: _int(sub.get(f"sflow_245.{theirs}")) for theirs, ours in GENERIC.items()})
        rec["if_admin_up"] = _int(sub.get("sflow_245.ifadmin_status")) == 1
        rec["if_oper_up"] = _int(sub.get("sflow_245.ifoper_status")) == 1
    elif fmt == 2:
        rec["name"] = "ethernet"
        rec.update(
            {ours: _int(sub.get(f"sflow_245.{theirs}")) for theirs, ours in ETHERNET.items()}
        )
    return rec


def _counters(sample: Obj, frame: Frame) -> dict[str, Any]:
    records = [
        _counter_record(sub)
        for _key, sub in sample
        if isinstance(sub, Obj) and sub.get("sflow_245.counters_record_format") is not None
    ]
    return {
        "exporter": frame.agent,
        "domain": frame.sub_agent,
        "sample_seq": _int(sample.get("sflow.counters_sample.sequence_number")),
        "source_id_type": _int(sample.get("sflow.counters_sample.source_id_type")),
        "source_id_index": _int(sample.get("sflow.counters_sample.source_id_index")),
        "records": records,
    }


def frames(pcap: Path) -> list[Frame]:
    """tshark's view of every frame of ``pcap``."""
    out = []
    for layers in tshark_json(pcap):
        sf = layers.get("sflow")
        if sf is None:
            out.append(Frame(sflow=False))
            continue
        frame = Frame(
            sflow=True,
            agent=sf.get("sflow_245.agent") or sf.get("sflow_245.agent.v6"),
            sub_agent=_int(sf.get("sflow_245.sub_agent_id")),
            malformed=layers.get("_ws.malformed") is not None,
        )
        for _key, sample in sf:
            if not isinstance(sample, Obj):
                continue
            kind = _int(sample.get("sflow_245.sampletype"))
            if kind in (1, 3):
                frame.flows.append(_flow(sample, frame))
            elif kind in (2, 4):
                frame.counters.append(_counters(sample, frame))
        out.append(frame)
    return out


# ----------------------------------------------------------------------------------- the tests

DATA = Path(__file__).resolve().parents[1] / "data" / "sflow"
CAPTURES = [
    "sflow-print-v6.pcap",
    "sflow_expanded.pcap",
    "sflow_multiple_counter_30_pdus.pcap",
    "ndpi-sflow.pcap",
    "lab-flows-sflow.pcap",
]
# fields compared on every flow record: tshark's value, or None where tshark shows nothing
COMPARED = (
    "exporter", "domain", "version", "packets", "bytes", "sampling_rate", "in_if", "out_if",
    "src_addr", "dst_addr", "proto", "tos", "src_port", "dst_port", "tcp_flags", "vlan",
    "next_hop", "src_mask", "dst_mask", "bgp_next_hop", "src_as", "dst_as",
)  # fmt: skip


def decode_capture(pcap: Path) -> list[DecodeResult | FlowDecodeError]:
    decoder = SflowDecoder()
    out: list[DecodeResult | FlowDecodeError] = []
    for dg in iter_datagrams(pcap):
        try:
            out.append(decoder.decode(dg.payload, dg.src, dg.ts_ms))
        except FlowDecodeError as exc:
            out.append(exc)
    return out


def tcpdump_counter_formats(out_file: Path, frame_no: int) -> list[int]:
    """Counter record formats tcpdump printed for frame ``frame_no`` (its -v text output)."""
    formats: list[int] = []
    inside = False
    for line in out_file.read_text().splitlines():
        head = re.match(r"^\s*(\d+)\s+\d{4}-\d\d-\d\d ", line)
        if head:
            inside = int(head.group(1)) == frame_no
            continue
        m = re.match(r"^\s+enterprise (\d+), .*\((\d+)\) length (\d+)", line)
        if inside and m:
            formats.append(int(m.group(2)))
    return formats


def assert_matches_tshark(pcap: Path) -> tuple[int, int]:
    """Decode ``pcap`` and compare every datagram with tshark; returns (flows, counters)."""
    expected = frames(pcap)
    got = decode_capture(pcap)
    assert len(got) == len(expected) > 0
    n_flows = n_counters = 0
    for i, (exp, res) in enumerate(zip(expected, got, strict=True), start=1):
        if not exp.sflow:
            # tshark does not take it for sFlow: the NetFlow v5 datagrams sent to 6343 of the
            # mixed stream; the sFlow decoder must refuse them by version, nothing else
            assert isinstance(res, FlowDecodeError), f"frame {i}"
            assert res.reason == "sflow_version"
            continue
        assert isinstance(res, DecodeResult), f"frame {i}: {res}"
        assert res.errors == [], f"frame {i}"
        # a sample of a non-IP packet (ARP, ...) has no addresses: no flow record, by design
        want_flows = [f for f in exp.flows if f.get("src_addr")]
        assert len(res.records) == len(want_flows), f"frame {i}"
        for j, (want, rec) in enumerate(zip(want_flows, res.records, strict=True)):
            for key in COMPARED:
                assert rec[key] == want.get(key), f"frame {i} sample {j} {key}"
            validate_record(rec)
        assert len(res.counters) == len(exp.counters), f"frame {i}"
        for want_c, sample in zip(exp.counters, res.counters, strict=True):
            assert sample["exporter"] == want_c["exporter"]
            assert sample["domain"] == want_c["domain"]
            for key in ("sample_seq", "source_id_type", "source_id_index"):
                assert sample[key] == want_c[key], f"frame {i} {key}"
            validate_counter(sample)
            if exp.malformed:
                # tshark 4.0 is wrong here: it does not skip a counter record of a format it
                # does not know (host-sFlow 2001) by its length, reads the next record from
                # inside it and flags the datagram malformed. tcpdump decodes these datagrams
                # right; its output ships with the capture: compare with that instead.
                formats = tcpdump_counter_formats(pcap.with_suffix(".out"), i)
                assert [r["format"] for r in sample["records"]] == formats, f"frame {i}"
                assert any(r.get("name") == "host_descr" for r in sample["records"])
                continue
            assert len(sample["records"]) == len(want_c["records"]), f"frame {i}"
            for want_r, rec_c in zip(want_c["records"], sample["records"], strict=True):
                for key, value in want_r.items():
                    assert rec_c[key] == value, f"frame {i} counter {key}"
        n_flows += len(res.records)
        n_counters += len(res.counters)
    return n_flows, n_counters


# total samples per capture (the capture READMEs and tshark agree on these)
SAMPLES = {
    "sflow-print-v6.pcap": (13, 48),
    "sflow_expanded.pcap": (1, 0),
    "sflow_multiple_counter_30_pdus.pcap": (0, 144),
    "ndpi-sflow.pcap": (1, 8),
    "lab-flows-sflow.pcap": (152, 0),
}


@pytest.mark.integration
@pytest.mark.parametrize("name", CAPTURES)
def test_sflow_matches_tshark(name: str) -> None:
    pcap = DATA / name
    flows, counters = assert_matches_tshark(pcap)
    tshark_flows = sum(len(f.flows) for f in frames(pcap))
    tshark_counters = sum(len(f.counters) for f in frames(pcap))
    assert (flows, counters) == (tshark_flows, tshark_counters) == SAMPLES[name]


def validate_record(rec: dict[str, Any]) -> None:
    validate("flows.v1", {"v": 1, "router": "r", "exporter": rec["exporter"], "records": [rec]})


def validate_counter(sample: dict[str, Any]) -> None:
    validate("sflow-counters.v1", {**sample, "router": "r"})
