"""sFlow v5 decoder on crafted datagrams: the cases the real captures lack, checked by tshark.

The datagrams are built here (tests/flow/sflow_build.py); what they must decode to comes from
tshark reading the same bytes (integration), plus unit checks of the conventions tshark cannot
judge (non-IP samples, lying lengths, records tshark does not decode).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.sflow import SflowDecoder, is_sflow
from tests.flow import sflow_build as b
from tests.flow.test_sflow_tshark import assert_matches_tshark, validate_counter, validate_record

TCP_SYN_ACK = 0x12


def crafted() -> list[bytes]:
    """Datagrams covering QinQ, MPLS, IPv6 extension headers, ICMP/ICMPv6, fragments, ..."""
    v4_tcp = b.ipv4("198.51.100.1", "203.0.113.9", 6, b.tcp(40000, 443, TCP_SYN_ACK), tos=0x28)
    qinq = b.ether(v4_tcp, 0x0800, tags=[(0x88A8, 100), (0x8100, 200)])
    dot1q = b.ether(b.ipv4("10.0.0.1", "10.0.0.2", 17, b.udp(53, 5353)), 0x0800, [(0x8100, 42)])
    v6_udp = b.ipv6("2001:db8::1", "2001:db8:1::2", 0, b.hop_by_hop(17, b.udp(1234, 53)), 0x20)
    icmp4 = b.ether(b.ipv4("192.0.2.7", "192.0.2.8", 1, b.icmp(8, 0)), 0x0800)
    icmp6 = b.ether(b.ipv6("2001:db8::7", "2001:db8::8", 58, b.icmp(128, 0)), 0x86DD)
    mpls = b.ether(struct.pack("!I", (1000 << 12) | 0x100 | 64) + b.ipv4(
        "100.64.0.1", "100.64.0.2", 17, b.udp(4789, 4789)), 0x8847)  # fmt: skip
    fragment = b.ether(b.ipv4("192.0.2.30", "192.0.2.31", 17, b"\x00" * 16, frag=100), 0x0800)
    arp = b.ether(bytes(28), 0x0806)
    raw_ipv4 = b.ipv4("192.0.2.50", "192.0.2.51", 6, b.tcp(22, 60000, 0x18))
    return [
        b.datagram([
            b.flow_sample([b.raw_header(qinq), b.extended_switch(0)], rate=512),
            b.flow_sample([b.raw_header(dot1q), b.extended_switch(77)], rate=1),
            b.flow_sample([b.raw_header(b.ether(v6_udp, 0x86DD)),
                           b.extended_router("2001:db8::fe", 48, 64)]),
        ]),
        b.datagram([
            b.flow_sample([b.raw_header(icmp4),
                           b.extended_gateway("192.0.2.254", 65001, 65010, [65020, 65030])]),
            b.flow_sample([b.raw_header(icmp6), b.extended_gateway("192.0.2.254", 65001, 0, [])]),
            b.expanded_flow_sample([b.raw_header(mpls)], rate=4096),
            b.flow_sample([b.raw_header(fragment)]),
            b.flow_sample([b.raw_header(arp)]),
            b.flow_sample([b.raw_header(raw_ipv4, protocol=11, frame_length=60)]),
            b.counter_sample([b.generic_counters(3)]),
        ], agent="2001:db8::a", sub_agent=3),
    ]  # fmt: skip


@pytest.mark.integration
def test_crafted_datagrams_match_tshark(tmp_path: Path) -> None:
    pcap = tmp_path / "crafted.pcap"
    b.write_pcap(pcap, crafted())
    flows, counters = assert_matches_tshark(pcap)
    assert (flows, counters) == (8, 1)  # the ARP sample gives no record


def decode(data: bytes) -> list[dict[str, object]]:
    return SflowDecoder().decode(data, "192.0.2.1", 1_700_000_000_000).records


def test_conventions() -> None:
    res = SflowDecoder().decode(crafted()[0], "192.0.2.1", 1_700_000_000_123)
    qinq, dot1q, v6 = res.records
    assert qinq["vlan"] == 100  # the outer tag
    assert dot1q["vlan"] == 77  # the switch's own VLAN wins over the tag in the header
    assert qinq["tcp_flags"] == TCP_SYN_ACK and qinq["tos"] == 0x28
    assert (v6["proto"], v6["dst_port"], v6["tos"]) == (17, 53, 0x20)
    assert (v6["next_hop"], v6["src_mask"], v6["dst_mask"]) == ("2001:db8::fe", 48, 64)
    for rec in res.records:
        assert rec["exporter"] == "192.0.2.10" and rec["domain"] == 7 and rec["version"] == 5005
        assert rec["start_ms"] == rec["end_ms"] == rec["time_received_ms"] == 1_700_000_000_123
        assert rec["direction"] == "ingress"  # data source 3 == input ifIndex 3
        validate_record(rec)
    second = SflowDecoder().decode(crafted()[1], "192.0.2.1", 0)
    icmp4, icmp6 = second.records[:2]
    # ICMP type/code are not ports (flows.v1; sfacctd shows 0/0, see test_ports_pmacct.py)
    assert (icmp4["proto"], icmp4["src_port"], icmp4["dst_port"]) == (1, None, None)
    assert (icmp6["proto"], icmp6["src_port"], icmp6["dst_port"]) == (58, None, None)
    assert (icmp4["src_as"], icmp4["dst_as"], icmp4["bgp_next_hop"]) == (
        65010,
        65030,
        "192.0.2.254",
    )
    assert icmp6["dst_as"] == 0  # empty path: destination in the router's own AS
    assert second.counters[0]["records"][0]["in_octets"] == 123456789012
    validate_counter({**second.counters[0], "router": "r"})


def test_sampled_ipv4_and_ipv6_records() -> None:
    v4 = b.tlv(3, b.u32(1500, 17) + bytes([192, 0, 2, 1, 192, 0, 2, 2]) + b.u32(53, 1053, 0, 8))
    src6 = bytes.fromhex("20010db8000000000000000000000001")
    v6 = b.tlv(4, b.u32(90, 6) + src6 + src6[:-1] + b"\x02" + b.u32(80, 8080, 0x11, 0))
    recs = decode(b.datagram([b.flow_sample([v4]), b.flow_sample([v6])]))
    assert [(r["src_addr"], r["dst_addr"], r["proto"], r["src_port"], r["dst_port"], r["bytes"])
            for r in recs] == [("192.0.2.1", "192.0.2.2", 17, 53, 1053, 1500),
                               ("2001:db8::1", "2001:db8::2", 6, 80, 8080, 90)]  # fmt: skip
    assert recs[0]["tos"] == 8 and recs[1]["tcp_flags"] == 0x11


def test_unknown_and_enterprise_records_are_skipped() -> None:
    frame = b.ether(b.ipv4("192.0.2.1", "192.0.2.2", 6, b.tcp(1, 2, 2)), 0x0800)
    odd = [b.tlv(1005, b"\x00" * 12), b.tlv(7, b"\xff" * 8, enterprise=9), b.raw_header(frame)]
    sample = b.tlv(9, b"\x00" * 8, enterprise=4300)  # an enterprise sample
    res = SflowDecoder().decode(b.datagram([sample, b.flow_sample(odd)]), "x", 0)
    assert res.errors == [] and len(res.records) == 1


def test_interfaces_unknown_discarded_multiple() -> None:
    frame = b.ether(b.ipv4("192.0.2.1", "192.0.2.2", 6, b.tcp(1, 2, 2)), 0x0800)
    recs = decode(b.datagram([
        b.flow_sample([b.raw_header(frame)], in_if=0x3FFFFFFF, out_if=(1 << 30) | 5),
        b.flow_sample([b.raw_header(frame)], in_if=9, out_if=(2 << 30) | 3),
    ]))  # fmt: skip
    assert [(r["in_if"], r["out_if"]) for r in recs] == [(None, None), (9, None)]


def test_is_sflow() -> None:
    assert is_sflow(crafted()[0]) and is_sflow(crafted()[1])
    assert not is_sflow(b"\x00\x05\x00\x01" + bytes(20)) and not is_sflow(b"\x00\x00\x00\x05")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "sflow_truncated"),
        (b.u32(4, 1), "sflow_version"),
        (b.u32(5, 3) + bytes(20), "sflow_agent_type"),
        (b.u32(5, 1) + bytes(8), "sflow_truncated"),
        (b.u32(5, 2) + bytes(20), "sflow_truncated"),
    ],
)
def test_bad_headers(data: bytes, reason: str) -> None:
    with pytest.raises(FlowDecodeError) as err:
        SflowDecoder().decode(data, "192.0.2.1", 0)
    assert err.value.reason == reason


def test_lying_lengths_and_counts() -> None:
    frame = b.ether(b.ipv4("192.0.2.1", "192.0.2.2", 6, b.tcp(1, 2, 2)), 0x0800)
    good = b.flow_sample([b.raw_header(frame)])
    # a sample count that promises more than the datagram holds: the good sample is kept
    data = b.datagram([good])
    lying = data[:24] + b.u32(1000) + data[28:]
    res = SflowDecoder().decode(lying, "x", 0)
    assert len(res.records) == 1 and res.errors == ["sflow_sample_count"]
    # absurd count: capped, reported
    res = SflowDecoder().decode(data[:24] + b.u32(0xFFFFFFFF) + data[28:], "x", 0)
    assert len(res.records) == 1 and "sflow_sample_count" in res.errors
    # second sample's length runs past the end: the first one survives
    bad = b.u32(1, 0x7FFFFFF0) + bytes(8)
    res = SflowDecoder().decode(b.datagram([good, bad]), "x", 0)
    assert len(res.records) == 1 and res.errors == ["sflow_sample_length"]
    # only a broken sample: nothing usable -> FlowDecodeError with the reason
    with pytest.raises(FlowDecodeError) as err:
        SflowDecoder().decode(b.datagram([bad]), "x", 0)
    assert err.value.reason == "sflow_sample_length"
    # a raw header whose declared header length exceeds its record
    lie = b.tlv(1, b.u32(1, 64, 4, 5000) + b.pad4(frame))
    res = SflowDecoder().decode(b.datagram([good, b.flow_sample([lie])]), "x", 0)
    assert len(res.records) == 1 and res.errors == ["sflow_header_length"]
    # record count far beyond the sample
    many = b.tlv(1, b.u32(1, 3, 1, 1, 0, 3, 4, 0xFFFFFF) + b.raw_header(frame))
    res = SflowDecoder().decode(b.datagram([good, many]), "x", 0)
    assert res.errors == ["sflow_record_count"]
    # AS path with an absurd segment length
    gw = b.tlv(1003, b.address("192.0.2.1") + b.u32(1, 2, 3, 1, 2, 0xFFFFFFF))
    res = SflowDecoder().decode(b.datagram([b.flow_sample([b.raw_header(frame), gw])]), "x", 0)
    assert res.errors == ["sflow_as_path_count"] and len(res.records) == 1


def test_truncated_headers_give_what_they_hold() -> None:
    frame = b.ether(b.ipv4("192.0.2.1", "192.0.2.2", 6, b.tcp(1, 2, 2)), 0x0800)
    recs = decode(b.datagram([b.flow_sample([b.raw_header(frame[:36])])]))  # IP header only
    assert recs[0]["src_addr"] == "192.0.2.1" and recs[0]["src_port"] is None
    assert decode(b.datagram([b.flow_sample([b.raw_header(frame[:20])])])) == []


def test_non_ip_samples_are_counted_in_the_result() -> None:
    res = SflowDecoder().decode(crafted()[1], "192.0.2.1", 1_700_000_000_000)
    assert res.skipped == 1  # the ARP sample: well-formed, no record
    assert res.exporter == "2001:db8::a"  # the agent, not the UDP source
    assert len(res.records) == 5 and res.errors == []
